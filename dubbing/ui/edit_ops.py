"""The page's structural edits, each `(doc, ...) -> (doc, problems)`, on top of dubbing.edits.

dubbing.edits raises DubbingError subclasses with a message for a person; here they become
the "problems" list the page shows, and the document is left as it was.
"""
from __future__ import annotations

import copy

from ..errors import DubbingError
from ..models import Document

try:
    from .. import edits
except ImportError:  # an installation without the editing operations
    edits = None


def available() -> bool:
    return edits is not None


def _apply(doc: Document, fn, *args, **kwargs) -> tuple[Document, list[str]]:
    out = copy.deepcopy(doc)  # the operations change the document in place; a refused one leaves no trace
    try:
        fn(out, *args, **kwargs)
    except (DubbingError, ValueError) as exc:
        return doc, [getattr(exc, "message", None) or str(exc)]
    return out, []


def split(doc: Document, uid: int, *, word: int | None = None, at: float | None = None):
    if word is not None:
        return _apply(doc, edits.split, uid, word=word)
    return _apply(doc, edits.split, uid, at=at)


def merge(doc: Document, uid: int):
    return _apply(doc, edits.merge, uid)


def delete(doc: Document, uid: int):
    return _apply(doc, edits.delete, uid)


def add(doc: Document, start: float, end: float, speaker: str, text: str):
    return _apply(doc, edits.add, start=start, end=end, speaker=speaker, text=text)


def move(doc: Document, uid: int, speaker: str):
    """To a speaker by key or name; a new name creates the speaker (with a voice of their own at render)."""
    return _apply(doc, edits.move_to_speaker, uid, speaker)


def times(doc: Document, uid: int, start: float, end: float):
    return _apply(doc, edits.nudge, uid, start=start, end=end)
