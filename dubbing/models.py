"""The data model: utterances, speakers, settings, and the `utterances.json` document.

This is the one home for these types. The pipeline, the job runner, the command
line and the pages all read and write them through this module.

`utterances.json` schema (version 1)::

    {
      "schema_version": 1,
      "source_language": "en",          # ISO 639-1, detected or given
      "target_language": "es",
      "engines": {"diarization": "resemblyzer", "stt": "faster-whisper", ...},
      "models":  {"stt": "base", ...},
      "picks":   {"tts": {"name": "piper", "why": "..."}},  # what `auto` chose
      "duration": 10.0,                 # of the source video, seconds
      "settings": {...},                # DubSettings.to_dict()
      "speakers": {"SPEAKER_00": {"gender": "male", "voice": "espeak:es+m3",
                                  "median_f0": 112.0, "name": "SPEAKER_00"}},
      "utterances": [Utterance.to_dict(), ...]
    }

A person may edit `text`, `translated_text`, `voice`, `speaker`, `gender`,
`start`, `end` and `muted` of any utterance, and `gender`/`voice`/`name` of a
speaker; `dubbing update` re-makes only what those edits touch.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .fsutil import atomic_write_text

SCHEMA_VERSION = 1
MALE, FEMALE, UNKNOWN = "male", "female", "unknown"
GENDERS = (MALE, FEMALE, UNKNOWN)


def stable_hash(*parts: Any) -> str:
    """A short hash of JSON-able parts; stable across runs and processes."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class Utterance:
    """One line of speech by one speaker, and everything made from it."""

    id: int
    start: float  # seconds in the source video
    end: float
    speaker: str
    text: str  # the source-language transcript
    gender: str = UNKNOWN
    translated_text: str = ""
    voice: str = ""  # "<engine>:<voice id>", empty = the speaker's voice
    muted: bool = False  # keep the original audio here, make no speech
    # Set by the timing fit: how much the speech was sped up, and whether it
    # still did not fit before the next utterance.
    speed: float = 1.0
    overrun: bool = False
    overrun_seconds: float = 0.0
    tts_seconds: float = 0.0  # length of the speech before fitting
    # Bookkeeping that tells which inputs changed since the last run.
    translation_source: str | None = None  # the text `machine_translation` came from
    machine_translation: str | None = None  # the translator's output, before edits
    render_key: str | None = None  # hash of what the fitted clip was made from
    clip: str | None = None  # fitted clip, relative to the work folder

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def translation_edited(self) -> bool:
        return self.machine_translation is not None and self.translated_text != self.machine_translation

    @property
    def needs_translation(self) -> bool:
        """The source text changed (or was never translated) and no person wrote a translation for it."""
        if self.translation_source == self.text:
            return False
        return not self.translation_edited or not self.translated_text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Utterance":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        utt = cls(**kwargs)
        utt.id = int(utt.id)
        utt.start, utt.end = round(float(utt.start), 3), round(float(utt.end), 3)
        utt.speaker = str(utt.speaker)
        utt.muted = bool(utt.muted)
        if utt.gender not in GENDERS:
            utt.gender = UNKNOWN
        return utt


@dataclass
class Speaker:
    gender: str = UNKNOWN
    voice: str = ""
    median_f0: float | None = None
    name: str = ""
    # The gender last copied onto this speaker's utterances: tells whether a person
    # then edited the speaker's gender or the gender of one of its lines.
    applied_gender: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Speaker":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


MIX_DUCK, MIX_REPLACE = "duck", "replace"


@dataclass
class DubSettings:
    """Everything a user chooses for one dub. Stored with every job."""

    target_language: str
    source_language: str = "auto"
    diarization: str = "auto"
    diarization_model: str = ""
    stt: str = "auto"
    stt_model: str = "base"
    translator: str = "auto"
    translation_model: str = ""
    tts: str = "auto"  # piper for English where it is installed, else espeak
    tts_model: str = ""
    speakers: int | None = None  # None = estimate
    clone_voices: bool = False  # XTTS only: each speaker's voice cloned from their own original audio
    max_speed: float = 1.3
    mix_mode: str = MIX_DUCK
    duck_db: float = -18.0  # original track level under dubbed speech
    review: bool = False
    preview_seconds: float | None = None  # render only the first N seconds
    keep_intermediate: bool = True
    audio_track: int = 0  # which audio track to dub (0: the first), for videos with several

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DubSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Document:
    """The `utterances.json` document: the state a person reviews and edits."""

    source_language: str
    target_language: str
    settings: DubSettings
    engines: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    speakers: dict[str, Speaker] = field(default_factory=dict)
    utterances: list[Utterance] = field(default_factory=list)
    duration: float = 0.0  # of the source video, seconds
    picks: dict[str, dict[str, str]] = field(default_factory=dict)  # what `auto` chose per stage, and why
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "source_language": self.source_language,
            "target_language": self.target_language,
            "duration": self.duration,
            "engines": dict(self.engines),
            "models": dict(self.models),
            "picks": dict(self.picks),
            "settings": self.settings.to_dict(),
            "speakers": {k: v.to_dict() for k, v in self.speakers.items()},
            "utterances": [u.to_dict() for u in self.utterances],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Document":
        version = int(data.get("schema_version", 0))
        if version != SCHEMA_VERSION:
            raise ValueError(f"utterances.json has schema version {version}; this version reads {SCHEMA_VERSION}")
        utts = [Utterance.from_dict(u) for u in data.get("utterances", [])]
        utts.sort(key=lambda u: (u.start, u.id))
        return cls(
            source_language=data["source_language"],
            target_language=data["target_language"],
            settings=DubSettings.from_dict(data.get("settings", {"target_language": data["target_language"]})),
            engines=dict(data.get("engines", {})),
            models=dict(data.get("models", {})),
            speakers={str(k): Speaker.from_dict(v) for k, v in data.get("speakers", {}).items()},
            utterances=utts,
            duration=float(data.get("duration", 0.0)),
            picks=dict(data.get("picks", {})),
        )

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, path: Path) -> "Document":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def voice_of(self, utt: Utterance) -> str:
        """The voice an utterance is spoken in: its own, else its speaker's."""
        if utt.voice:
            return utt.voice
        spk = self.speakers.get(utt.speaker)
        return spk.voice if spk else ""

    def validate(self) -> list[str]:
        """Problems a person's edit may have introduced, as messages."""
        problems = []
        for u in self.utterances:
            if u.end <= u.start:
                problems.append(f"utterance {u.id}: end ({u.end}) must be after start ({u.start})")
            if u.start < 0 or (self.duration and u.end > self.duration + 0.05):
                problems.append(f"utterance {u.id}: times must lie within 0..{self.duration:.2f} s")
        ids = [u.id for u in self.utterances]
        if len(ids) != len(set(ids)):
            problems.append("utterance ids must be unique")
        return problems
