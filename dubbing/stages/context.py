"""What every stage gets: the job folder, the settings, progress and cancellation.

Each stage is a module with `key(ctx)` (a hash of everything its output depends
on), `outputs(ctx)` (the files it makes) and `run(ctx)` (make them, atomically).
A stage whose key and outputs are current is skipped; a stage may add
`current(ctx)` for checks a key cannot express (edited utterances).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import CancelledError
from .. import revisions
from ..fsutil import atomic_write_text, file_digest
from ..models import Document, DubSettings

WORK = "work"
DOC = "utterances.json"


@dataclass
class Context:
    job_dir: Path
    settings: DubSettings
    progress: Callable[[float, str], None] = lambda f, m="": None
    should_cancel: Callable[[], bool] = lambda: False
    preview_seconds: float | None = None
    # Each document this context loaded, with what it looked like then (or at its last save):
    # a save merges only the stage's own changes since into the file as it is now.
    _bases: dict[int, tuple[Document, dict]] = field(default_factory=dict, repr=False)

    @property
    def work(self) -> Path:
        return self.job_dir / WORK

    @property
    def input(self) -> Path:
        return self.work / "input.mp4"

    @property
    def doc_path(self) -> Path:
        return self.job_dir / DOC

    def path(self, name: str) -> Path:
        return self.work / name

    def check_cancel(self) -> None:
        if self.should_cancel():
            raise CancelledError("cancelled by the user")

    # --- small JSON artifacts in the work folder --------------------------------
    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path(name), json.dumps(data, ensure_ascii=False, indent=1))

    def load_doc(self) -> Document:
        doc = Document.load(self.doc_path)  # saves replace the file atomically: no lock needed to read
        self._bases[id(doc)] = (doc, doc.to_dict())
        return doc

    def save_doc(self, doc: Document) -> None:
        """Save the stage's changes without overwriting a person's newer edits (dubbing.revisions)."""
        known = self._bases.get(id(doc))
        base = known[1] if known and known[0] is doc else None
        self._bases[id(doc)] = (doc, revisions.save_merged(self.doc_path, doc, base))

    # --- stage keys: what a finished stage's output was made from ----------------
    def stored_key(self, stage: str) -> str | None:
        p = self.path(f"stages/{stage}.json")
        if not p.exists():
            return None
        return json.loads(p.read_text()).get("key")

    def store_key(self, stage: str, key: str, detail: dict) -> None:
        self.write_json(f"stages/{stage}.json", {"key": key, "finished": time.time(), "detail": detail})

    def stage_detail(self, stage: str) -> dict:
        p = self.path(f"stages/{stage}.json")
        return json.loads(p.read_text()).get("detail", {}) if p.exists() else {}

    def input_digest(self) -> str:
        """Content hash of the input, cached by size and mtime (hashing 200 MB takes a second)."""
        st = self.input.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        cache = self.path("input.digest.json")
        if cache.exists():
            data = json.loads(cache.read_text())
            if data.get("stamp") == stamp:
                return data["digest"]
        digest = file_digest(self.input)
        self.write_json("input.digest.json", {"stamp": stamp, "digest": digest})
        return digest

    # --- engines chosen for this job (auto resolved once, with the reason) --------
    def engines(self) -> dict[str, dict[str, str]]:
        p = self.path("engines.json")
        return json.loads(p.read_text()) if p.exists() else {}

    def engine(self, stage: str, *, record_as: str | None = None, record: bool = True, **pick_args: str) -> str:
        """The engine name for a stage; `auto` is resolved once and recorded with why.

        `record_as` keeps a second pick for the same stage (a translator for a line in
        another language than the video's main one is recorded as "translation:<lang>").
        `record=False` only looks (a warm-up in the background must not write beside the stage).
        """
        chosen = self.engines()
        slot = record_as or stage
        if slot in chosen:
            return chosen[slot]["name"]
        from ..engines import registry
        requested = {"diarization": self.settings.diarization, "stt": self.settings.stt,
                     "translation": self.settings.translator, "tts": self.settings.tts,
                     "gender": "auto"}[stage]
        name, why = registry.pick(stage, requested, **pick_args)
        if not record:
            return name
        logging.getLogger(__name__).info("%s engine: %s (%s)", slot, name, why)
        chosen[slot] = {"name": name, "why": why}
        self.write_json("engines.json", chosen)
        return name
