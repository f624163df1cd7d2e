"""A log file per job: what the pipeline, its stages and the engines did for that job, and why it failed.

The worker runs each job in a thread of its own, several at once, so the file takes
only records logged from that thread (from every logger: ours, and the libraries'
warnings). The worker's own log (data/worker.log) keeps everything as before.
"""
from __future__ import annotations

import collections
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .stages.context import WORK

LOG_NAME = "job.log"  # in the job folder's work/ folder
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path(job_dir: Path) -> Path:
    return Path(job_dir) / WORK / LOG_NAME


class _ThisThread(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread


@contextmanager
def job_log(job_dir: Path) -> Iterator[Path]:
    """Append what this thread logs to the job's log file while the block runs."""
    from .engines.registry import name_engines_again
    name_engines_again()  # a stage host serves many jobs from one thread: each job's log names its engines
    path = log_path(job_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_ThisThread())
    ours = logging.getLogger("dubbing")
    if ours.getEffectiveLevel() > logging.INFO:
        ours.setLevel(logging.INFO)  # what ran and how long is INFO; without this only warnings would reach the file
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


def tail(job_dir: Path, lines: int = 50) -> list[str]:
    """The last `lines` lines of a job's log (none when it has no log yet)."""
    path = log_path(job_dir)
    if lines <= 0 or not path.exists():
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.rstrip("\n") for line in collections.deque(fh, maxlen=lines)]
