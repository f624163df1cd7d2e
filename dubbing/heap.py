"""glibc's heap: freed memory handed back between stages, and few malloc arenas.

Memory should stay flat in a video's length (issue 13: a 10-minute dub within 1.25x of a
3-minute one). What grew was not live data but free blocks glibc kept. Off glibc (macOS,
musl) these do nothing.
"""
from __future__ import annotations

import ctypes

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h

# Loaded once, from the symbols the process already has (as procs.py does): find_library("c")
# ran ldconfig in a child process at every call, 6 ms at import and after each stage.
try:
    _libc = ctypes.CDLL(None)
except OSError:  # pragma: no cover - not a Unix
    _libc = None
_glibc = _libc if hasattr(_libc, "malloc_trim") and hasattr(_libc, "mallopt") else None


def release_free_memory() -> None:
    """Hand the heap pages freed by the last stage back to the system (malloc_trim).

    After transcribing 10 minutes the process held 730 MB, 470 MB of it free, and the mix then
    peaked at 1.9 GB instead of 1.1 GB. Trimming between stages keeps one stage's leftovers out of
    the next stage's peak.
    """
    if _glibc is not None:
        _glibc.malloc_trim(0)


def cap_arenas(arenas: int = 2) -> None:
    """At most `arenas` malloc heaps for all threads (glibc makes up to 8 per core, one per busy
    thread, each keeping its own free blocks). After Whisper's threads had run, the line fitting's
    threads peaked 560 MB above where they started, against 160-190 MB with two arenas, at the same
    speed; transcription's own peak went 0.82 -> 0.75 GB. Threads that already have an arena keep
    it, so this runs when `dubbing` is first imported, before numpy starts its threads."""
    if _glibc is not None:
        _glibc.mallopt(_M_ARENA_MAX, arenas)
