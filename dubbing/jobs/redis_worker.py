"""Workers for the Redis backend, on any machine that mounts the shared data folder:

    python -m dubbing worker --queue redis://host:6379/0 [--queues gpu,cpu]

Each is an RQ `SimpleWorker`: it runs tickets (see `dubbing.jobs.redis_store`) in its own
process, one at a time, so the engines it loads stay in memory for the next job, and a SIGKILL
ends exactly one worker and its one job. A ticket claims its record (queued -> running), runs
the job's stages that need this ticket's capability with the same `JobRun` as the local worker
(retries with backoff, progress, cancel, the review pause), and hands the job over to the other
queue at the first stage that needs another capability.

A monitor thread per worker keeps its heartbeat, and from every worker re-queues the job of a
worker whose heartbeat ran out (resumed by any worker from its last finished stage: RQ itself
would only mark that ticket failed once its own, much longer, TTL runs out), re-issues a ticket
that went missing, runs the hourly cleanup (one worker per hour) and honours `worker --stop`.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from types import ModuleType

from redis.exceptions import ConnectionError as RedisConnectionError
from rq.timeouts import BaseDeathPenalty
from rq.worker import SimpleWorker, WorkerStatus

from .. import pipeline as dubbing_pipeline
from ..errors import DubbingError, ExitCode, NotFoundError
from . import store as st
from .redis_store import CAPABILITIES, CPU, RedisStore, capability_of, heartbeat_ttl, open_redis_store
from .states import WORKER, move
from .store import CANCELLED, QUEUED, RUNNING
from .run import JobRun, mark_failed, requeue
from .worker import CLEANUP_EVERY_SECONDS, Worker, cleanup_finished

log = logging.getLogger("dubbing.worker")

MISSING_TICKET_GRACE_SECONDS = 5.0  # a queued record whose ticket vanished this long ago gets a new one
RQ_HEARTBEAT_SECONDS = 30.0


class SharedFolderError(NotFoundError):
    """This worker's machine does not see the job's folder: the data folder is not shared with it."""


class Context(Worker):
    """What a `JobRun` needs of its worker (store, pipeline, pid, stop event and whatever else the local
    worker gives its runs), for the one RQ worker of this process. Its own loop is RQ's, not `Worker.serve`."""

    def __init__(self, store: RedisStore, capabilities: list[str], pipeline: ModuleType = dubbing_pipeline):
        super().__init__(store, -1, max_jobs=1, pipeline=pipeline)
        self.capabilities = capabilities
        self.name = f"{socket.gethostname()}-{self.pid}-{uuid.uuid4().hex[:6]}"
        self.current_job: str | None = None
        self.started = time.time()

    def info(self) -> dict:
        return {"name": self.name, "host": socket.gethostname(), "pid": self.pid, "queues": self.capabilities,
                "data_dir": str(self.store.root), "job": self.current_job, "started": self.started}

    def release(self, job_id: str) -> None:
        """Hand back the job's stage host, kept for the next job so its engines stay loaded."""
        self._release_host(job_id)


_context: Context | None = None  # the worker serving in this process


# -- one ticket ------------------------------------------------------------------------------------

def run_unit(job_id: str, unit: str, capability: str) -> str:
    """The RQ task: run the job's next stages that need `capability`, if the record still waits for this ticket."""
    ctx = _context
    if ctx is None:
        raise RuntimeError("dubbing tickets run only in `python -m dubbing worker --queue URL`, not a plain rq worker")
    store = ctx.store
    record = store.update(job_id, lambda r: _claim(r, unit, ctx.name, ctx.pid))
    if record is None or record["status"] != RUNNING or record.get("unit") != unit or record.get("worker") != ctx.name:
        return "stale ticket"  # cancelled, deleted or re-issued since it was queued
    ctx.current_job = job_id
    try:
        job_dir = Path(record["job_dir"])
        if not (job_dir / "work").is_dir():
            raise SharedFolderError(
                f"worker {ctx.name} cannot see the job folder {job_dir}: mount the shared data folder at "
                f"{store.root} on that machine (DUBBING_DATA_DIR), or stop that worker; then retry the job")
        UnitRun(ctx, record, capability).run()
    except Exception as exc:  # noqa: BLE001 - a bug in the runner itself: fail the job, keep the worker
        if not isinstance(exc, DubbingError):
            log.error("job %s: %s", job_id, traceback.format_exc())
        store.update(job_id, lambda r: _fail_own(r, ctx.name, exc))
    except BaseException:  # a forced stop in the middle of a stage: another worker resumes it
        store.update(job_id, lambda r: _requeue_from(r, ctx.name, "Resuming: the worker was stopped"))
        raise
    finally:
        ctx.current_job = None
        ctx.release(job_id)
        if store.get(job_id) is None:  # deleted while running: drop what the stage wrote since
            shutil.rmtree(store.job_dir(job_id), ignore_errors=True)
    return "ran"


class UnitRun(JobRun):
    """A `JobRun` that runs only the stages routed to its ticket's capability."""

    def __init__(self, ctx: Context, record: dict, capability: str):
        super().__init__(ctx, record)
        self.capability = capability

    def _run_stage(self, stage: str) -> bool:
        target = capability_of(self.store.get(self.job_id) or {}, stage)
        if target != self.capability:
            self.store.update(self.job_id, lambda r: _hand_over(r, stage, target, self.worker.name))
            return False
        return super()._run_stage(stage)

    def _start_attempt(self, record: dict, stage: str) -> None:
        super()._start_attempt(record, stage)
        record["worker"] = self.worker.name
        for entry in record["stages"]:
            if entry["name"] == stage:
                entry["worker"] = self.worker.name  # where each stage ran, for people and tests

    def _cancel_requested_now(self) -> bool:
        # A worker that lost the job (its heartbeat stalled and another resumed it) stops too.
        return super()._cancel_requested_now() or not self._still_ours()

    def _stop_or_cancel(self, stage: str, *, started: bool) -> None:
        if self._still_ours():
            super()._stop_or_cancel(stage, started=started)

    def _still_ours(self) -> bool:
        record = self.store.get(self.job_id)
        return record is not None and record.get("worker") == self.worker.name


def _claim(record: dict, unit: str, name: str, pid: int):
    if record["status"] != QUEUED or record.get("unit") != unit:
        return False
    move(record, RUNNING, WORKER, worker=name, worker_pid=pid, message="Starting")


def _hand_over(record: dict, stage: str, capability: str, name: str):
    if record["status"] != RUNNING or record.get("worker") != name:
        return False
    if record.get("cancel_requested"):
        move(record, CANCELLED, WORKER, message="Cancelled", cancel_requested=False, stage="")
        return
    move(record, QUEUED, WORKER, stage="", worker=None, worker_pid=None,
         message=f"Waiting for a {capability} worker ({stage} next)")


def _requeue_from(record: dict, name: str, message: str):
    if record["status"] != RUNNING or record.get("worker") != name:
        return False
    requeue(record, message)
    record["worker"] = None


def _fail_own(record: dict, name: str, exc: BaseException):
    if record.get("worker") != name:
        return False
    mark_failed(record, record.get("stage") or "", exc)


def _reissue(record: dict, unit: str):
    if record["status"] != QUEUED or record.get("unit") != unit:
        return False
    record["unit"] = None  # the store issues a new ticket for a queued record without one


# -- the worker process ---------------------------------------------------------------------------------

class NoTimeout(BaseDeathPenalty):
    """Stages have no wall-clock limit (a long video takes long); cancel and stop are cooperative."""

    def setup_death_penalty(self):
        pass

    def cancel_death_penalty(self):
        pass


class QueueWorker(SimpleWorker):
    death_penalty_class = NoTimeout

    def __init__(self, ctx: Context):
        super().__init__([ctx.store.queue(c) for c in ctx.capabilities], name=ctx.name,
                         connection=ctx.store.redis)
        self.ctx = ctx
        self.executing = None  # (rq job, execution) while a ticket runs, for the monitor's heartbeats

    def request_stop(self, signum, frame):
        self.ctx.stop_event.set()  # the running stage stops at its next check and its job is re-queued
        super().request_stop(signum, frame)

    def execute_job(self, job, queue):
        execution = self.prepare_execution(job)
        self.executing = (job, execution)
        try:
            self.perform_job(job, queue, execution)
        finally:
            self.executing = None
        self.set_state(WorkerStatus.IDLE)


class Monitor(threading.Thread):
    """Heartbeat, stop requests, resuming dead workers' jobs, lost tickets and cleanup."""

    def __init__(self, ctx: Context, worker: QueueWorker):
        super().__init__(name="monitor", daemon=True)
        self.ctx = ctx
        self.worker = worker
        self.done = threading.Event()
        self.interval = min(st.HEARTBEAT_SECONDS, heartbeat_ttl() / 4)

    def run(self) -> None:
        last_rq_beat = time.monotonic()
        while not self.done.wait(self.interval):
            try:
                if self.ctx.store.beat(self.ctx.name, self.ctx.info()) and not self.ctx.stopping:
                    log.info("asked to stop")
                    os.kill(os.getpid(), signal.SIGTERM)
                self.resume_orphans()
                executing = self.worker.executing
                if executing and time.monotonic() - last_rq_beat >= RQ_HEARTBEAT_SECONDS:
                    self.worker.maintain_heartbeats(*executing)  # else RQ calls a long ticket abandoned
                    last_rq_beat = time.monotonic()
                if self.ctx.store.take_turn("cleanup", CLEANUP_EVERY_SECONDS):
                    self.cleanup()
            except Exception:  # noqa: BLE001 - Redis away for a moment: the next round tries again
                log.warning("monitor: %s", traceback.format_exc(limit=3))

    def resume_orphans(self) -> None:
        store = self.ctx.store
        live = {w["name"] for w in store.live_workers()}
        for record in store.active():
            worker = record.get("worker")
            if record["status"] == RUNNING and worker and worker not in live:
                after = store.update(record["id"], lambda r: _requeue_from(
                    r, worker, f"Resuming: worker {worker} stopped responding"))
                if after is not None and after["status"] == QUEUED:
                    log.info("job %s: worker %s is gone; re-queued from its last finished stage", record["id"], worker)
            elif (record["status"] == QUEUED and time.time() - record["updated"] > MISSING_TICKET_GRACE_SECONDS
                  and not store.unit_pending(record)):
                unit = record.get("unit")
                store.update(record["id"], lambda r: _reissue(r, unit))
                log.info("job %s: its ticket %s was lost; issued a new one", record["id"], unit)
        for name in store.dead_workers():
            if not any(r.get("worker") == name for r in store.active()):
                store.forget_worker(name)

    def cleanup(self) -> None:
        days = st.env_number("CLEANUP_AFTER_DAYS", 7.0)
        removed = cleanup_finished(self.ctx.store, days) if days > 0 else 0
        removed += self.ctx.store.remove_orphan_folders()
        if removed:
            log.info("cleanup removed %d job(s)/folder(s)", removed)


def parse_capabilities(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or CPU).split(",") if n.strip()]
    unknown = [n for n in names if n not in CAPABILITIES]
    if unknown or not names:
        raise ValueError(f"unknown queue(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(CAPABILITIES)}")
    return list(dict.fromkeys(names))


def unseen_job_folders(store: RedisStore) -> str | None:
    """A message when none of the newest jobs' folders are here: this machine lacks the shared folder."""
    records = store.all()[:20]
    if records and not any(Path(r["job_dir"]).is_dir() for r in records):
        return (f"this machine does not see the job folders under {store.root} (none of the {len(records)} newest "
                "jobs' folders is there): mount the shared data folder and point DUBBING_DATA_DIR at it")
    return None


def serve(url: str, queues: str | None = None, root: Path | None = None, *,
          pipeline: ModuleType = dubbing_pipeline) -> int:
    """Run one Redis worker in this process until it is stopped; exit code."""
    global _context
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s")
    try:
        capabilities = parse_capabilities(queues)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    store = open_redis_store(url, root)
    try:
        store.redis.ping()
        problem = unseen_job_folders(store)
    except RedisConnectionError as exc:
        print(f"error: cannot reach the job queue at {url} ({exc})", file=sys.stderr)
        return int(ExitCode.TRANSIENT)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return int(ExitCode.USAGE)
    ctx = _context = Context(store, capabilities, pipeline)
    store.beat(ctx.name, ctx.info())
    worker = QueueWorker(ctx)
    monitor = Monitor(ctx, worker)
    monitor.start()
    log.info("worker %s serving %s (queues %s, data %s)", ctx.name, url, ",".join(capabilities), store.root)
    try:
        worker.work(logging_level="WARNING")
    finally:
        monitor.done.set()
        monitor.join(10)
        ctx._shutdown()  # the local worker's own ending: stage hosts and the like
        store.forget_worker(ctx.name)
    return 0
