"""Peak memory of this process and its children while a block runs."""
from __future__ import annotations

import threading

import psutil


def rss_mb(proc: psutil.Process) -> float:
    """The process's resident memory plus its children's. A child caught between fork and exec
    still runs our program in our pages: counted, it doubled the figure (1 sample in 3 of a
    10-minute synthesis read 0.75 GB instead of 0.40, as each espeak started), so it is skipped."""
    total = proc.memory_info().rss
    own = proc.cmdline()
    for child in proc.children(recursive=True):
        try:
            if child.cmdline() != own:
                total += child.memory_info().rss
        except psutil.Error:
            pass  # a child that just exited
    return total / 2**20


class PeakMemory:
    """Samples RSS (self + children) every `interval` seconds in a daemon thread."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _sample(self) -> None:
        try:
            self.peak_mb = max(self.peak_mb, rss_mb(self._proc))
        except psutil.Error:
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.peak_mb = round(self.peak_mb, 1)
