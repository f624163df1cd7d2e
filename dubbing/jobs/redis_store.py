"""The job store on Redis, for workers on several machines (``DUBBING_QUEUE=redis://host:6379/0``).

It has the methods of `dubbing.jobs.store.Store`, so the client and the worker's `JobRun`
run unchanged on it. Keys (all under ``dubbing:``)::

    job:<id>        the record as JSON; `job_dir` and `outputs` relative to the data folder, so each
                    machine finds them under its own mount of the shared folder
    jobs            sorted set of job ids by creation time
    active          set of the ids queued or running (what the workers' monitors watch)
    cancel:<id>     a cancel request
    workers         set of worker names; worker:<name> that worker's info, with a TTL it keeps
                    refreshing: the key exists exactly while the worker lives
    stop:<name>     a request to that worker to stop

The work itself travels as RQ jobs: one per run of consecutive stages that need the same
capability, on the RQ queue ``dubbing-cpu`` or ``dubbing-gpu``. The record is the truth and the
RQ job only a ticket: the record names the ticket it expects (`unit`), and a worker runs a ticket
only while the record is queued for it. A record that turns `queued` gets its ticket in the same
Redis transaction, so no change can leave a job queued with nothing to carry it.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from functools import wraps
from pathlib import Path
from typing import Any, Callable, Iterator

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from rq import Queue
from rq.job import Job

from ..errors import TransientError
from ..pipeline import RENDER_STAGES, REVIEW_AFTER, STAGES
from . import store as st
from .store import FINISHED, QUEUED, RUNNING, Store

PREFIX = "dubbing:"
CPU, GPU = "cpu", "gpu"
CAPABILITIES = (CPU, GPU)
TASK = "dubbing.jobs.redis_worker.run_unit"
RESULT_TTL = 600  # a finished RQ ticket is worth nothing; the record holds the outcome
FAILURE_TTL = 7 * 86400

# The engines that want a GPU, by stage: the settings field that names the engine and the names.
HEAVY_ENGINES = {"diarize": ("diarization", {"pyannote"}),
                 "transcribe": ("stt", {"transformers-whisper"}),
                 "translate": ("translator", {"nllb", "m2m100"}),
                 "synthesize": ("tts", {"xtts"})}
HEAVY_STT_MODELS = ("large", "medium", "turbo")


class QueueUnavailableError(TransientError):
    """Redis cannot be reached: the job queue is down, or DUBBING_QUEUE names the wrong host."""


def rq_queue_name(capability: str) -> str:
    return f"dubbing-{capability}"


def heartbeat_ttl() -> float:
    """Seconds without a heartbeat after which a worker counts as dead and its job resumes elsewhere."""
    return max(1.0, st.env_number("DUBBING_HEARTBEAT_TTL", 20.0))


def gpu_stages(settings: dict) -> set[str]:
    """The stages of a dub with these settings that belong on a GPU worker.

    DUBBING_GPU_STAGES (a comma list of stage names, or `none`) overrides the choice by engine.
    """
    raw = os.environ.get("DUBBING_GPU_STAGES")
    if raw is not None:
        return {s.strip() for s in raw.split(",") if s.strip() and s.strip() != "none"}
    chosen = {stage for stage, (field, names) in HEAVY_ENGINES.items() if settings.get(field) in names}
    if str(settings.get("stt_model") or "").startswith(HEAVY_STT_MODELS):
        chosen.add("transcribe")
    return chosen


def routing_plan(settings: dict, stages: list[str]) -> dict[str, str]:
    """Stage -> capability, fixed when the job is created so that every machine routes it alike."""
    gpu = gpu_stages(settings)
    return {stage: GPU if stage in gpu else CPU for stage in stages}


def next_stage(record: dict) -> str | None:
    """The stage the job's queued action runs first (None when every stage of it is done)."""
    action = record["action"]
    if action["kind"] in (st.RETRANSLATE, st.REDETECT):
        return REVIEW_AFTER
    stages = list(STAGES) if action["kind"] == st.RUN else list(RENDER_STAGES)
    if not action.get("started"):
        return stages[0]
    done = {e["name"] for e in record["stages"] if e["status"] == st.DONE}
    return next((s for s in stages if s not in done), None)


def capability_of(record: dict, stage: str | None) -> str:
    return record.get("queues", {}).get(stage, CPU) if stage else CPU


def _reachable(method: Callable) -> Callable:
    """Turn a lost connection into a DubbingError that says where the queue was looked for."""
    @wraps(method)
    def call(self: "RedisStore", *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise QueueUnavailableError(f"cannot reach the job queue at {self.url} ({exc}); is redis-server "
                                        "running there, and does DUBBING_QUEUE name it?") from exc
    return call


class RedisStore:
    """The job records in Redis; job folders under the (shared) data folder, as with `Store`."""

    def __init__(self, url: str, root: Path):
        self.url = url
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        self._alive_cache: tuple[float, bool] = (0.0, False)

    # The folder side is the same as the diskcache store's.
    job_dir = Store.job_dir
    remove_orphan_folders = Store.remove_orphan_folders

    def key(self, *parts: str) -> str:
        return PREFIX + ":".join(parts)

    def queue(self, capability: str) -> Queue:
        return Queue(rq_queue_name(capability), connection=self.redis, default_timeout=-1)

    # -- reads
    @_reachable
    def get(self, job_id: str) -> dict | None:
        if not job_id or "/" in job_id or job_id.startswith("."):
            return None
        raw = self.redis.get(self.key("job", job_id))
        return self._decode(raw) if raw else None

    @_reachable
    def job_ids(self) -> Iterator[str]:
        return iter([i.decode() for i in self.redis.zrevrange(self.key("jobs"), 0, -1)])

    @_reachable
    def all(self) -> list[dict]:
        return self._many(list(self.job_ids()))

    @_reachable
    def active(self) -> list[dict]:
        """The records queued or running, oldest first."""
        records = self._many([i.decode() for i in self.redis.smembers(self.key("active"))])
        return sorted(records, key=lambda r: r["created"])

    @_reachable
    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.key("cancel", job_id)))

    @_reachable
    def live_workers(self) -> list[dict]:
        """Info of every worker whose heartbeat is current: name, host, pid, queues, data_dir."""
        names = sorted(n.decode() for n in self.redis.smembers(self.key("workers")))
        raws = self.redis.mget([self.key("worker", n) for n in names]) if names else []
        return [json.loads(raw) for raw in raws if raw]

    def worker_alive(self) -> bool:
        """Whether any worker lives (cached for half a second: every status read asks)."""
        checked, alive = self._alive_cache
        if time.monotonic() - checked > 0.5:
            alive = bool(self.live_workers())
            self._alive_cache = (time.monotonic(), alive)
        return alive

    @_reachable
    def live_worker(self, name: str) -> dict | None:
        raw = self.redis.get(self.key("worker", name))
        return json.loads(raw) if raw else None

    # The single local worker's record (`Store.worker_info`/`set_worker`): there is none with Redis;
    # each worker keeps its own heartbeat (`beat`).
    def worker_info(self) -> None:
        return None

    def set_worker(self, info: dict | None) -> None:
        pass

    def serves(self, capability: str) -> bool:
        return any(capability in w.get("queues", ()) for w in self.live_workers())

    # -- writes
    @_reachable
    def create(self, record: dict) -> None:
        record.setdefault("queues", routing_plan(record["settings"], [e["name"] for e in record["stages"]]))
        with self.redis.pipeline() as pipe:
            pipe.multi()
            pipe.zadd(self.key("jobs"), {record["id"]: record["created"]})
            if record["status"] == QUEUED:
                self._issue_unit(pipe, record, at_front=False)
            self._write(pipe, record)
            pipe.execute()

    @_reachable
    def update(self, job_id: str, change: Callable[[dict], Any]) -> dict | None:
        """Read, change in place and write back one record atomically (WATCH/MULTI); None when it is gone.

        `change` may return False to leave the record as it was. It may run more than once when
        another process changed the record meanwhile, so it must only change the record.
        """
        key = self.key("job", job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        return None
                    record = self._decode(raw)
                    before = record["status"]
                    if change(record) is False:
                        return record
                    record["updated"] = time.time()
                    if record["status"] != before:
                        record["finished"] = time.time() if record["status"] in FINISHED else None
                    pipe.multi()
                    if record["status"] == QUEUED and (before != QUEUED or not record.get("unit")):
                        # A resume, or a ticket issued again because the last was lost, goes first.
                        self._issue_unit(pipe, record, at_front=before == RUNNING or not record.get("unit"))
                    if record["status"] != RUNNING:
                        pipe.delete(self.key("cancel", job_id))  # a request the worker never saw is moot now
                    self._write(pipe, record)
                    pipe.execute()
                    return record
                except WatchError:
                    continue

    @_reachable
    def request_cancel(self, job_id: str) -> None:
        self.redis.set(self.key("cancel", job_id), 1, ex=86400)

    @_reachable
    def delete(self, job_id: str, *, keep_files: bool = False) -> bool:
        """Remove the record (and the folder unless `keep_files`: a running unit removes it when it stops)."""
        with self.redis.pipeline() as pipe:
            pipe.delete(self.key("job", job_id))
            pipe.zrem(self.key("jobs"), job_id)
            pipe.srem(self.key("active"), job_id)
            pipe.delete(self.key("cancel", job_id))
            existed = pipe.execute()[0]
        if not keep_files:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return bool(existed)

    # -- workers
    @_reachable
    def beat(self, name: str, info: dict) -> bool:
        """Refresh a worker's heartbeat; True when someone asked it to stop."""
        with self.redis.pipeline() as pipe:
            pipe.sadd(self.key("workers"), name)
            pipe.set(self.key("worker", name), json.dumps(info), px=int(heartbeat_ttl() * 1000))
            pipe.exists(self.key("stop", name))
            return bool(pipe.execute()[2])

    @_reachable
    def forget_worker(self, name: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.srem(self.key("workers"), name)
            pipe.delete(self.key("worker", name), self.key("stop", name))
            pipe.execute()

    @_reachable
    def dead_workers(self) -> list[str]:
        """Workers still listed whose heartbeat has run out (SIGKILL, power cut, network loss)."""
        names = [n.decode() for n in self.redis.smembers(self.key("workers"))]
        alive = self.redis.mget([self.key("worker", n) for n in names]) if names else []
        return [n for n, raw in zip(names, alive) if raw is None]

    @_reachable
    def stop_workers(self, timeout: float = 30.0) -> bool:
        """Ask every live worker to stop (their running stages are re-queued); False when none ran."""
        names = [w["name"] for w in self.live_workers()]
        for name in names:
            self.redis.set(self.key("stop", name), 1, ex=int(timeout) + 60)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(self.live_worker(n) for n in names):
            time.sleep(0.1)
        return bool(names)

    @_reachable
    def take_turn(self, name: str, seconds: float) -> bool:
        """True for one caller per `seconds` (cluster-wide chores such as cleanup)."""
        return bool(self.redis.set(self.key("turn", name), 1, nx=True, ex=max(1, int(seconds))))

    def unit_pending(self, record: dict) -> bool:
        """Whether the ticket the record waits for is still in an RQ queue or being run."""
        unit = record.get("unit")
        if not unit:
            return False
        status = self.redis.hget(Job.redis_job_namespace_prefix + unit, "status")
        if status == b"queued":
            # RQ marks a ticket started only once it runs it: a worker stopped between taking a
            # ticket off the queue and running it leaves it "queued" in no queue, forever.
            return self.queue(record.get("unit_queue") or CPU).get_job_position(unit) is not None
        return status in (b"started", b"deferred", b"scheduled")

    def close(self) -> None:
        self.redis.close()

    # -- helpers
    def _issue_unit(self, pipe, record: dict, *, at_front: bool) -> None:
        """Enqueue (inside the caller's MULTI) the RQ ticket for the record's next run of stages."""
        capability = capability_of(record, next_stage(record))
        unit = uuid.uuid4().hex
        record["unit"] = unit
        record["unit_queue"] = capability
        if not self.serves(capability) and "no worker serves" not in (record.get("message") or ""):
            record["message"] = (f"{record.get('message') or 'Queued'} (no worker serves the {capability} queue "
                                 f"now: start one with `python -m dubbing worker --queue URL --queues {capability}`)")
        self.queue(capability).enqueue_call(
            TASK, args=(record["id"], unit, capability), job_id=unit, timeout=-1, result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL, at_front=at_front, pipeline=pipe,
            description=f"dub {record['id']} ({record['action']['kind']}) on {capability}")

    def _write(self, pipe, record: dict) -> None:
        pipe.set(self.key("job", record["id"]), self._encode(record))
        if record["status"] in (QUEUED, RUNNING):
            pipe.sadd(self.key("active"), record["id"])
        else:
            pipe.srem(self.key("active"), record["id"])

    def _many(self, ids: list[str]) -> list[dict]:
        raws = self.redis.mget([self.key("job", i) for i in ids]) if ids else []
        return [self._decode(raw) for raw in raws if raw]

    def _encode(self, record: dict) -> str:
        shared = dict(record)
        shared["job_dir"] = self._relative(record["job_dir"])
        shared["outputs"] = {k: self._relative(v) for k, v in (record.get("outputs") or {}).items()}
        return json.dumps(shared)

    def _decode(self, raw: bytes) -> dict:
        record = json.loads(raw)
        record["job_dir"] = str(self.root / record["job_dir"])
        record["outputs"] = {k: str(self.root / v) for k, v in (record.get("outputs") or {}).items()}
        return record

    def _relative(self, path: str) -> str:
        """A path under the data folder as relative to it (absolute paths elsewhere stay as they are)."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)


_stores: dict[tuple[str, str, int], RedisStore] = {}


def open_redis_store(url: str, root: Path | None = None) -> RedisStore:
    """The Redis store of `url` with job folders under `root` (default: the data folder), one per process."""
    root = Path(root).resolve() if root else st.data_dir()
    key = (url, str(root), os.getpid())
    store = _stores.get(key)
    if store is None:
        for stale_key in [k for k in _stores if k[2] != os.getpid()]:
            _stores.pop(stale_key, None)  # a connection pool must not cross a fork
        store = _stores[key] = RedisStore(url, root)
    return store
