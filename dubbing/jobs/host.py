"""The stage host: a child process of the worker that runs the pipeline's stages.

Why a child: so the worker can tell a stage that brings its own process down (out of
memory, a crash in native code) from a worker killed from outside. The worker waits
for the host's answer; when the host dies instead, the worker reads its exit status
(and the kernel's OOM count) and charges the stage with a crash. When the worker is
killed, nobody is charged: the host notices it lost its parent and ends itself with
everything it started, and the next worker simply resumes the stage.

The host keeps the engines the registry loaded, so later jobs reuse them. It leads its
own process group, so its ffmpeg, eSpeak or Apertium children go down with it.
"""
from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

from .. import procs
from ..errors import CancelledError
from ..joblog import job_log

log = logging.getLogger("dubbing.worker")

PARENT_CHECK_SECONDS = 0.2
WAIT_SLICE_SECONDS = 0.1  # how often a waiting worker looks for a cancel request
CANCEL_GRACE_SECONDS = 1.0  # a stage that has not stopped by itself this long after a cancel is killed


class HostDied(Exception):
    """The host process ended while it ran a stage."""

    def __init__(self, exitcode: int | None, oom_kills: int):
        super().__init__(procs.describe_exit(exitcode))
        self.exitcode = exitcode
        self.oom_kills = oom_kills

    @property
    def reason(self) -> str:
        text = procs.describe_exit(self.exitcode)
        if self.oom_kills:
            text += ", by the kernel's out-of-memory killer"
        elif self.exitcode == -signal.SIGKILL:
            text += " (out of memory?)"
        return text


class RemoteError(Exception):
    """A stage failed with an exception that cannot cross the process boundary as itself."""

    def __init__(self, type_name: str, text: str):
        super().__init__(f"{type_name}: {text}")
        self.type_name = type_name
        self.text = text

    def __reduce__(self):
        return (RemoteError, (self.type_name, self.text))


class StageHost:
    """One host process; `call` runs a pipeline function there and returns its result or raises its error.

    `pipeline` names the module whose functions it runs: the worker's (the runner's tests give their
    worker a fake). A name, not the module, because a module cannot be pickled to a spawned process.
    """

    def __init__(self, store_root: Path, pipeline: str = "dubbing.pipeline"):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child_conn, str(store_root), os.getpid(), pipeline),
                                   name="dubbing-stage-host", daemon=True)
        self.process.start()
        child_conn.close()

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def alive(self) -> bool:
        return self.process.is_alive()

    def call(self, name: str, *args: Any, cancelled: Callable[[], bool] = lambda: False, **kwargs: Any) -> Any:
        """Run pipeline.`name` in the host; its result, or its exception.

        Once `cancelled()` is true the stage has CANCEL_GRACE_SECONDS to stop by itself (it
        checks between segments, batches, lines); a stage inside one long native call does
        not, so the host is killed with everything it started (outputs are written
        atomically, so nothing half-made is left) and CancelledError is raised. The next
        stage gets a fresh host.
        """
        before = procs.oom_kills()
        asked_at = None
        try:
            self.conn.send((name, args, kwargs))
            while not self.conn.poll(WAIT_SLICE_SECONDS):
                if asked_at is None and cancelled():
                    asked_at = time.monotonic()
                    self.interrupt()
                if asked_at is not None and time.monotonic() - asked_at > CANCEL_GRACE_SECONDS:
                    self.close(timeout=0)
                    raise CancelledError(f"cancelled during {name} (its process was stopped)")
            kind, payload = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(10)
            self._kill_group()
            raise HostDied(self.process.exitcode, procs.oom_kills() - before) from None
        if kind == "ok":
            return payload
        raise payload

    def interrupt(self) -> None:
        """Ask the running stage to stop (it raises CancelledError at its next check)."""
        if self.alive():
            os.kill(self.pid, signal.SIGUSR1)

    def close(self, timeout: float = 5.0) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self._kill_group()
            self.process.join(5)
        self._kill_group()
        procs.sweep_private_tmp()  # its temp folder, and that of any host that died before it

    def _kill_group(self) -> None:
        """What the host started and left behind when it died (it led the group)."""
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# -- inside the host ------------------------------------------------------------------------------

_interrupted = threading.Event()


def interrupted() -> bool:
    return _interrupted.is_set()


def _serve(conn, store_root: str, parent_pid: int, pipeline_name: str) -> None:
    os.setpgid(0, 0)
    procs.use_private_tmp()  # what we and our children leave in it goes when we do (StageHost.close)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the worker, which stops us in order
    signal.signal(signal.SIGUSR1, lambda *_: _interrupted.set())
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s host[%(process)d] %(levelname)s %(message)s")
    from . import run

    pipeline = importlib.import_module(pipeline_name)
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        _interrupted.clear()
        # What the stage logs goes to its job's log too (the worker's thread logs there as well).
        job_dir = args[1] if name == "run_stage" else (args[0] if args and isinstance(args[0], str) else None)
        try:
            with job_log(Path(job_dir)) if job_dir else nullcontext():
                if name == "run_stage":
                    result = run.run_stage_here(pipeline, Path(store_root), *args, **kwargs)
                else:
                    result = getattr(pipeline, name)(*args, **kwargs)
            reply = ("ok", result)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the worker
            if not getattr(exc, "message", None):
                with job_log(Path(job_dir)) if job_dir else nullcontext():
                    log.error("%s failed: %s", name, traceback.format_exc())
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except (OSError, pickle.PicklingError):
            conn.send(("error", RemoteError("unsendable result", repr(reply[1])[:500])))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RemoteError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RemoteError(type(exc).__name__, str(exc))


def _watch_parent(parent_pid: int) -> None:
    """End the host and its children once the worker is gone (it was killed: nobody will read our answer)."""
    while True:
        if os.getppid() != parent_pid:
            try:
                os.killpg(0, signal.SIGKILL)
            finally:
                os._exit(1)
        time.sleep(PARENT_CHECK_SECONDS)
