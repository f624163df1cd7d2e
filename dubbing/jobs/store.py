"""The job store: one diskcache directory under the data folder, and a folder per job.

Layout under the data folder (``DUBBING_DATA_DIR``, default ``./data``)::

    store/          the diskcache (SQLite in WAL mode: readers never block the worker)
    jobs/<id>/      one job folder, laid out as docs/CONTRACTS.md says
    worker.lock     held (flock) by the one worker process of this store
    worker.log      what spawned workers print

Keys in the cache: ``job:<id>`` holds the job record (a plain dict), ``queue``
the ids waiting for the worker in order, ``cancel:<id>`` a cancel request and
``worker`` the running worker's pid and heartbeat. Every read-modify-write runs
inside ``cache.transact()``: without it concurrent writers lose updates.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Collection, Iterator

import diskcache

# The states live in states.py; re-exported here because every caller reads them as `store.X`.
from .states import (AWAITING_REVIEW, CANCELLED, COMPLETED, DONE, FAILED, FINISHED, PENDING, PREVIEW,  # noqa: F401
                     QUEUED, REDETECT, RENDER, RETRANSLATE, RUN, RUNNING, STATUSES, WORKER, move)

HEARTBEAT_SECONDS = 2.0
HEARTBEAT_STALE_SECONDS = 10.0


def data_dir() -> Path:
    """The data folder, read from the environment on every call (tests point it elsewhere)."""
    return Path(os.environ.get("DUBBING_DATA_DIR") or "data").expanduser().resolve()


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        return default


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def new_record(job_id: str, original_name: str, settings: dict, job_dir: Path, stages: list[str],
               **extra: Any) -> dict:
    now = time.time()
    record = {
        "id": job_id,
        "original_name": Path(original_name).name or "video.mp4",
        "settings": dict(settings),
        "status": QUEUED,
        "stage": "",
        "percent": 0.0,
        "message": "Waiting for the worker",
        "error": None,
        "error_code": None,
        "stages": [stage_entry(name) for name in stages],
        "created": now,
        "updated": now,
        "finished": None,
        "job_dir": str(job_dir),
        "outputs": {},
        # The worker's to-do: what to run, and the status to land in afterwards.
        "action": {"kind": RUN, "args": {}, "then": None, "started": False},
        "cancel_requested": False,
        "worker_pid": None,
    }
    record.update(extra)
    return record


def stage_entry(name: str) -> dict:
    # attempts: times started (a kill from outside included); failures: times it failed by itself.
    return {"name": name, "status": PENDING, "attempts": 0, "failures": 0, "seconds": 0.0, "peak_rss_mb": 0.0}


PRIVATE_UMASK = 0o077


def make_private(root: Path) -> None:
    """Uploads and transcripts are for their owner only: the data folder 0700, what is made in it 0600.

    Sets this process's umask (every process that opens a store works for the store) and
    tightens what an older version left readable.
    """
    os.umask(PRIVATE_UMASK)
    root.mkdir(parents=True, exist_ok=True)
    if root.stat().st_mode & 0o077:
        for path in [root, *root.rglob("*")]:
            try:
                if not path.is_symlink():
                    path.chmod(0o700 if path.is_dir() else path.stat().st_mode & 0o700)
            except OSError:
                continue


class Store:
    """The job records of one data folder. Open one per process (see `open_store`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        make_private(self.root)
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        # Job records must never be evicted; they are tiny, so no size limit is needed.
        self.cache = diskcache.Cache(str(self.root / "store"), timeout=60,
                                     eviction_policy="none", cull_limit=0, size_limit=2**40)

    @property
    def lock_path(self) -> Path:
        return self.root / "worker.lock"

    @property
    def log_path(self) -> Path:
        return self.root / "worker.log"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    # -- reads: plain gets, never a transaction, so they never wait for the worker
    def get(self, job_id: str) -> dict | None:
        if not job_id or "/" in job_id or job_id.startswith("."):
            return None
        return self.cache.get(f"job:{job_id}")

    def job_ids(self) -> Iterator[str]:
        for key in self.cache.iterkeys():
            if isinstance(key, str) and key.startswith("job:"):
                yield key[4:]

    def all(self) -> list[dict]:
        records = [r for r in (self.get(i) for i in list(self.job_ids())) if r is not None]
        records.sort(key=lambda r: r["created"], reverse=True)
        return records

    def queue(self) -> list[str]:
        return list(self.cache.get("queue", []))

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.cache.get(f"cancel:{job_id}", False))

    def worker_info(self) -> dict | None:
        return self.cache.get("worker")

    def worker_alive(self) -> bool:
        info = self.worker_info()
        return bool(info) and time.time() - info.get("heartbeat", 0) < HEARTBEAT_STALE_SECONDS

    # -- writes
    def create(self, record: dict) -> None:
        with self.cache.transact():
            self.cache.set(f"job:{record['id']}", record)
            if record["status"] == QUEUED:
                self._enqueue(record["id"])

    def update(self, job_id: str, change: Callable[[dict], Any]) -> dict | None:
        """Read, change in place and write back one record, atomically; None when it is gone.

        `change` may return False to leave the record as it was.
        """
        with self.cache.transact():
            record = self.cache.get(f"job:{job_id}")
            if record is None:
                return None
            before_status = record["status"]
            if change(record) is False:
                return record
            record["updated"] = time.time()
            if record["status"] == QUEUED and before_status != QUEUED:
                self._enqueue(job_id)
            if record["status"] != QUEUED:
                self._dequeue(job_id)
            if record["status"] != before_status:
                record["finished"] = time.time() if record["status"] in FINISHED else None
            if record["status"] != RUNNING:
                self.cache.delete(f"cancel:{job_id}")  # a request the worker never saw is moot now
            self.cache.set(f"job:{job_id}", record)
            return record

    def request_cancel(self, job_id: str) -> None:
        self.cache.set(f"cancel:{job_id}", True)

    def claim_next(self, worker_pid: int, busy: Collection[str] = ()) -> dict | None:
        """Take the oldest queued job and mark it running, or None.

        Jobs in `busy` stay queued: the worker's thread for their previous action has not ended
        (it makes voice samples after the pause for review, in the job's stage host, which a
        second thread must not share)."""
        if not self.cache.get("queue"):  # a cheap read first: most polls find nothing
            return None
        with self.cache.transact():
            queue = list(self.cache.get("queue", []))
            waiting = []
            while queue:
                job_id = queue.pop(0)
                if job_id in busy:
                    waiting.append(job_id)
                    continue
                record = self.cache.get(f"job:{job_id}")
                if record is None or record["status"] != QUEUED:
                    continue
                move(record, RUNNING, WORKER, worker_pid=worker_pid, message="Starting")
                record["updated"] = time.time()
                self.cache.set(f"job:{job_id}", record)
                self.cache.set("queue", waiting + queue)
                return record
            self.cache.set("queue", waiting)
            return None

    def requeue_running(self, message: str) -> list[str]:
        """Put jobs left `running` back at the head of the queue (only the lock holder may call this)."""
        requeued = []
        with self.cache.transact():
            stale = [r for r in self.all() if r["status"] == RUNNING]
            stale.sort(key=lambda r: r["created"])
            queue = [i for i in self.cache.get("queue", []) if i not in {r["id"] for r in stale}]
            for record in stale:
                move(record, QUEUED, WORKER, message=message, worker_pid=None)
                record["updated"] = time.time()
                self.cache.set(f"job:{record['id']}", record)
                requeued.append(record["id"])
            self.cache.set("queue", requeued + queue)
        return requeued

    def delete(self, job_id: str, *, keep_files: bool = False) -> bool:
        """Remove the record (and the folder unless `keep_files`: its running stage removes it when it stops)."""
        with self.cache.transact():
            existed = self.cache.delete(f"job:{job_id}")
            if keep_files:
                self.cache.set(f"cancel:{job_id}", True)
            else:
                self.cache.delete(f"cancel:{job_id}")
            self._dequeue(job_id)
        if not keep_files:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return bool(existed)

    def set_worker(self, info: dict | None) -> None:
        if info is None:
            self.cache.delete("worker")
        else:
            self.cache.set("worker", info)

    def remove_orphan_folders(self, min_age_s: float = 3600.0) -> int:
        """Job folders with no record (a submit that died half-way); young ones may be mid-submit."""
        removed = 0
        now = time.time()
        for path in self.jobs_dir.iterdir() if self.jobs_dir.exists() else []:
            if path.is_dir() and self.get(path.name) is None:
                try:
                    age = now - path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age >= min_age_s:
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        return removed

    def close(self) -> None:
        self.cache.close()

    def _enqueue(self, job_id: str) -> None:
        queue = list(self.cache.get("queue", []))
        if job_id not in queue:
            queue.append(job_id)
            self.cache.set("queue", queue)

    def _dequeue(self, job_id: str) -> None:
        queue = list(self.cache.get("queue", []))
        if job_id in queue:
            queue.remove(job_id)
            self.cache.set("queue", queue)


_stores: dict[tuple[str, int], Store] = {}


def open_store(root: Path | None = None) -> Store:
    """The store of `root` (default: the data folder), one per process: a Cache must not cross a fork."""
    root = Path(root).resolve() if root else data_dir()
    key = (str(root), os.getpid())
    store = _stores.get(key)
    if store is None:
        for stale_key in [k for k in _stores if k[1] != os.getpid()]:
            _stores.pop(stale_key, None)
        store = _stores[key] = Store(root)
    return store
