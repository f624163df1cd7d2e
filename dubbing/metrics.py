"""Peak memory of this process and its children while a block runs."""
from __future__ import annotations

import threading

import psutil


def rss_mb(proc: psutil.Process) -> float:
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
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
