"""Dubbing Studio: dub MP4 videos into another language."""
from . import heap

heap.cap_arenas()  # first, before numpy's threads take arenas of their own (see heap.py)
