"""Running one queued action of one job: the pipeline's stages with retries, progress and cancel.

Crash safety: each stage is recorded done in the store only after the pipeline has
written its output atomically; a new worker re-queues jobs left ``running`` and
skips their finished stages.
"""
from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CancelledError, DubbingError, ExitCode, StageCrashError
from ..pipeline import STAGE_LABELS, STAGE_WEIGHTS
from . import store as st
from .states import WORKER, move
from .host import HostDied, RemoteError, interrupted

if TYPE_CHECKING:
    from .worker import Worker

log = logging.getLogger("dubbing.worker")

MAX_ATTEMPTS = 3  # a first try and up to 2 retries of transient failures
EDIT_RERUNS = 3  # renders again at most this often when people keep saving during a render
DOCUMENT_ACTIONS = (st.RETRANSLATE, st.REDETECT)
CANCEL_CHECK_SECONDS = 0.2  # at most this often the store is read for a cancel request
PROGRESS_WRITE_SECONDS = 0.25  # at most this often progress is written within a stage


def retry_backoff_seconds() -> float:
    return max(0.0, st.env_number("DUBBING_RETRY_BACKOFF", 2.0))


class JobRun:
    """Runs one queued action of one job: the pipeline's stages with retries, progress and cancel."""

    def __init__(self, worker: "Worker", record: dict):
        self.worker = worker
        self.store = worker.store
        self.pipeline = worker.pipeline
        self.job_id = record["id"]
        self.job_dir = Path(record["job_dir"])
        self.action = dict(record["action"])
        self.settings = record["settings"]
        self.percent = float(record.get("percent") or 0.0) if self.action.get("started") else 0.0
        self._cancelled = False
        self._sampling = False  # making voice samples after the pause for review (`_auditions`)
        self._last_cancel_check = 0.0
        self._last_write = 0.0
        self._results: list[Any] = []  # StageResults of this action, for report.json
        self._reruns = 0  # renders again because a person saved during this action

    # -- the action
    def run(self) -> None:
        kind = self.action["kind"]
        if kind in DOCUMENT_ACTIONS:
            self._document_action(kind)
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
                self._auditions()
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
            self.pipeline.clean_intermediate(self.job_dir)
        self._finish(then, done)

    def _begin(self, record: dict, stages: list[str]) -> None:
        for entry in record["stages"]:
            if entry["name"] in stages:
                entry.update(st.stage_entry(entry["name"]))
        record["action"]["started"] = True
        record.pop("edited_during_run", None)
        record["error"] = record["error_code"] = None
        record["percent"] = self.percent = overall(record, "", 0.0)

    def _auditions(self) -> None:
        """Samples of the voices the reviewer may choose, made while they read (not before the pause).

        The job's next action waits for this thread (the worker claims no job whose thread lives), so
        the samples stop once the review is over: approved, re-rendered or cancelled."""
        self._sampling = True
        try:
            self.worker.in_host(self, "make_auditions", str(self.job_dir), should_cancel=interrupted)
        except Exception as exc:  # noqa: BLE001 - samples are a convenience; the job is fine without them
            log.info("job %s: no voice samples: %s", self.job_id, exc)
        finally:
            self._sampling = self._cancelled = False

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
        preview = self.pipeline.PREVIEW_SECONDS if self.action["kind"] == st.PREVIEW else None
        while True:
            record = self.store.update(self.job_id, lambda r: self._start_attempt(r, stage))
            if record is None:
                return False
            started = time.monotonic()
            try:
                result = self.worker.in_host(self, "run_stage", self.job_id, str(self.job_dir), stage, preview)
            except CancelledError:
                self._stop_or_cancel(stage, started=True)
                return False
            except HostDied as died:
                # The stage brought its own process down; a worker killed from outside never gets here.
                failures = self._count_failure(stage, died.reason)
                log.warning("job %s: the %s stage's process died (%s), failure %d", self.job_id, stage,
                            died.reason, failures)
                if failures >= MAX_ATTEMPTS:
                    self._fail(stage, StageCrashError(
                        f"the {stage} stage crashed its process {failures} times ({died.reason}); "
                        "try a shorter video or lighter models"))
                    return False
                if self._wait(retry_backoff_seconds()):
                    self._stop_or_cancel(stage, started=True)
                    return False
                continue
            except Exception as exc:  # noqa: BLE001 - every failure ends up in the job record
                if _transient(exc):
                    failures = self._count_failure(stage, _describe(exc))
                    if failures < MAX_ATTEMPTS:
                        delay = retry_backoff_seconds() * 2 ** (failures - 1)
                        log.warning("job %s: %s failed (failure %d), retrying in %.0f s: %s",
                                    self.job_id, stage, failures, delay, _describe(exc))
                        self._write(lambda r: r.update(message=f"{_label(stage)} failed ({_describe(exc)}); "
                                                               f"retrying in {delay:.0f} s"))
                        if self._wait(delay):
                            self._stop_or_cancel(stage, started=True)
                            return False
                        continue
                if not isinstance(exc, DubbingError):
                    log.error("job %s: %s failed: %s", self.job_id, stage, _describe(exc))
                self._fail(stage, exc)
                return False
            seconds = float(getattr(result, "seconds", 0.0) or (time.monotonic() - started))
            self._results.append(result)
            self.store.update(self.job_id, lambda r: self._stage_done(r, stage, result, seconds))
            return True

    def _count_failure(self, stage: str, reason: str) -> int:
        """Count a failure of the stage itself (not a stop or a kill from outside); the count so far."""
        def change(record: dict) -> None:
            entry = _entry(record, stage)
            entry["failures"] = int(entry.get("failures", 0)) + 1
            entry["last_failure"] = reason
        record = self.store.update(self.job_id, change)
        return int(_entry(record, stage).get("failures", 0)) if record else MAX_ATTEMPTS

    def _start_attempt(self, record: dict, stage: str) -> None:
        entry = _entry(record, stage)
        entry["attempts"] += 1
        entry["status"] = st.RUNNING
        move(record, st.RUNNING, WORKER)
        record["stage"] = stage
        record["message"] = _label(stage) + (f" (attempt {entry['attempts']})" if entry["attempts"] > 1 else "")
        record["worker_pid"] = self.worker.pid
        record["percent"] = self.percent = max(float(record.get("percent") or 0.0), overall(record, stage, 0.0))

    def _stage_done(self, record: dict, stage: str, result: Any, seconds: float) -> None:
        entry = _entry(record, stage)
        entry["status"] = st.DONE
        entry["seconds"] = round(seconds, 3)
        entry["peak_rss_mb"] = round(float(getattr(result, "peak_rss_mb", 0.0) or 0.0), 1)
        entry["skipped"] = bool(getattr(result, "skipped", False))
        record["percent"] = self.percent = max(float(record.get("percent") or 0.0), overall(record, "", 0.0))
        record["message"] = f"{_label(stage)}: done"
        record["outputs"] = self._outputs()

    def _document_action(self, kind: str) -> None:
        """Re-translate lines, or find the speakers again: quick changes of the document that leave
        the job where it was (awaiting review, or completed)."""
        args = self.action.get("args", {})
        then = self.action.get("then") or st.COMPLETED
        if kind == st.REDETECT:
            n = args.get("speakers")
            what, stage = (f"Re-detecting speakers ({n if n else 'automatic count'})", "diarize")
            call = ("redetect_speakers", str(self.job_dir), n)
            kwargs = {"base_revision": args.get("base_revision")}
        else:
            ids = [int(i) for i in args.get("ids", [])]
            what, stage = f"Re-translating {len(ids)} line(s)", "translate"
            call, kwargs = ("retranslate", str(self.job_dir), ids), {}
        self._write(lambda r: r.update(stage=stage, message=what))
        try:
            result = self.worker.in_host(self, *call, **kwargs)
        except HostDied as died:
            exc = StageCrashError(f"{what.lower()} crashed its process ({died.reason})")
            self.store.update(self.job_id, lambda r: move(
                r, then, WORKER, error=exc.message, error_code=int(exc.code), message=f"{what} failed: {exc.message}"))
            return
        except Exception as exc:  # noqa: BLE001 - the job stays usable; the error is shown
            if not isinstance(exc, DubbingError):
                log.error("job %s: %s failed: %s", self.job_id, kind, traceback.format_exc())
            self.store.update(self.job_id, lambda r: move(
                r, then, WORKER, error=_describe(exc), error_code=int(getattr(exc, "code", ExitCode.INTERNAL)),
                message=f"{what} failed: {_describe(exc)}"))
            return
        if kind == st.REDETECT:
            self._finish(then, f"Found {result['speakers']} speakers: {result['utterances']} lines, "
                               f"{result['kept']} kept as they were")
        else:
            self._finish(then, f"Re-translated {len(ids)} line(s)")

    # -- endings
    def _finish(self, status: str, message: str) -> None:
        self._write_report()  # before the status: whoever sees `completed` finds every file

        def change(record: dict) -> None:
            move(record, status, WORKER, message=message)
            record["stage"] = ""
            record["outputs"] = self._outputs()
            record["cancel_requested"] = False
            if status == st.COMPLETED:
                record["percent"] = self.percent = 100.0
        self.store.update(self.job_id, change)

    def _fail(self, stage: str, exc: BaseException) -> None:
        self.store.update(self.job_id, lambda r: mark_failed(r, stage, exc))

    def _stop_or_cancel(self, stage: str, *, started: bool) -> None:
        if self.worker.stopping and not self._cancel_requested_now():
            def back_to_queue(record: dict) -> None:
                entry = _entry(record, stage)
                if started:  # a stop is no failure: it must not use up an attempt
                    entry["attempts"] = max(0, entry["attempts"] - 1)
                requeue(record, "Resuming: the worker stopped")
            self.store.update(self.job_id, back_to_queue)
            return

        def cancel(record: dict) -> None:
            entry = _entry(record, stage)
            if entry["status"] == st.RUNNING:
                entry["status"] = st.CANCELLED
            move(record, st.CANCELLED, WORKER, message=f"Cancelled during {_label(stage).lower()}")
            record["cancel_requested"] = False
        self.store.update(self.job_id, cancel)

    # -- cancel, seen between stages and while waiting to retry
    def should_cancel(self, force: bool = False) -> bool:
        if self.worker.stopping:
            return True
        now = time.monotonic()
        if force or now - self._last_cancel_check >= CANCEL_CHECK_SECONDS:
            self._last_cancel_check = now
            self._cancelled = self._cancel_requested_now() or (self._sampling and self._review_over())
        return self._cancelled

    def _review_over(self) -> bool:
        record = self.store.get(self.job_id)
        return record is None or record["status"] != st.AWAITING_REVIEW

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

    def _outputs(self) -> dict[str, str]:
        try:
            return {name: str(path) for name, path in self.pipeline.outputs(self.job_dir).items()}
        except Exception:  # noqa: BLE001 - outputs are a convenience; the job folder has them anyway
            return {}

    def _earlier_result(self, entry: dict) -> Any:
        """A stage finished before this worker took the job (or before a crash), as a StageResult."""
        return self.pipeline.StageResult(entry["name"], float(entry.get("seconds") or 0.0),
                                         float(entry.get("peak_rss_mb") or 0.0), bool(entry.get("skipped", False)))

    def _write_report(self) -> None:
        results = [r for r in self._results if r is not None]
        if not results:
            return
        try:
            self.pipeline.write_report(self.job_dir, results)
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
    if isinstance(exc, RemoteError):
        return f"internal error: {exc.type_name}: {exc.text} (details in worker.log)"
    return f"internal error: {type(exc).__name__}: {exc} (details in worker.log)"


def mark_failed(record: dict, stage: str, exc: BaseException) -> None:
    if stage:
        entry = _entry(record, stage)
        entry["status"] = st.FAILED
    move(record, st.FAILED, WORKER)
    record["error"] = _describe(exc)
    record["error_code"] = int(getattr(exc, "code", ExitCode.INTERNAL))
    record["message"] = f"Failed during {_label(stage).lower()}: {record['error']}" if stage else record["error"]
    record["cancel_requested"] = False


def requeue(record: dict, message: str) -> None:
    if record["status"] == st.RUNNING:
        move(record, st.QUEUED, WORKER, message=message)
        record["worker_pid"] = None
        for entry in record["stages"]:
            if entry["status"] == st.RUNNING:
                entry["status"] = st.PENDING


def overall(record: dict, stage: str, fraction: float) -> float:
    """Percent of the whole dub: finished stages, plus the running one's share."""
    weights = {e["name"]: STAGE_WEIGHTS.get(e["name"], 1) for e in record["stages"]}
    total = sum(weights.values()) or 1
    done = sum(weights[e["name"]] for e in record["stages"] if e["status"] == st.DONE and e["name"] != stage)
    return round(100.0 * (done + weights.get(stage, 0) * fraction) / total, 1)


# -- inside the stage host ---------------------------------------------------------------------------

class StageCallbacks:
    """The progress and cancel functions a stage gets in the host: both talk to the store directly."""

    def __init__(self, store: st.Store, job_id: str):
        self.store = store
        self.job_id = job_id
        self._last_write = 0.0
        self._last_check = 0.0
        self._cancelled = False

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
            record["percent"] = max(float(record.get("percent") or 0.0), overall(record, stage, fraction))
            if message:
                record["message"] = message
        self.store.update(self.job_id, change)

    def should_cancel(self) -> bool:
        if interrupted():
            return True
        now = time.monotonic()
        if not self._cancelled and now - self._last_check >= CANCEL_CHECK_SECONDS:
            self._last_check = now
            self._cancelled = self.store.cancel_requested(self.job_id) or self.store.get(self.job_id) is None
        return self._cancelled


def run_stage_here(pipeline, store_root: Path, job_id: str, job_dir: str, stage: str, preview: float | None):
    """Run one stage in this process (the host) with callbacks that report to the store."""
    from .backend import open_store  # diskcache, or Redis when DUBBING_QUEUE is set
    calls = StageCallbacks(open_store(store_root), job_id)
    return pipeline.run_stage(Path(job_dir), stage, progress=calls.progress, should_cancel=calls.should_cancel,
                              preview_seconds=preview)
