"""Child processes that never outlive their parent, and evidence of why a process died.

Used by media.py (every ffmpeg/ffprobe) and by the job runner's stage host.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1

try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None


def die_with_parent() -> None:
    """preexec_fn for subprocess: the kernel kills the child when the thread that started it dies.

    Safe here because every caller waits for its child in the thread that started it.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def oom_kills() -> int:
    """How many processes the kernel's out-of-memory killer has killed (this cgroup's count where it has one)."""
    for path, key in (("/sys/fs/cgroup/memory.events", "oom_kill"), ("/proc/vmstat", "oom_kill")):
        try:
            for line in Path(path).read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}"
    return f"exited with status {exitcode}"


# Temp files of atomic_output() carry the writer's pid; those of tempfile.mkstemp() a random tag.
_PID_TEMP = re.compile(r"^\..+\.(\d+)\.tmp(\.[A-Za-z0-9]+)?$")
_RANDOM_TEMP = re.compile(r"^\..+\.tmp$")


def sweep_temp_files(folder: Path, *, min_age_s: float = 60.0) -> int:
    """Delete temp files that dead processes left under `folder`; how many.

    A pid-tagged file is removed when its process is gone; an untagged one when it is
    older than `min_age_s` (a live writer renames its file within moments).
    """
    removed = 0
    now = time.time()
    for path in Path(folder).rglob(".*.tmp*"):
        if not path.is_file():
            continue
        match = _PID_TEMP.match(path.name)
        try:
            if match:
                stale = not pid_alive(int(match.group(1))) or int(match.group(1)) == 0
            else:
                stale = bool(_RANDOM_TEMP.match(path.name)) and now - path.stat().st_mtime > min_age_s
            if stale:
                path.unlink()
                removed += 1
        except (OSError, ValueError):
            continue
    return removed


# A stage host's own temp folder, named by its pid (`use_private_tmp`).
_PRIVATE_TMP = re.compile(r"^dubbing-host\.(\d+)$")


def use_private_tmp() -> Path:
    """Point this process's temp files, and those of every program it starts, at a folder of its own.

    Why: a program killed with its stage host never runs its own clean-up (apertium's shell
    script removes its mktemp files in an EXIT trap, which SIGKILL skips), and nothing else
    can tell its files from another's. A folder named by our pid is one the worker can
    remove once that pid is gone (`sweep_private_tmp`).
    """
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"dubbing-host.{os.getpid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    return folder


def sweep_private_tmp() -> int:
    """Remove the private temp folders of stage hosts that are gone; how many."""
    import shutil
    import tempfile

    removed = 0
    for path in Path(tempfile.gettempdir()).glob("dubbing-host.*"):
        match = _PRIVATE_TMP.match(path.name)
        if match and path.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
