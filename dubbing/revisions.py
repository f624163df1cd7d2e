"""Saving utterances.json without losing anyone's change.

Two writers share the document: people (the pages, `dubbing edit`, an import) and
the worker's stages (translate, voices, synthesize). Every save increments the
document's `revision`, under one lock (a `flock` on ``utterances.json.lock``):

- a person's save (`save_checked`) states the revision it was based on and is
  refused with `RevisionConflict` when the file moved on since: they reload and
  re-apply, nothing is silently overwritten;
- a stage's save (`save_merged`) never fails: it merges the fields the stage
  changed since it loaded the document into whatever is on disk now, so a line a
  person edited meanwhile keeps the person's text while other lines get the
  stage's output. Fields derived from a line's inputs (render keys, translation
  sources) are hashes or copies of those inputs, so a merged line whose input a
  person changed is simply seen as stale by the next run.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import RevisionConflict
from .models import Document

_held = threading.local()


def lock_path(doc_path: Path) -> Path:
    doc_path = Path(doc_path)
    return doc_path.with_name(doc_path.name + ".lock")


@contextmanager
def locked(doc_path: Path) -> Iterator[None]:
    """Hold the document's lock (re-entrant within a thread; across threads and processes exclusive)."""
    key = str(Path(doc_path).resolve())
    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = set()
    if key in held:
        yield
        return
    path = lock_path(doc_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def disk_revision(doc_path: Path) -> int | None:
    """The revision of the file on disk; None when there is no file (a version 1 file counts as 0)."""
    try:
        data = json.loads(Path(doc_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return 0
    rev = data.get("revision", 0) if isinstance(data, dict) else 0
    return rev if isinstance(rev, int) and not isinstance(rev, bool) else 0


def save_checked(doc_path: Path, doc: Document, base_revision: int | None = None) -> int:
    """A person's save; `base_revision` (default: the revision `doc` was loaded at) must be current.

    The document is validated first; nothing is written when it is invalid or stale. The new revision.
    """
    base = doc.revision if base_revision is None else int(base_revision)
    # Read back as it will be read: catches a wrong type set on a loaded document (u.muted = "false").
    Document.from_dict(doc.to_dict()).check()
    with locked(doc_path):
        current = disk_revision(doc_path)
        if current is not None and current != base:
            raise RevisionConflict(current, base)
        doc.revision = (current or 0) + 1
        doc.save(doc_path)
    return doc.revision


def save_merged(doc_path: Path, doc: Document, base: dict[str, Any] | None) -> dict[str, Any]:
    """A stage's save: the changes from `base` (the document as the stage loaded or last saved it)
    to `doc`, applied to the file as it is now. Without a base (a fresh build) `doc` replaces the file.

    Returns the stage's own view as saved (its next base); `doc.revision` becomes the written revision.
    """
    ours = doc.to_dict()
    with locked(doc_path):
        current = disk_revision(doc_path)
        if base is None or current is None:
            doc.revision = (current or 0) + 1
            doc.save(doc_path)
            return doc.to_dict()
        theirs = json.loads(Path(doc_path).read_text(encoding="utf-8"))
        merged = Document.from_dict(merge(base, ours, theirs))
        merged.revision = current + 1
        merged.save(doc_path)
    doc.revision = merged.revision
    return ours | {"revision": merged.revision}


def merge(base: dict, ours: dict, theirs: dict) -> dict:
    """Three-way merge of documents as dicts. Per field: ours where we changed it and they did not,
    theirs otherwise (a person's newer change wins over the stage's). Lines and speakers match by id/key:
    those they deleted stay deleted, those they added stay, those only we added are added."""
    out = dict(theirs)
    for key, value in ours.items():
        if key not in ("utterances", "speakers", "revision", "next_id", "schema_version"):
            out[key] = _pick(base.get(key), value, theirs.get(key))
    out["next_id"] = max(ours.get("next_id", 0), theirs.get("next_id", 0))
    out["speakers"] = _merge_keyed(base.get("speakers", {}), ours.get("speakers", {}), theirs.get("speakers", {}))
    by_id = lambda doc: {u["id"]: u for u in doc.get("utterances", [])}  # noqa: E731
    lines = _merge_keyed(by_id(base), by_id(ours), by_id(theirs))
    out["utterances"] = sorted(lines.values(), key=lambda u: (u["start"], u["id"]))
    return out


def _merge_keyed(base: dict, ours: dict, theirs: dict) -> dict:
    out = {}
    for key, mine in ours.items():
        if key in theirs:
            old = base.get(key, {})
            out[key] = {f: _pick(old.get(f), mine.get(f), theirs[key].get(f)) for f in theirs[key].keys() | mine.keys()}
        elif key not in base:
            out[key] = mine  # made by the stage since it loaded
    for key, other in theirs.items():
        out.setdefault(key, other)
    return out


def _pick(base: Any, ours: Any, theirs: Any) -> Any:
    return ours if ours != base and theirs == base else theirs
