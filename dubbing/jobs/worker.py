"""The worker: one process per store that takes queued jobs and runs the pipeline stage by stage.

Why a process of its own: the Streamlit server must stay responsive and restartable,
and a crash in a model must not take the pages down. Exactly one worker serves a
store: it holds an exclusive ``flock`` on ``worker.lock``, which the kernel frees
when the process dies, however it dies. A spawner takes the lock itself and hands
the locked descriptor to the child (``pass_fds``), so two quick spawns cannot both
start a worker.

Jobs run in threads of the worker (``MAX_CONCURRENT_JOBS``, default 1), so the
engines the registry loads stay in memory and are reused by every later job.

Crash safety: each stage is recorded done in the store only after the pipeline has
written its output atomically; a new worker re-queues jobs left ``running`` and
skips their finished stages. A stage started ``MAX_ATTEMPTS`` times fails the job,
so a stage that kills the worker every time (out of memory) cannot loop forever.

Entry points: ``python -m dubbing.jobs.worker`` (foreground; ``--stop`` stops the
running one) and `spawn_worker` (background, used by the client).
"""
from __future__ import annotations

import argparse
import fcntl
import importlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import CancelledError, DubbingError, ExitCode, TransientError
from ..fsutil import atomic_write_text
from . import store as st
from .store import Store, open_store

log = logging.getLogger("dubbing.worker")

MAX_ATTEMPTS = 3  # a first try and up to 2 retries of transient failures
POLL_SECONDS = 0.2  # how often an idle worker looks at the queue
CANCEL_CHECK_SECONDS = 0.5  # at most this often the store is read for a cancel request
PROGRESS_WRITE_SECONDS = 0.25  # at most this often progress is written within a stage
STOP_GRACE_SECONDS = 20.0  # how long a stopping worker waits for running stages to notice
CLEANUP_EVERY_SECONDS = 3600.0
PREVIEW_SECONDS = 30.0
EDIT_RERUNS = 3  # renders again at most this often when people keep saving during a render

# Rough share of a dub's time per stage on CPU, for one overall percentage.
STAGE_WEIGHTS = {"probe": 1, "diarize": 12, "transcribe": 30, "gender": 2, "translate": 6,
                 "voices": 1, "synthesize": 30, "mix": 12, "subtitles": 1}

STAGE_LABELS = {"probe": "Checking the video", "diarize": "Finding speakers", "transcribe": "Transcribing",
                "gender": "Telling voices apart", "translate": "Translating", "voices": "Choosing voices",
                "synthesize": "Synthesizing speech", "mix": "Mixing and rendering", "subtitles": "Writing subtitles"}


def load_pipeline() -> ModuleType:
    """The pipeline module. DUBBING_PIPELINE_MODULE swaps in another one (the runner's tests use a fake)."""
    return importlib.import_module(os.environ.get("DUBBING_PIPELINE_MODULE") or "dubbing.pipeline")


def max_concurrent_jobs() -> int:
    return max(1, int(st.env_number("MAX_CONCURRENT_JOBS", 1)))


def retry_backoff_seconds() -> float:
    return max(0.0, st.env_number("DUBBING_RETRY_BACKOFF", 2.0))


# -- the lock ---------------------------------------------------------------------------------

def try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock on `path`, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_held(path: Path) -> bool:
    """Whether a worker holds the lock (probes by taking it for an instant)."""
    fd = try_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False


_spawned: list[subprocess.Popen] = []


def spawn_worker(root: Path, *, idle_exit: float | None = None) -> int | None:
    """Start a background worker for the store in `root` unless one holds the lock; its pid or None."""
    for proc in list(_spawned):  # reap workers that have exited, so they leave no zombies
        if proc.poll() is not None:
            _spawned.remove(proc)
    root = Path(root).resolve()
    fd = try_lock(root / "worker.lock")
    if fd is None:
        return None
    if idle_exit is None:
        idle_exit = st.env_number("WORKER_IDLE_EXIT_SECONDS", 1800.0)
    repo_root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["DUBBING_DATA_DIR"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join([str(repo_root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    try:
        _rotate_log(root / "worker.log")
        with open(root / "worker.log", "ab") as logfile:
            # Its own session: the worker outlives the Streamlit server and gets none of its signals.
            proc = subprocess.Popen(
                [sys.executable, "-m", "dubbing.jobs.worker", "--data-dir", str(root),
                 "--lock-fd", str(fd), "--idle-exit", str(idle_exit)],
                pass_fds=(fd,), start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=logfile, stderr=subprocess.STDOUT, cwd=str(repo_root), env=env)
    finally:
        os.close(fd)  # the child's copy keeps the lock
    _spawned.append(proc)
    # Written here as well as by the worker, so `stop` never reads the pid of a worker that died before it.
    atomic_write_text(root / "worker.pid", str(proc.pid))
    return proc.pid


def stop_worker(root: Path, *, timeout: float = 30.0) -> bool:
    """Ask the worker of `root` to stop (SIGTERM), then kill it after `timeout`; False when none ran."""
    root = Path(root).resolve()
    lock = root / "worker.lock"
    if not lock_held(lock):
        return False
    signalled: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _worker_pid(root)  # read again: a worker may have been starting when we looked
        if pid not in signalled:
            _signal(pid, signal.SIGTERM)
            signalled.add(pid)
        if not lock_held(lock):
            return True
        time.sleep(0.1)
    for pid in signalled | {_worker_pid(root)}:
        _signal(pid, signal.SIGKILL)
    while lock_held(lock) and time.monotonic() < deadline + 10:
        time.sleep(0.1)
    return True


def _worker_pid(root: Path) -> int:
    try:
        return int((root / "worker.pid").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        info = open_store(root).worker_info() or {}
        return int(info.get("pid") or 0)


def _signal(pid: int, sig: int) -> None:
    if pid > 0:  # os.kill(0, ...) would signal our own process group
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _rotate_log(path: Path, max_bytes: int = 5 << 20) -> None:
    try:
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_suffix(".log.1"))
    except FileNotFoundError:
        pass


# -- the worker loop ----------------------------------------------------------------------------

class Worker:
    def __init__(self, store: Store, lock_fd: int, *, max_jobs: int, idle_exit: float = 0.0):
        self.store = store
        self.lock_fd = lock_fd
        self.max_jobs = max_jobs
        self.idle_exit = idle_exit
        self.pid = os.getpid()
        self.stop_event = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self._pipeline: ModuleType | None = None
        self._pipeline_lock = threading.Lock()

    @property
    def pipeline(self) -> ModuleType:
        with self._pipeline_lock:
            if self._pipeline is None:
                self._pipeline = load_pipeline()
            return self._pipeline

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
        log.info("worker %d serving %s (up to %d job(s) at once)", self.pid, self.store.root, self.max_jobs)
        last_beat = last_cleanup = 0.0
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                now = time.monotonic()
                self._reap()
                while len(self.threads) < self.max_jobs and not self.stopping:
                    record = self.store.claim_next(self.pid)
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
            JobRun(self, record).run()
        except BaseException as exc:  # a bug in the runner itself: fail the job, keep the worker
            log.error("job %s: %s", job_id, traceback.format_exc())
            self.store.update(job_id, lambda r: _mark_failed(r, r.get("stage") or "", exc))
        finally:
            if self.store.get(job_id) is None:  # deleted while running: drop what the stage wrote since
                shutil.rmtree(self.store.job_dir(job_id), ignore_errors=True)

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
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in list(self.threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        for job_id, thread in self.threads.items():
            if thread.is_alive():  # a stage that never checks for cancel: the next worker resumes it
                self.store.update(job_id, lambda r: _requeue(r, "Resuming: the worker stopped"))
        info = self.store.worker_info()
        if info and info.get("pid") == self.pid:
            self.store.set_worker(None)
        try:
            if (self.store.root / "worker.pid").read_text().strip() == str(self.pid):
                (self.store.root / "worker.pid").unlink()
        except FileNotFoundError:
            pass
        log.info("worker %d stopped", self.pid)


def cleanup_finished(store: Store, days: float) -> int:
    """Delete finished jobs (record and files) that finished more than `days` ago."""
    cutoff = time.time() - days * 86400
    removed = 0
    for record in store.all():
        if record["status"] in st.FINISHED and (record.get("finished") or record["updated"]) < cutoff:
            removed += store.delete(record["id"])
    return removed


# -- one job --------------------------------------------------------------------------------------

class JobRun:
    """Runs one queued action of one job: the pipeline's stages with retries, progress and cancel."""

    def __init__(self, worker: Worker, record: dict):
        self.worker = worker
        self.store = worker.store
        self.pipeline = worker.pipeline
        self.job_id = record["id"]
        self.job_dir = Path(record["job_dir"])
        self.action = dict(record["action"])
        self.settings = record["settings"]
        self.percent = float(record.get("percent") or 0.0) if self.action.get("started") else 0.0
        self._cancelled = False
        self._last_cancel_check = 0.0
        self._last_write = 0.0
        self._results: list[Any] = []  # StageResults of this action, for report.json
        self._reruns = 0  # renders again because a person saved during this action

    # -- the action
    def run(self) -> None:
        kind = self.action["kind"]
        if kind == st.RETRANSLATE:
            self._retranslate()
            return
        stages = list(self.pipeline.STAGES) if kind == st.RUN else list(self.pipeline.RENDER_STAGES)
        if not self.action.get("started"):
            self.store.update(self.job_id, lambda r: self._begin(r, stages))
        for stage in stages:
            record = self.store.get(self.job_id)
            if record is None:
                return
            entry = _entry(record, stage)
            if entry["status"] == st.DONE:
                self._results.append(self._earlier_result(entry))
            else:
                if self.should_cancel(force=True):
                    self._stop_or_cancel(stage, started=False)
                    return
                if not self._run_stage(stage):
                    return
            # Checked for a finished stage too: a worker may have died between the stage and the pause.
            if (kind == st.RUN and stage == self.pipeline.REVIEW_AFTER and self.settings.get("review")
                    and not record.get("approved")):
                self._finish(st.AWAITING_REVIEW, "Waiting for review: check the translation, then approve")
                return
        if self._reruns < EDIT_RERUNS and self._rerun_for_edits(stages):
            self._reruns += 1
            self.run()
            return
        then = self.action.get("then") or st.COMPLETED
        done = "Preview ready" if kind == st.PREVIEW else "Done"
        if then == st.AWAITING_REVIEW:
            done += ": still waiting for review"
        if then == st.COMPLETED and not self.settings.get("keep_intermediate", True):
            cleaner = getattr(self.pipeline, "clean_intermediate", None)
            if cleaner is not None:
                cleaner(self.job_dir)
        self._finish(then, done)

    def _begin(self, record: dict, stages: list[str]) -> None:
        for entry in record["stages"]:
            if entry["name"] in stages:
                entry.update(st.stage_entry(entry["name"]))
        record["action"]["started"] = True
        record.pop("edited_during_run", None)
        record["error"] = record["error_code"] = None
        record["percent"] = self.percent = self._overall(record, "", 0.0)

    def _rerun_for_edits(self, stages: list[str]) -> bool:
        """A person saved the document during this action (client.save_document flags it): run the
        stages again, which re-make only the lines they changed; their edit is in the output."""
        flagged = []

        def change(record: dict) -> bool | None:
            if not record.get("edited_during_run"):
                return False
            flagged.append(True)
            self._begin(record, stages)
            record["message"] = "Edited during the render: rendering the changed lines"
            return None
        self.store.update(self.job_id, change)
        if flagged:
            log.info("job %s: the document was saved during the render; rendering again", self.job_id)
            self._results = []
            self.action["started"] = True
        return bool(flagged)

    def _run_stage(self, stage: str) -> bool:
        preview = getattr(self.pipeline, "PREVIEW_SECONDS", PREVIEW_SECONDS) if self.action["kind"] == st.PREVIEW else None
        while True:
            record = self.store.update(self.job_id, lambda r: self._start_attempt(r, stage))
            if record is None:
                return False
            attempts = _entry(record, stage)["attempts"]
            if attempts > MAX_ATTEMPTS:
                self._fail(stage, TransientError(
                    f"the {stage} stage was interrupted {MAX_ATTEMPTS} times (the worker died each time: "
                    "out of memory?); try a shorter video or lighter models"))
                return False
            started = time.monotonic()
            try:
                result = self.pipeline.run_stage(self.job_dir, stage, progress=self.progress,
                                                 should_cancel=self.should_cancel, preview_seconds=preview)
            except CancelledError:
                self._stop_or_cancel(stage, started=True)
                return False
            except Exception as exc:  # noqa: BLE001 - every failure ends up in the job record
                if _transient(exc) and attempts < MAX_ATTEMPTS:
                    delay = retry_backoff_seconds() * 2 ** (attempts - 1)
                    log.warning("job %s: %s failed (attempt %d), retrying in %.0f s: %s",
                                self.job_id, stage, attempts, delay, _describe(exc))
                    self._write(lambda r: r.update(message=f"{_label(stage)} failed ({_describe(exc)}); "
                                                           f"retrying in {delay:.0f} s"))
                    if self._wait(delay):
                        self._stop_or_cancel(stage, started=True)
                        return False
                    continue
                if not isinstance(exc, DubbingError):
                    log.error("job %s: %s failed: %s", self.job_id, stage, traceback.format_exc())
                self._fail(stage, exc)
                return False
            seconds = float(getattr(result, "seconds", 0.0) or (time.monotonic() - started))
            self._results.append(result)
            self.store.update(self.job_id, lambda r: self._stage_done(r, stage, result, seconds))
            return True

    def _start_attempt(self, record: dict, stage: str) -> None:
        entry = _entry(record, stage)
        entry["attempts"] += 1
        entry["status"] = st.RUNNING
        record["status"] = st.RUNNING
        record["stage"] = stage
        record["message"] = _label(stage) + (f" (attempt {entry['attempts']})" if entry["attempts"] > 1 else "")
        record["worker_pid"] = self.worker.pid
        record["percent"] = self.percent = max(self.percent, self._overall(record, stage, 0.0))

    def _stage_done(self, record: dict, stage: str, result: Any, seconds: float) -> None:
        entry = _entry(record, stage)
        entry["status"] = st.DONE
        entry["seconds"] = round(seconds, 3)
        entry["peak_rss_mb"] = round(float(getattr(result, "peak_rss_mb", 0.0) or 0.0), 1)
        entry["skipped"] = bool(getattr(result, "skipped", False))
        record["percent"] = self.percent = max(self.percent, self._overall(record, "", 0.0))
        record["message"] = f"{_label(stage)}: done"
        record["outputs"] = self._outputs()

    def _retranslate(self) -> None:
        ids = [int(i) for i in self.action.get("args", {}).get("ids", [])]
        then = self.action.get("then") or st.COMPLETED
        self._write(lambda r: r.update(stage="translate", message=f"Re-translating {len(ids)} line(s)"))
        try:
            self.pipeline.retranslate(self.job_dir, ids)
        except Exception as exc:  # noqa: BLE001 - the job stays usable; the error is shown
            if not isinstance(exc, DubbingError):
                log.error("job %s: retranslate failed: %s", self.job_id, traceback.format_exc())
            self.store.update(self.job_id, lambda r: r.update(
                status=then, error=_describe(exc), error_code=int(getattr(exc, "code", ExitCode.INTERNAL)),
                message=f"Re-translation failed: {_describe(exc)}"))
            return
        self._finish(then, f"Re-translated {len(ids)} line(s)")

    # -- endings
    def _finish(self, status: str, message: str) -> None:
        self._write_report()  # before the status: whoever sees `completed` finds every file

        def change(record: dict) -> None:
            record["status"] = status
            record["message"] = message
            record["stage"] = ""
            record["outputs"] = self._outputs()
            record["cancel_requested"] = False
            if status == st.COMPLETED:
                record["percent"] = self.percent = 100.0
        self.store.update(self.job_id, change)

    def _fail(self, stage: str, exc: BaseException) -> None:
        self.store.update(self.job_id, lambda r: _mark_failed(r, stage, exc))

    def _stop_or_cancel(self, stage: str, *, started: bool) -> None:
        if self.worker.stopping and not self._cancel_requested_now():
            def requeue(record: dict) -> None:
                entry = _entry(record, stage)
                if started:  # a stop is no failure: it must not use up an attempt
                    entry["attempts"] = max(0, entry["attempts"] - 1)
                _requeue(record, "Resuming: the worker stopped")
            self.store.update(self.job_id, requeue)
            return

        def cancel(record: dict) -> None:
            entry = _entry(record, stage)
            if entry["status"] == st.RUNNING:
                entry["status"] = st.CANCELLED
            record["status"] = st.CANCELLED
            record["message"] = f"Cancelled during {_label(stage).lower()}"
            record["cancel_requested"] = False
        self.store.update(self.job_id, cancel)

    # -- callbacks the pipeline calls
    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last_write < PROGRESS_WRITE_SECONDS:
            return
        self._last_write = now
        try:
            fraction = min(1.0, max(0.0, float(fraction)))
        except (TypeError, ValueError):
            fraction = 0.0

        def change(record: dict) -> None:
            if record["status"] != st.RUNNING:
                return False
            record["stage"] = stage or record["stage"]
            record["percent"] = self.percent = max(self.percent, self._overall(record, stage, fraction))
            if message:
                record["message"] = message
        self.store.update(self.job_id, change)

    def should_cancel(self, force: bool = False) -> bool:
        if self.worker.stopping:
            return True
        now = time.monotonic()
        if force or now - self._last_cancel_check >= CANCEL_CHECK_SECONDS:
            self._last_cancel_check = now
            self._cancelled = self._cancel_requested_now()
        return self._cancelled

    def _cancel_requested_now(self) -> bool:
        return self.store.cancel_requested(self.job_id) or self.store.get(self.job_id) is None

    # -- helpers
    def _wait(self, seconds: float) -> bool:
        """Sleep, waking early on cancel or stop; True when woken that way."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.should_cancel(force=True):
                return True
            self.worker.stop_event.wait(min(CANCEL_CHECK_SECONDS, max(0.0, deadline - time.monotonic())))
        return self.should_cancel(force=True)

    def _write(self, change) -> None:
        self.store.update(self.job_id, change)

    def _overall(self, record: dict, stage: str, fraction: float) -> float:
        """Percent of the whole dub: finished stages, plus the running one's share."""
        weights = {e["name"]: STAGE_WEIGHTS.get(e["name"], 1) for e in record["stages"]}
        total = sum(weights.values()) or 1
        done = sum(weights[e["name"]] for e in record["stages"] if e["status"] == st.DONE and e["name"] != stage)
        return round(100.0 * (done + weights.get(stage, 0) * fraction) / total, 1)

    def _outputs(self) -> dict[str, str]:
        try:
            return {name: str(path) for name, path in self.pipeline.outputs(self.job_dir).items()}
        except Exception:  # noqa: BLE001 - outputs are a convenience; the job folder has them anyway
            return {}

    def _earlier_result(self, entry: dict) -> Any:
        """A stage finished before this worker took the job (or before a crash), as a StageResult."""
        cls = getattr(self.pipeline, "StageResult", None)
        if cls is None:
            return None
        return cls(entry["name"], float(entry.get("seconds") or 0.0), float(entry.get("peak_rss_mb") or 0.0),
                   bool(entry.get("skipped", False)))

    def _write_report(self) -> None:
        writer = getattr(self.pipeline, "write_report", None)
        results = [r for r in self._results if r is not None]
        if writer is None or not results:
            return
        try:
            writer(self.job_dir, results)
        except Exception:  # noqa: BLE001
            log.warning("job %s: report not written: %s", self.job_id, traceback.format_exc())


def _entry(record: dict, stage: str) -> dict:
    for entry in record["stages"]:
        if entry["name"] == stage:
            return entry
    entry = st.stage_entry(stage)
    record["stages"].append(entry)
    return entry


def _label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.capitalize())


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, DubbingError) and not exc.permanent


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DubbingError):
        return exc.message
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error: {type(exc).__name__}: {exc} (details in worker.log)"


def _mark_failed(record: dict, stage: str, exc: BaseException) -> None:
    if stage:
        entry = _entry(record, stage)
        entry["status"] = st.FAILED
    record["status"] = st.FAILED
    record["error"] = _describe(exc)
    record["error_code"] = int(getattr(exc, "code", ExitCode.INTERNAL))
    record["message"] = f"Failed during {_label(stage).lower()}: {record['error']}" if stage else record["error"]
    record["cancel_requested"] = False


def _requeue(record: dict, message: str) -> None:
    if record["status"] == st.RUNNING:
        record["status"] = st.QUEUED
        record["message"] = message
        record["worker_pid"] = None
        for entry in record["stages"]:
            if entry["status"] == st.RUNNING:
                entry["status"] = st.PENDING


# -- command line -------------------------------------------------------------------------------

def serve(root: Path | None = None, *, lock_fd: int | None = None, max_jobs: int | None = None,
          idle_exit: float = 0.0) -> int:
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
    worker = Worker(store, lock_fd, max_jobs=max_jobs or max_concurrent_jobs(), idle_exit=idle_exit)
    code = worker.serve()
    if any(t.is_alive() for t in worker.threads.values()):
        # A stage still inside native code: its job is re-queued; do not wait for it at exit.
        logging.shutdown()
        os._exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
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
    return serve(root, lock_fd=args.lock_fd, max_jobs=args.max_jobs, idle_exit=args.idle_exit)


if __name__ == "__main__":
    sys.exit(main())
