"""The worker: one process per store that takes queued jobs and runs them.

Why a process of its own: the Streamlit server must stay responsive and restartable,
and a crash in a model must not take the pages down. One worker per store (see
lock.py); jobs run in threads of the worker (``MAX_CONCURRENT_JOBS``, default 1), one
action of one job each (see run.py).

Entry points: ``python -m dubbing.jobs.worker`` (foreground; ``--stop`` stops the
running one) and `spawn_worker` (background, used by the client).
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType

from .. import pipeline as dubbing_pipeline
from .. import procs
from ..errors import CancelledError, ExitCode
from ..fsutil import atomic_write_text
from ..joblog import job_log
from ..pipeline import STAGE_LABELS  # noqa: F401 - re-exported for the pages
from . import store as st
from .lock import lock_held, spawn_worker, stop_worker, try_lock  # noqa: F401 - the client's API
from .host import HostDied, StageHost
from .run import JobRun, mark_failed, requeue
from .store import Store, open_store

log = logging.getLogger("dubbing.worker")

POLL_SECONDS = 0.2  # how often an idle worker looks at the queue
STOP_GRACE_SECONDS = 20.0  # how long a stopping worker waits for running stages to notice
CLEANUP_EVERY_SECONDS = 3600.0


def max_concurrent_jobs() -> int:
    return max(1, int(st.env_number("MAX_CONCURRENT_JOBS", 1)))


class Worker:
    def __init__(self, store: Store, lock_fd: int, *, max_jobs: int, idle_exit: float = 0.0,
                 pipeline: ModuleType = dubbing_pipeline):
        self.store = store
        # The stages to run: the real pipeline, or the runner tests' fake (tests/fake_runner.py passes it).
        self.pipeline = pipeline
        self.lock_fd = lock_fd
        self.max_jobs = max_jobs
        if max_jobs > 1:
            # Each job's stages run in a host process of its own, and the OpenMP threads of
            # CTranslate2 (Whisper) spin while they wait for work, libgomp's default: two fresh
            # conversations transcribed at once on 2 cores took 25-28 s each, 3.5-4.7 s alone, and
            # 5-7 s each when the threads wait passively (which costs a lone job 10-15%, hence
            # only here). The hosts are spawned after this and inherit it; a value set is kept.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.idle_exit = idle_exit
        self.pid = os.getpid()
        self.stop_event = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        # Stage hosts (host.py): one per running job, kept between jobs so their engines stay loaded.
        self._hosts_lock = threading.Lock()
        self._idle_hosts: list[StageHost] = []
        self._busy_hosts: dict[str, StageHost] = {}

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def serve(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        atomic_write_text(self.store.root / "worker.pid", str(self.pid))
        self._heartbeat()
        requeued = self.store.requeue_running("Resuming: the previous worker stopped")
        if requeued:
            log.info("re-queued %d job(s) left running: %s", len(requeued), ", ".join(requeued))
        swept = procs.sweep_temp_files(self.store.jobs_dir)
        if swept:
            log.info("removed %d temp file(s) that dead processes left", swept)
        procs.sweep_private_tmp()  # those of stage hosts that ended with a killed worker
        log.info("worker %d serving %s (up to %d job(s) at once)", self.pid, self.store.root, self.max_jobs)
        last_beat = last_cleanup = 0.0
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                now = time.monotonic()
                self._reap()
                while len(self.threads) < self.max_jobs and not self.stopping:
                    record = self.store.claim_next(self.pid, busy=self.threads.keys())
                    if record is None:
                        break
                    self._start(record)
                if self.threads:
                    idle_since = now
                if now - last_beat >= st.HEARTBEAT_SECONDS:
                    self._heartbeat()
                    last_beat = now
                if now - last_cleanup >= CLEANUP_EVERY_SECONDS and not self.threads:
                    self._cleanup()
                    last_cleanup = now
                if self.idle_exit and now - idle_since >= self.idle_exit and self._release_if_idle():
                    log.info("idle for %.0f s: exiting", self.idle_exit)
                    break
                self.stop_event.wait(POLL_SECONDS)
        finally:
            self._shutdown()
        return 0

    def _start(self, record: dict) -> None:
        thread = threading.Thread(target=self._run_job, args=(record,), name=f"job-{record['id']}", daemon=True)
        self.threads[record["id"]] = thread
        thread.start()

    def _reap(self) -> None:
        for job_id, thread in list(self.threads.items()):
            if not thread.is_alive():
                del self.threads[job_id]

    def _run_job(self, record: dict) -> None:
        job_id = record["id"]
        try:
            with job_log(Path(record["job_dir"])):
                JobRun(self, record).run()
        except BaseException as exc:  # a bug in the runner itself: fail the job, keep the worker
            log.error("job %s: %s", job_id, traceback.format_exc())
            self.store.update(job_id, lambda r: mark_failed(r, r.get("stage") or "", exc))
        finally:
            self._release_host(job_id)
            if self.store.get(job_id) is None:  # deleted while running: drop what the stage wrote since
                shutil.rmtree(self.store.job_dir(job_id), ignore_errors=True)

    # -- stage hosts
    def in_host(self, job: JobRun, name: str, *args, **kwargs):
        """Run pipeline.`name`(*args, **kwargs) in the job's stage host; HostDied when the host died doing it."""
        with self._hosts_lock:
            host = self._busy_hosts.get(job.job_id)
            if host is None or not host.alive():
                host = next((h for h in self._idle_hosts if h.alive()), None)
                if host is not None:
                    self._idle_hosts.remove(host)
                else:
                    host = StageHost(self.store.root, self.pipeline.__name__)
                self._busy_hosts[job.job_id] = host
        if self.stopping:
            raise CancelledError("the worker is stopping")
        try:
            return host.call(name, *args, cancelled=lambda: job.should_cancel(), **kwargs)
        except CancelledError:
            if not host.alive():  # killed for not stopping in time: the next stage gets a fresh one
                with self._hosts_lock:
                    self._busy_hosts.pop(job.job_id, None)
                procs.sweep_temp_files(job.job_dir)
                procs.sweep_private_tmp()
            raise
        except HostDied:
            with self._hosts_lock:
                self._busy_hosts.pop(job.job_id, None)
            host.close(timeout=1)
            procs.sweep_temp_files(job.job_dir)
            raise

    def _release_host(self, job_id: str) -> None:
        with self._hosts_lock:
            host = self._busy_hosts.pop(job_id, None)
            if host is None:
                return
            if host.alive() and not self.stopping:
                self._idle_hosts.append(host)
                return
        host.close(timeout=1)

    def _heartbeat(self) -> None:
        self.store.set_worker({"pid": self.pid, "heartbeat": time.time(), "jobs": sorted(self.threads)})

    def _cleanup(self) -> None:
        days = st.env_number("CLEANUP_AFTER_DAYS", 7.0)
        try:
            removed = cleanup_finished(self.store, days) if days > 0 else 0
            removed += self.store.remove_orphan_folders()
            if removed:
                log.info("cleanup removed %d job(s)/folder(s)", removed)
        except Exception:
            log.warning("cleanup failed: %s", traceback.format_exc())

    def _release_if_idle(self) -> bool:
        """Give the lock up, then take it back if a job arrived meanwhile (its spawner saw us and left)."""
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
        if not self.store.queue():
            return True
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # a new worker took over
        return False

    def _shutdown(self) -> None:
        self.stop_event.set()
        with self._hosts_lock:
            for host in self._busy_hosts.values():
                host.interrupt()  # the running stage raises CancelledError at its next check
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in list(self.threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        for job_id, thread in self.threads.items():
            if thread.is_alive():  # a stage that never checks for cancel: the next worker resumes it
                self.store.update(job_id, lambda r: requeue(r, "Resuming: the worker stopped"))
        info = self.store.worker_info()
        if info and info.get("pid") == self.pid:
            self.store.set_worker(None)
        try:
            if (self.store.root / "worker.pid").read_text().strip() == str(self.pid):
                (self.store.root / "worker.pid").unlink()
        except FileNotFoundError:
            pass
        with self._hosts_lock:
            hosts = self._idle_hosts + list(self._busy_hosts.values())
            self._idle_hosts, self._busy_hosts = [], {}
        for host in hosts:
            host.close(timeout=2)
        log.info("worker %d stopped", self.pid)


def cleanup_finished(store: Store, days: float) -> int:
    """Delete finished jobs (record and files) that finished more than `days` ago."""
    cutoff = time.time() - days * 86400
    removed = 0
    for record in store.all():
        if record["status"] in st.FINISHED and (record.get("finished") or record["updated"]) < cutoff:
            removed += store.delete(record["id"])
    return removed


# -- command line -------------------------------------------------------------------------------

def serve(root: Path | None = None, *, lock_fd: int | None = None, max_jobs: int | None = None,
          idle_exit: float = 0.0, pipeline: ModuleType = dubbing_pipeline) -> int:
    """Run the worker in this process until stopped; exit code."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s")
    store = open_store(root)
    if lock_fd is None:
        lock_fd = try_lock(store.lock_path)
        if lock_fd is None:
            info = store.worker_info() or {}
            print(f"A worker is already running for {store.root} (pid {info.get('pid', '?')}); "
                  "stop it with `python -m dubbing worker --stop`.", file=sys.stderr)
            return int(ExitCode.USAGE)
    else:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the spawner's lock, inherited: ours already
    worker = Worker(store, lock_fd, max_jobs=max_jobs or max_concurrent_jobs(), idle_exit=idle_exit,
                    pipeline=pipeline)
    code = worker.serve()
    if any(t.is_alive() for t in worker.threads.values()):
        # A stage still inside native code: its job is re-queued; do not wait for it at exit.
        logging.shutdown()
        os._exit(code)
    return code


def main(argv: list[str] | None = None, *, pipeline: ModuleType = dubbing_pipeline) -> int:
    parser = argparse.ArgumentParser(prog="python -m dubbing.jobs.worker",
                                     description="Run the background dubbing worker in the foreground.")
    parser.add_argument("--data-dir", help="data folder (default: $DUBBING_DATA_DIR or ./data)")
    parser.add_argument("--stop", action="store_true", help="stop the running worker and exit")
    parser.add_argument("--max-jobs", type=int, help="jobs at once (default: $MAX_CONCURRENT_JOBS or 1)")
    parser.add_argument("--idle-exit", type=float, default=0.0, help="exit after this many idle seconds (0: never)")
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = Path(args.data_dir).resolve() if args.data_dir else st.data_dir()
    if args.stop:
        print("worker stopped" if stop_worker(root) else "no worker was running")
        return 0
    return serve(root, lock_fd=args.lock_fd, max_jobs=args.max_jobs, idle_exit=args.idle_exit, pipeline=pipeline)


if __name__ == "__main__":
    sys.exit(main())
