"""One worker per store: the lock, and starting and stopping the background worker.

Exactly one worker serves a store: it holds an exclusive ``flock`` on ``worker.lock``,
which the kernel frees when the process dies, however it dies. A spawner takes the
lock itself and hands the locked descriptor to the child (``pass_fds``), so two quick
spawns cannot both start a worker.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..fsutil import atomic_write_text
from . import store as st
from .store import open_store


def try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock on `path`, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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


# What `spawn_worker` runs, after the interpreter. The runner's tests spawn their own entry point
# instead (tests/fake_runner.py), which serves this same worker with their fake pipeline injected.
WORKER_COMMAND = ["-m", "dubbing.jobs.worker"]

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
    try:
        rotate_log(root / "worker.log")
        with open(os.open(root / "worker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as logfile:
            # Its own session: the worker outlives the Streamlit server and gets none of its signals.
            proc = subprocess.Popen(
                [sys.executable, *WORKER_COMMAND, "--data-dir", str(root),
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
        pid = worker_pid(root)  # read again: a worker may have been starting when we looked
        if pid not in signalled:
            send_signal(pid, signal.SIGTERM)
            signalled.add(pid)
        if not lock_held(lock):
            return True
        time.sleep(0.1)
    for pid in signalled | {worker_pid(root)}:
        send_signal(pid, signal.SIGKILL)
    while lock_held(lock) and time.monotonic() < deadline + 10:
        time.sleep(0.1)
    return True


def worker_pid(root: Path) -> int:
    try:
        return int((root / "worker.pid").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        info = open_store(root).worker_info() or {}
        return int(info.get("pid") or 0)


def send_signal(pid: int, sig: int) -> None:
    if pid > 0:  # os.kill(0, ...) would signal our own process group
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def rotate_log(path: Path, max_bytes: int = 5 << 20) -> None:
    try:
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_suffix(".log.1"))
    except FileNotFoundError:
        pass
