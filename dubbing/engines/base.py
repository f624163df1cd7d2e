"""The tiny interfaces every engine implements, one per pipeline stage.

Engines know nothing of Streamlit, the job runner or the work folder layout:
they take arrays, text and paths and give back plain data. Heavy libraries are
imported inside methods so that listing engines never imports torch.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

# Progress within one stage: fraction done (0..1) and a short message.
Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str = "") -> None:
    pass


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""  # why not, and what to do about it

    @classmethod
    def yes(cls) -> "Availability":
        return cls(True, "")

    @classmethod
    def no(cls, reason: str) -> "Availability":
        return cls(False, reason)


@dataclass(frozen=True)
class Turn:
    """A stretch of audio in which one speaker talks."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    language: str
    language_probability: float
    segments: list[Segment]


@dataclass(frozen=True)
class Voice:
    id: str  # unique within its engine
    language: str  # ISO 639-1
    gender: str  # male / female / unknown
    name: str = ""


class Engine(ABC):
    """What every engine has: a stage, a name and a way to say whether it can run here."""

    stage: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_model: ClassVar[str] = ""

    def __init__(self, model: str = ""):
        self.model = model or self.default_model

    @classmethod
    @abstractmethod
    def availability(cls) -> Availability:
        """Cheap check (no model load): can this engine run here, and if not, why."""

    @classmethod
    def languages(cls) -> list[str]:
        """ISO 639-1 codes this engine handles; empty means any."""
        return []

    @classmethod
    def models(cls) -> list[str]:
        """Model names found here (installed or local)."""
        return [cls.default_model] if cls.default_model else []


class Diarizer(Engine):
    stage = "diarization"

    @abstractmethod
    def diarize(self, audio: np.ndarray, sr: int, *, num_speakers: int | None,
                progress: Progress = no_progress) -> list[Turn]:
        """Speaker turns, sorted by start, labels SPEAKER_00, SPEAKER_01, ... in order of first appearance."""


class Transcriber(Engine):
    stage = "stt"

    @abstractmethod
    def transcribe(self, audio: np.ndarray, sr: int, *, language: str | None,
                   progress: Progress = no_progress) -> Transcript:
        """Segments with word timestamps; `language` None means detect it."""


class Translator(Engine):
    stage = "translation"

    @classmethod
    def pairs(cls) -> list[tuple[str, str]]:
        """(source, target) ISO 639-1 pairs available here."""
        return []

    @classmethod
    def supports(cls, source: str, target: str) -> bool:
        return (source, target) in cls.pairs()

    @abstractmethod
    def translate(self, texts: list[str], source: str, target: str,
                  progress: Progress = no_progress) -> list[str]:
        """One translation per input text, same order and length."""


class TTSEngine(Engine):
    stage = "tts"

    @classmethod
    @abstractmethod
    def voices(cls, language: str) -> list[Voice]:
        """Voices that speak `language`, in a stable order."""

    @abstractmethod
    def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        """Write speech for `text` in `voice` to a WAV file at `out_path`."""

    @classmethod
    def catalog(cls) -> list[dict]:
        """Every voice here once, with its gender and the languages it speaks (for listings)."""
        rows: dict[tuple[str, str], dict] = {}
        for lang in cls.languages():
            for v in cls.voices(lang):
                row = rows.setdefault((v.name or v.id, v.gender), {"name": v.name or v.id, "gender": v.gender,
                                                                    "languages": [], "ids": []})
                row["languages"].append(lang)
                row["ids"].append(v.id)
        return list(rows.values())


class GenderClassifier(Engine):
    stage = "gender"

    @abstractmethod
    def classify(self, audio: np.ndarray, sr: int) -> tuple[str, float | None]:
        """(gender, a score such as median F0) for one speaker's audio."""
