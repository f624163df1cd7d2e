"""The job runner's API: the pages and the command line call only this.

Every call works on the store of the data folder (``DUBBING_DATA_DIR``, default
``./data``), from any process, at any time. Reads are plain gets on the store and
never wait for the worker; changes are short transactions. Heavy work happens only
in the worker process (see `dubbing.jobs.worker`), which these calls start on demand.

A job record is a plain dict::

    id, original_name, settings (DubSettings as a dict), status, stage, percent (0..100,
    of the whole dub), message, error, error_code, stages [{name, status, attempts,
    seconds, peak_rss_mb}], created, updated, finished (Unix times; finished is None
    until the job completed, failed or was cancelled), job_dir, outputs {name: path},
    input_bytes, duration, worker_alive (is a worker running for this store now)

Statuses: queued, running, awaiting_review, completed, failed, cancelled.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from .. import pipeline  # the runner's tests swap in their fake here (use_fake_pipeline in tests/test_jobs_support.py)
from .. import revisions
from ..edits import EditError, EditResult
from ..errors import DubbingError, ExitCode, NotFoundError, RevisionConflict, TooBigError
from ..models import Document, DubSettings, InvalidDocumentError
from ..media import describe_track as _describe_track
from . import store as st
from . import backend
from .backend import open_store  # diskcache, or Redis when DUBBING_QUEUE is set: the same methods
from .states import CLIENT, move
from .store import AWAITING_REVIEW, CANCELLED, COMPLETED, FAILED, FINISHED, QUEUED, RUNNING, STATUSES
from .worker import cleanup_finished

__all__ = ["submit", "get", "log_tail", "redetect_speakers", "list_jobs", "approve", "rerender", "retranslate", "retry", "save_document",
           "load_document", "edit", "EditResult", "EditError", "RevisionConflict", "cancel", "delete", "cleanup", "wait", "ensure_worker", "stop_worker",
           "worker_running", "max_upload_bytes", "JobStateError", "STATUSES", "QUEUED", "RUNNING",
           "AWAITING_REVIEW", "COMPLETED", "FAILED", "CANCELLED", "FINISHED"]

DOCUMENT = "utterances.json"


class JobStateError(DubbingError):
    """The job is not in a state that allows this (approve a running job, edit while it renders)."""

    code = ExitCode.USAGE


def max_upload_bytes() -> int:
    """The upload size limit: MAX_UPLOAD_MB (default 200), in MiB like Streamlit's maxUploadSize."""
    return int(st.env_number("MAX_UPLOAD_MB", 200.0) * 1024 * 1024)


def submit(path: Path, original_name: str, settings: DubSettings | dict, *, start_worker: bool = True,
           max_bytes: int | None = None) -> str:
    """Validate a video and queue a dub of it; the job id.

    Checks size, streams (a probe), language pair and engines before anything is
    stored, so a refused upload leaves nothing behind. The video is copied into the
    job's folder under a generated name; the caller may delete `path` afterwards.
    """
    path = Path(path)
    if not isinstance(settings, DubSettings):
        settings = DubSettings.from_dict(dict(settings))
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    limit = max_upload_bytes() if max_bytes is None else int(max_bytes)
    size = path.stat().st_size
    if size > limit:
        raise TooBigError(f"{Path(original_name).name or path.name} is {_mb(size)}; the limit is {_mb(limit)} "
                          "(MAX_UPLOAD_MB sets it)")
    pipeline.validate_settings(settings)
    info = pipeline.validate_input(path, max_bytes=limit, track=settings.audio_track)
    tracks = getattr(info, "audio_tracks", None) or []

    store = open_store()
    job_id = st.new_job_id()
    job_dir = store.job_dir(job_id)
    try:
        pipeline.prepare(path, job_dir, settings, max_bytes=limit)
        record = st.new_record(job_id, original_name or path.name, settings.to_dict(), job_dir,
                               list(pipeline.STAGES), review_after=pipeline.REVIEW_AFTER, input_bytes=size,
                               duration=float(getattr(info, "duration", 0.0) or 0.0),
                               # Which sound is dubbed, said wherever the job is shown when there is a choice.
                               audio_track=(_describe_track(tracks[settings.audio_track]) if len(tracks) > 1 else None))
        store.create(record)
    except BaseException:
        store.delete(job_id)
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    if start_worker:
        ensure_worker()
    return job_id


def get(job_id: str) -> dict | None:
    """The job's record, or None when there is no such job. Never waits for the worker.

    A job shown `running` whose worker died (no heartbeat) starts a new worker, which resumes it.
    """
    store = open_store()
    record = store.get(job_id)
    if record is not None:
        record["worker_alive"] = store.worker_alive()
        _heal([record])
    return record


def log_tail(job_id: str, lines: int = 50) -> list[str]:
    """The last `lines` lines of the job's log (work/job.log): stages, engines, timings, and a failure's traceback."""
    from ..joblog import tail

    return tail(Path(_require(job_id)["job_dir"]), lines)


def list_jobs() -> list[dict]:
    """Every job's record, newest first (and, like `get`, restarts a worker that died mid-job)."""
    store = open_store()
    alive = store.worker_alive()
    records = store.all()
    for record in records:
        record["worker_alive"] = alive
    _heal(records)
    return records


HEAL_EVERY_SECONDS = 30.0  # at most this often a reader starts a worker (one that dies at start must not loop)
_last_heal = -HEAL_EVERY_SECONDS


def _heal(records: list[dict]) -> None:
    """Start a worker when a job is left `running` by one that died (SIGKILL, out of memory, reboot)."""
    global _last_heal
    if not any(r["status"] == RUNNING and not r["worker_alive"] for r in records):
        return
    if time.monotonic() - _last_heal < HEAL_EVERY_SECONDS:
        return
    _last_heal = time.monotonic()
    try:
        ensure_worker()
    except OSError:
        pass  # a read must not fail because no worker could start; the record shows worker_alive False


def approve(job_id: str, *, start_worker: bool = True) -> None:
    """Accept the reviewed translation: awaiting_review -> queued, then voices, synthesis and render."""
    def change(record: dict) -> None:
        if record["status"] != AWAITING_REVIEW:
            raise JobStateError(f"job {job_id} is {record['status']}; only a job awaiting review can be approved")
        record["approved"] = True
        _queue_action(record, st.RENDER, then=COMPLETED, message="Approved: queued for rendering")
    with revisions.locked(_document_path(job_id)):  # the document checked is the one rendered
        _check_document(job_id)
        _change(job_id, change)
    if start_worker:
        ensure_worker()


def rerender(job_id: str, preview: bool = False, *, start_worker: bool = True) -> None:
    """Render again after edits, re-making only what changed; preview renders the first 30 s to preview.mp4.

    A full render of a job awaiting review approves it.
    """
    def change(record: dict) -> None:
        status = record["status"]
        analysed = _analysis_done(record)
        if status not in (COMPLETED, AWAITING_REVIEW) and not (status in (FAILED, CANCELLED) and analysed):
            raise JobStateError(f"job {job_id} is {status}; only a completed job or one awaiting review "
                                "can be rendered again")
        if preview:
            then = status if status in (COMPLETED, AWAITING_REVIEW) else AWAITING_REVIEW
            _queue_action(record, st.PREVIEW, then=then, message="Queued for a preview render")
        else:
            record["approved"] = True
            _queue_action(record, st.RENDER, then=COMPLETED, message="Queued for rendering")
    with revisions.locked(_document_path(job_id)):
        _check_document(job_id)
        _change(job_id, change)
    if start_worker:
        ensure_worker()


def retranslate(job_id: str, ids: list[int], *, start_worker: bool = True) -> None:
    """Queue a machine re-translation of these utterances from their (edited) text."""
    ids = [int(i) for i in ids]

    def change(record: dict) -> None:
        if record["status"] not in (COMPLETED, AWAITING_REVIEW):
            raise JobStateError(f"job {job_id} is {record['status']}; only a completed job or one awaiting "
                                "review can be re-translated")
        _queue_action(record, st.RETRANSLATE, then=record["status"], args={"ids": ids},
                      message=f"Queued: re-translate {len(ids)} line(s)")
    _change(job_id, change)
    if start_worker:
        ensure_worker()


def redetect_speakers(job_id: str, speakers: int | None, *, base_revision: int | None = None,
                      start_worker: bool = True) -> None:
    """Queue "find the speakers again" with this count (None: estimate), from the stored speaker
    embeddings: nothing is transcribed again, and lines whose words and speaker stay keep their edits.
    With `base_revision`, the worker refuses it (RevisionConflict) if the document moved on since."""
    if speakers is not None and not 1 <= int(speakers) <= 20:
        raise DubbingError(f"speaker count {speakers} is out of range; use 1 to 20")

    def change(record: dict) -> None:
        if record["status"] not in (COMPLETED, AWAITING_REVIEW):
            raise JobStateError(f"job {job_id} is {record['status']}; speakers can be found again only in a job "
                                "awaiting review or completed")
        _queue_action(record, st.REDETECT, then=record["status"],
                      args={"speakers": None if speakers is None else int(speakers), "base_revision": base_revision},
                      message=f"Queued: find {speakers or 'the'} speakers again")
    _change(job_id, change)
    if start_worker:
        ensure_worker()


def retry(job_id: str, *, start_worker: bool = True) -> None:
    """Resume a failed or cancelled job from its last finished stage."""
    def change(record: dict) -> None:
        if record["status"] not in (FAILED, CANCELLED):
            raise JobStateError(f"job {job_id} is {record['status']}; only a failed or cancelled job can be retried")
        action = record["action"]
        kind = action["kind"] if action["kind"] in (st.RENDER, st.PREVIEW) else st.RUN
        for entry in record["stages"]:
            if entry["status"] != st.DONE:
                entry.update(st.stage_entry(entry["name"]))
        record["action"] = {"kind": kind, "args": {}, "then": action.get("then"), "started": True}
        move(record, QUEUED, CLIENT, message="Queued to resume", error=None, error_code=None)
    _change(job_id, change)
    if start_worker:
        ensure_worker()


def save_document(job_id: str, doc: Document, *, base_revision: int | None = None) -> int:
    """Write an edited utterances.json; the new revision.

    `base_revision` (default `doc.revision`, the revision it was loaded at) must still be the file's:
    otherwise someone (another tab, the worker) saved since, and RevisionConflict says to reload.
    Allowed whenever the document exists, also while the job renders: the worker's stages merge
    their output into the current file, so neither side loses anything. An invalid document is
    refused (JobStateError naming each line and field) and nothing is written.
    """
    path = _document_path(job_id)
    with revisions.locked(path):  # one lock for the file and the job state that must agree with it
        _require_document(job_id, path)
        try:
            revision = revisions.save_checked(path, doc, base_revision)
        except InvalidDocumentError as exc:
            raise JobStateError("the edited lines have problems: " + "; ".join(exc.problems)) from None
        _note_edit(job_id)
    return revision


def edit(job_id: str, op: str, *, base_revision: int | None = None, translate: bool = True,
         start_worker: bool = True, **args) -> EditResult:
    """One structural edit of the job's document (dubbing.edits): `op` is split (utt_id, at= or word=),
    merge (utt_id), add (start, end, speaker, text[, translated_text, gender]), delete (utt_id),
    speaker (utt_id, speaker[, gender]), times (utt_id[, start, end]) or language (utt_id, language).

    Returns the EditResult (created/removed/changed ids, new_speaker). Refused with RevisionConflict when
    `base_revision` is given and the document moved on; EditError when the edit cannot be made.
    With `translate`, lines the edit made or changed that need a translation (a new line, a line said
    to be in another language) are queued for one (job idle only).
    """
    path = _document_path(job_id)
    with revisions.locked(path):
        _require_document(job_id, path)
        result = pipeline.edit(path.parent, op, base_revision=base_revision, **args)
        _note_edit(job_id)
    if translate and (result.created or result.changed):
        doc = Document.load(path)
        touched = {*result.created, *result.changed}
        todo = [u.id for u in doc.utterances if u.id in touched and u.needs_translation]
        if todo:
            _queue_translation(job_id, todo, start_worker=start_worker)
    return result


def _queue_translation(job_id: str, ids: list[int], *, start_worker: bool) -> None:
    """Translate new lines soon: a re-translation is queued, or the one waiting takes them too.
    A job that is rendering translates them in its own translate stage."""
    def change(record: dict) -> bool | None:
        action = record.get("action") or {}
        if record["status"] == QUEUED and action.get("kind") == st.RETRANSLATE:
            action.setdefault("args", {})["ids"] = sorted({*action["args"].get("ids", []), *ids})
            return None
        if record["status"] in (COMPLETED, AWAITING_REVIEW):
            _queue_action(record, st.RETRANSLATE, then=record["status"], args={"ids": ids},
                          message=f"Queued: translate {len(ids)} new line(s)")
            return None
        return False
    _change(job_id, change)
    if start_worker:
        ensure_worker()


def load_document(job_id: str) -> Document | None:
    """The job's utterances.json, or None before translation made it."""
    path = _document_path(job_id)
    return Document.load(path) if path.is_file() else None


def cancel(job_id: str) -> None:
    """Cancel a queued, running or paused job; a running one stops within seconds. Files are kept."""
    store = open_store()

    def change(record: dict) -> None:
        status = record["status"]
        if status == CANCELLED:
            return False
        if status in (COMPLETED, FAILED):
            raise JobStateError(f"job {job_id} already {status}; nothing to cancel")
        if status == RUNNING:  # the worker sees the request at its next check and ends the job
            store.request_cancel(job_id)
            record["cancel_requested"] = True
            record["message"] = "Cancelling"
        else:
            move(record, CANCELLED, CLIENT, message="Cancelled")
    _change(job_id, change)


def delete(job_id: str) -> None:
    """Delete a job, record and files; returns at once.

    A running job's record goes now; its worker stops the stage within seconds and then
    removes the folder (a folder whose worker died meanwhile goes with the hourly sweep).
    """
    store = open_store()
    record = _require(job_id)
    if record["status"] == RUNNING and store.worker_alive():
        store.request_cancel(job_id)
        store.delete(job_id, keep_files=True)
        return
    store.delete(job_id)


def cleanup(days: float | None = None) -> int:
    """Delete jobs that finished more than `days` ago (default CLEANUP_AFTER_DAYS, else 7); how many."""
    if days is None:
        days = st.env_number("CLEANUP_AFTER_DAYS", 7.0)
    store = open_store()
    removed = cleanup_finished(store, float(days))
    store.remove_orphan_folders()
    return removed


def wait(job_id: str, *, timeout: float | None = None, poll: float = 0.5,
         until: tuple[str, ...] = (AWAITING_REVIEW, *FINISHED)) -> dict:
    """Poll until the job reaches one of `until`; its record. TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record = get(job_id)
        if record is None:
            raise NotFoundError(f"no job with id '{job_id}'")
        if record["status"] in until:
            return record
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {record['status']} after {timeout:.0f} s")
        time.sleep(poll)


def ensure_worker() -> None:
    """Start the background worker unless one is running for this store (Redis workers run on their own)."""
    backend.ensure_worker()


def stop_worker(timeout: float = 30.0) -> bool:
    """Stop this store's worker (running jobs are re-queued and resume later); False when none ran."""
    return backend.stop_worker(timeout=timeout)


def worker_running() -> bool:
    """Whether a worker holds this store's lock right now (with Redis: whether any worker lives)."""
    return backend.worker_running()


# -- helpers -------------------------------------------------------------------------------------

def _document_path(job_id: str) -> Path:
    return Path(_require(job_id)["job_dir"]) / DOCUMENT


def _require_document(job_id: str, path: Path) -> dict:
    record = _require(job_id)
    if not path.is_file():
        raise JobStateError(f"job {job_id} is {record['status']} and has no lines yet; edit it once "
                            "translation made them")
    return record


def _note_edit(job_id: str) -> None:
    """A person saved while the worker renders: it renders again once done (see JobRun.run)."""
    def change(record: dict) -> bool | None:
        if record["status"] not in (RUNNING, QUEUED):
            return False
        record["edited_during_run"] = True
        return None
    open_store().update(job_id, change)


def _require(job_id: str) -> dict:
    record = open_store().get(job_id)
    if record is None:
        raise NotFoundError(f"no job with id '{job_id}'")
    return record


def _change(job_id: str, change) -> dict:
    record = open_store().update(job_id, change)
    if record is None:
        raise NotFoundError(f"no job with id '{job_id}'")
    return record


def _queue_action(record: dict, kind: str, *, then: str | None, message: str, args: dict | None = None) -> None:
    record["action"] = {"kind": kind, "args": args or {}, "then": then, "started": False}
    move(record, QUEUED, CLIENT, message=message, error=None, error_code=None, cancel_requested=False)


def _analysis_done(record: dict) -> bool:
    """Whether the stage that makes the document finished, so there is something to render."""
    review_after = record.get("review_after", "translate")
    return any(e["name"] == review_after and e["status"] == st.DONE for e in record["stages"])


def _check_document(job_id: str) -> None:
    record = _require(job_id)
    path = Path(record["job_dir"]) / DOCUMENT
    if not path.is_file():
        return  # the state check that follows gives the better message
    try:
        problems = Document.load(path).validate()
    except (ValueError, KeyError) as exc:
        raise JobStateError(f"utterances.json of job {job_id} cannot be read: {exc}") from exc
    if problems:
        raise JobStateError("fix these lines first: " + "; ".join(problems))


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size / (1024 * 1024):.1f} MB"
