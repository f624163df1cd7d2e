"""Which job runner serves this process: the diskcache store with one local worker (the default),
or Redis with RQ workers on any number of machines when ``DUBBING_QUEUE`` names a Redis server.

    DUBBING_QUEUE=redis://host:6379/0      (also rediss://, unix://)

The client calls these instead of the store and the worker directly, so the pages and the
command line never know which backend runs. The setting is read on every call (tests switch it).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DubbingError, ExitCode
from . import store as st
from .worker import lock_held, spawn_worker
from .worker import stop_worker as _stop_local_worker

SCHEMES = ("redis://", "rediss://", "unix://")


class QueueSettingError(DubbingError):
    code = ExitCode.USAGE


def queue_url() -> str | None:
    """The Redis URL of DUBBING_QUEUE, or None for the diskcache runner."""
    url = os.environ.get("DUBBING_QUEUE", "").strip()
    if not url:
        return None
    if not url.startswith(SCHEMES):
        raise QueueSettingError(f"DUBBING_QUEUE={url!r} is not a Redis URL; use redis://HOST:6379/0 "
                                "(or leave it unset for the single-machine worker)")
    return url


def open_store(root: Path | None = None):
    """The job store of this process: a diskcache `Store`, or a `RedisStore` with the same methods."""
    url = queue_url()
    if url is None:
        return st.open_store(root)
    from .redis_store import open_redis_store

    return open_redis_store(url, root)


def ensure_worker() -> None:
    """Start the local worker (diskcache only: Redis workers are started on their machines)."""
    if queue_url() is None:
        spawn_worker(st.open_store().root)


def stop_worker(timeout: float = 30.0) -> bool:
    """Stop the local worker, or ask every Redis worker to stop; False when none ran."""
    if queue_url() is None:
        return _stop_local_worker(st.open_store().root, timeout=timeout)
    return open_store().stop_workers(timeout=timeout)


def worker_running() -> bool:
    if queue_url() is None:
        return lock_held(st.open_store().lock_path)
    return open_store().worker_alive()
