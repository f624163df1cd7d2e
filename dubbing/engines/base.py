"""The tiny interfaces every engine implements, one per pipeline stage.

Engines know nothing of Streamlit, the job runner or the work folder layout:
they take arrays, text and paths and give back plain data. Heavy libraries are
imported inside methods so that listing engines never imports torch.
"""
from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

# Progress within one stage: fraction done (0..1) and a short message.
Progress = Callable[[float, str], None]
# What Whisper's language ID found in one window: the language, its probability, the likeliest five.
Detection = tuple[str, float, dict[str, float]]
# The detections of windows heard together (one encoder batch, in order) -> the language to
# transcribe each in. Batch by batch, in the order of the windows given.
LanguageChoice = Callable[[list[Detection]], list[str]]


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
class Piece:
    """A stretch of the track (seconds) that goes into a packed transcription window."""

    start: float
    end: float


@dataclass
class WindowTranscript:
    """What one packed window (pieces of one speaker, at most 30 s together) said, times in the track."""

    language: str
    language_probability: float
    segments: list[Segment]
    alternatives: dict[str, float] = field(default_factory=dict)  # the likeliest languages and their probability
    logprob: float | None = None  # mean log-probability per token of the text decoded (None: not known)


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

    def warm(self) -> None:
        """Load now what the first call would load later (run in the background while an earlier
        stage works); thread-safe against that call. Most engines load all they need when made."""

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

    # Engines that keep what they measured (e.g. speaker embeddings) can re-detect speakers
    # with another count cheaply: `diarize` leaves it in `self.state` (arrays by name) and
    # `recluster(state, n)` gives new turns from it without touching the audio again.
    state: dict[str, np.ndarray] | None = None

    @classmethod
    def recluster(cls, state: dict[str, np.ndarray], num_speakers: int | None) -> list[Turn]:
        raise NotImplementedError(f"{cls.name} cannot re-detect speakers without running again")


PACK_GAP_S = 0.4  # silence between packed pieces: Whisper hears a pause, not a run-on sentence
LOOP_RATIO = 2.4  # Whisper's own limit on the gzip compression ratio of a text: above it, a decoding loop


def compression_ratio(text: str) -> float:
    """How much gzip shrinks `text` (UTF-8), as Whisper measures a decode for loops; 0 for no text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


# A segment that says the one before it again in less than this per word was not said again. Far-field
# AMI speech among French prompts, decoded in French, gave "T'es l'autre." ten times in 0.9 s, eight of
# them 0.00-0.14 s long: each short enough to pass the compression limit, and their words, sorted by
# time, made a line "'es'autre. l T T'es l'autre. T'es l'autre. ..." (154 characters).
LOOP_WORD_S = 0.1


def looped(text: str, start: float, end: float, previous: str | None) -> bool:
    """Whether a decoded segment is a decoding loop rather than speech: its text repeats itself past
    Whisper's own limit, or it repeats the segment before it (`previous`) in no time to say it."""
    if compression_ratio(text) > LOOP_RATIO:
        return True
    words = max(1, len(text.split()))
    return previous is not None and text.strip() == previous.strip() and end - start < LOOP_WORD_S * words


class Transcriber(Engine):
    stage = "stt"

    @abstractmethod
    def transcribe(self, audio: np.ndarray, sr: int, *, language: str | None,
                   progress: Progress = no_progress) -> Transcript:
        """Segments with word timestamps; `language` None means detect it."""

    def transcribe_windows(self, audio: np.ndarray, sr: int, windows: list[list[Piece]], *,
                           language: str | None, progress: Progress = no_progress,
                           gap: float = PACK_GAP_S, choose: LanguageChoice | None = None
                           ) -> list[WindowTranscript]:
        """Each window's pieces, played one after the other with `gap` seconds of silence between,
        transcribed in the window's own language (detected when `language` is None), times mapped
        back to the track.

        The stage packs one speaker's turns into a window, so each speaker's language is heard
        and a window costs one encoder pass however many turns it holds. This default runs
        `transcribe` on each window; an engine may batch them.

        `choose`, when given with no `language`, picks from the detections of each batch of windows
        the language each is transcribed in; the result then holds that language, with the detection's
        probability and alternatives. An engine that cannot choose between detecting and decoding ignores it
        (as this default does): the stage hears such windows again.
        """
        out = []
        for i, pieces in enumerate(windows):
            packed, mapping = pack(audio, sr, pieces, gap)
            t = self.transcribe(packed, sr, language=language)
            out.append(WindowTranscript(t.language, t.language_probability,
                                        [unpack_segment(s, mapping) for s in t.segments]))
            progress((i + 1) / len(windows), f"transcribed {i + 1}/{len(windows)} windows")
        return out

    def detect_languages(self, audio: np.ndarray, sr: int, pieces: list[Piece]
                         ) -> list[tuple[str, float, dict[str, float]]] | None:
        """(language, probability, the likeliest languages with theirs) of each piece from its own
        audio; None when the engine cannot tell."""
        return None


def pack(audio: np.ndarray, sr: int, pieces: list[Piece], gap_s: float = PACK_GAP_S
         ) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """The pieces' audio in one array with `gap_s` of silence between, and (packed start, track start,
    length) per piece."""
    parts, mapping, t = [], [], 0.0
    gap = np.zeros(int(gap_s * sr), dtype=np.float32)
    for i, p in enumerate(pieces):
        if i:
            parts.append(gap)
            t += len(gap) / sr
        clip = audio[int(p.start * sr):int(p.end * sr)].astype(np.float32, copy=False)
        parts.append(clip)
        mapping.append((t, p.start, len(clip) / sr))
        t += len(clip) / sr
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), mapping


def _piece_at(t: float, mapping: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The packed piece holding packed time t, or the nearest one."""
    return min(mapping, key=lambda m: 0.0 if m[0] <= t <= m[0] + m[2] else min(abs(t - m[0]), abs(t - m[0] - m[2])))


def unpack_time(t: float, mapping: list[tuple[float, float, float]], piece=None) -> float:
    """A packed time as a time in the track, inside `piece` (default: the piece nearest t)."""
    if not mapping:
        return t
    packed_start, track_start, length = piece or _piece_at(t, mapping)
    return round(track_start + min(max(t - packed_start, 0.0), length), 3)


def unpack_segment(seg: Segment, mapping: list[tuple[float, float, float]]) -> Segment:
    """Times mapped back to the track. A word belongs to the piece that holds its middle: a word that
    straddles the pause between two pieces is never stretched across the time between them."""
    words = []
    for w in seg.words:
        piece = _piece_at((w.start + w.end) / 2, mapping)
        words.append(Word(unpack_time(w.start, mapping, piece), unpack_time(w.end, mapping, piece), w.text))
    return Segment(unpack_time(seg.start, mapping), unpack_time(seg.end, mapping), seg.text, words)


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

    # Engines that can speak with a voice cloned from a recording say so and implement
    # `clone_voice`; the pipeline clones only when the user opts in.
    can_clone: ClassVar[bool] = False

    @classmethod
    def clone_voice(cls, audio: np.ndarray, sr: int, spans: list[tuple[float, float]], reference_path: Path,
                    language: str) -> str:
        """A voice id (of this engine) that speaks `language` like the speaker heard in `spans` (seconds)
        of `audio`; the reference recording it needs is written to `reference_path`."""
        raise NotImplementedError(f"the {cls.name} engine cannot clone voices")

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
    # Whether speakers may be classified side by side in threads: a cheap numpy engine gains two
    # cores; a large model would hold two sets of activations at once.
    concurrent = False

    @abstractmethod
    def classify(self, audio: np.ndarray, sr: int) -> tuple[str, float | None]:
        """(gender, a score such as median F0) for one speaker's audio."""
