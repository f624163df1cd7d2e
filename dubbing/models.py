"""The data model: utterances, speakers, settings, and the `utterances.json` document.

This is the one home for these types. The pipeline, the job runner, the command
line and the pages all read and write them through this module; structural edits
(split, merge, add, delete, move, nudge) live in `dubbing.edits`, and the
revision-checked, locked saves in `dubbing.revisions`.

`utterances.json` schema (version 2)::

    {
      "schema_version": 2,
      "revision": 7,                    # +1 on every save; a save based on an older one is refused
      "next_id": 42,                    # ids are never reused, so a deleted line's id stays dead
      "source_language": "en",          # ISO 639-1, detected or given
      "target_language": "es",
      "engines": {"diarization": "resemblyzer", "stt": "faster-whisper", ...},
      "models":  {"stt": "base", ...},
      "picks":   {"tts": {"name": "piper", "why": "..."}},  # what `auto` chose
      "duration": 10.0,                 # of the source video, seconds
      "settings": {...},                # DubSettings.to_dict()
      "speakers": {"SPEAKER_00": Speaker.to_dict(), ...},
      "utterances": [Utterance.to_dict(), ...]
    }

Reading is strict: a wrong type (``"muted": "false"``), a ``null`` where text
belongs, NaN or infinite numbers and unknown keys are refused with a message
naming the line and the field (`InvalidDocumentError`); `Document.validate` adds
the checks across lines (times, overlaps, unknown speakers, text length).
Version 1 files are migrated on load (they were read leniently, so they still are).

A person may edit `text`, `translated_text`, `voice`, `speaker`, `gender`,
`start`, `end` and `muted` of any utterance, and `gender`/`voice`/`name` of a
speaker; `dubbing update` re-makes only what those edits touch.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass as strict_dataclass
from typing_extensions import TypedDict

from .errors import BadInputError, DubbingError, ExitCode
from .fsutil import atomic_write_text

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
MALE, FEMALE, UNKNOWN = "male", "female", "unknown"
GENDERS = (MALE, FEMALE, UNKNOWN)
MAX_TEXT_CHARS = 5000  # far above any spoken line; a pasted book is a mistake, not a line
OVERLAP_TOLERANCE_S = 0.001  # times are kept to the millisecond

# Strict at the boundary: no coercion of "false" to False, no NaN, no unknown keys.
_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class InvalidDocumentError(BadInputError, ValueError):
    """utterances.json (or an edit of it) breaks the schema; `problems` name each line and field."""

    code = ExitCode.USAGE

    def __init__(self, problems: list[str], where: str = "utterances.json"):
        super().__init__(f"{where} is not valid: " + "; ".join(problems))
        self.problems = problems


def stable_hash(*parts: Any) -> str:
    """A short hash of JSON-able parts; stable across runs and processes."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class Word(TypedDict):
    """One recognised word of a line, with its time in the source video (seconds)."""

    start: float
    end: float
    text: str  # as the recogniser gave it, usually with its leading space


@strict_dataclass(config=_STRICT)
class Utterance:
    """One line of speech by one speaker, and everything made from it."""

    id: int
    start: float  # seconds in the source video
    end: float
    speaker: str  # a key of Document.speakers
    text: str  # the source-language transcript
    gender: str = UNKNOWN
    translated_text: str = ""
    voice: str = ""  # "<engine>:<voice id>", empty = the speaker's voice
    muted: bool = False  # keep the original audio here, make no speech
    words: list[Word] = field(default_factory=list)  # word timings of this line; empty in old files
    language: str = ""  # the line's spoken language; "" = the document's source_language
    note: str = ""  # why the machine left this line alone (e.g. no translator for its language)
    # Set by the timing fit: how much the speech was sped up, and whether it
    # still did not fit before the next utterance.
    speed: float = 1.0
    overrun: bool = False
    overrun_seconds: float = 0.0
    tts_seconds: float = 0.0  # length of the speech before fitting
    fill: float = 0.0  # fitted speech / the line's slot (end - start): how much of the original time the dub fills
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
        """A person wrote this translation: it differs from the machine's, or no machine made it
        (typed into a line never translated, or imported from a file without our bookkeeping)."""
        return bool(self.translated_text) and self.translated_text != self.machine_translation

    @property
    def needs_translation(self) -> bool:
        """The source text changed (or was never translated) and no person wrote a translation for it."""
        if self.translation_source == self.text:
            return False
        return not self.translation_edited

    def to_dict(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict: its deep copy of every word made saving 2000 lines take 0.8 s.
        out = {name: getattr(self, name) for name in _UTTERANCE_FIELDS}
        out["words"] = [dict(w) for w in self.words]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Utterance":
        utt = cls(**data)
        utt.start, utt.end = round(utt.start, 3), round(utt.end, 3)
        return utt


_UTTERANCE_FIELDS = tuple(f.name for f in fields(Utterance))


@strict_dataclass(config=_STRICT)
class Speaker:
    gender: str = UNKNOWN
    voice: str = ""
    median_f0: float | None = None
    name: str = ""  # display name; the key in Document.speakers never changes
    pinned: bool = False  # a person fixed this voice: kept through gender edits and re-renders, and in later jobs of the same video
    # The gender last copied onto this speaker's utterances: tells whether a person
    # then edited the speaker's gender or the gender of one of its lines.
    applied_gender: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Speaker":
        return cls(**data)


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
    pause_split: float = 0.5  # a pause this long (seconds) within one person's speech starts a new line
    clone_voices: bool = False  # XTTS only: each speaker's voice cloned from their own original audio
    max_speed: float = 1.3
    min_speed: float = 0.9  # a short line is slowed down at most to this, to fill its slot
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


_DOC_KEYS = ("schema_version", "revision", "next_id", "source_language", "target_language", "duration",
             "engines", "models", "picks", "settings", "speakers", "utterances")


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
    revision: int = 0  # the save this document came from (dubbing.revisions checks it)
    next_id: int = 0  # the id the next new line gets

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "revision": self.revision,
            "next_id": max(self.next_id, self._max_id() + 1),  # also for lines appended directly
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
    def from_dict(cls, data: Any) -> "Document":
        """Read a document strictly; InvalidDocumentError names every bad line and field."""
        if not isinstance(data, dict):
            raise InvalidDocumentError([f"the top level must be an object, not {type(data).__name__}"])
        version = data.get("schema_version", 0)
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise InvalidDocumentError([f"schema version {version!r} is unknown; this version reads "
                                        + " and ".join(map(str, READABLE_VERSIONS))])
        if version == 1:
            data = migrate_v1(data)
        problems = [f"unknown key '{k}'" for k in data if k not in _DOC_KEYS]
        problems += _check_top_level(data)
        speakers: dict[str, Speaker] = {}
        raw_speakers = data.get("speakers", {})
        for key, raw in (raw_speakers.items() if isinstance(raw_speakers, dict) else []):
            spk = _build(Speaker, raw, f"speaker '{key}'", problems)
            if spk is not None:
                speakers[str(key)] = spk
        utts = []
        raw_utts = data.get("utterances", [])
        for i, raw in enumerate(raw_utts if isinstance(raw_utts, list) else []):
            label = f"utterance {raw.get('id')}" if isinstance(raw, dict) and "id" in raw else f"utterance #{i + 1}"
            utt = _build(Utterance, raw, label, problems)
            if utt is not None:
                utts.append(utt)
        if problems:
            raise InvalidDocumentError(problems)
        utts.sort(key=lambda u: (u.start, u.id))
        doc = cls(
            source_language=data["source_language"],
            target_language=data["target_language"],
            settings=DubSettings.from_dict(data.get("settings") or {"target_language": data["target_language"]}),
            engines=dict(data.get("engines", {})),
            models=dict(data.get("models", {})),
            speakers=speakers,
            utterances=utts,
            duration=float(data.get("duration", 0.0)),
            picks=dict(data.get("picks", {})),
            revision=int(data.get("revision", 0)),
            next_id=int(data.get("next_id", 0)),
        )
        return doc

    def save(self, path: Path) -> None:
        """Write without any check; people's and stages' saves go through dubbing.revisions."""
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, path: Path) -> "Document":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidDocumentError([f"not JSON ({exc})"], where=str(path)) from None
        return cls.from_dict(data)

    def __post_init__(self) -> None:
        self.reserve_ids()

    def _max_id(self) -> int:
        return max((u.id for u in self.utterances), default=-1)

    def reserve_ids(self) -> None:
        """Remember the ids in use, so that deleting a line never frees its id for a new one."""
        self.next_id = max(self.next_id, self._max_id() + 1)

    def new_id(self) -> int:
        """An id no line of this document has had (deleted lines included)."""
        self.reserve_ids()
        self.next_id += 1
        return self.next_id - 1

    def get(self, utt_id: int) -> Utterance:
        for u in self.utterances:
            if u.id == utt_id:
                return u
        raise KeyError(utt_id)

    def voice_of(self, utt: Utterance) -> str:
        """The voice an utterance is spoken in: its own, else its speaker's."""
        if utt.voice:
            return utt.voice
        spk = self.speakers.get(utt.speaker)
        return spk.voice if spk else ""

    def validate(self) -> list[str]:
        """Problems across lines (a person's edit may have introduced them), as messages naming line and field."""
        problems = []
        ids = [u.id for u in self.utterances]
        if len(ids) != len(set(ids)):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            problems.append(f"utterance ids must be unique (repeated: {', '.join(map(str, dup))})")
        previous: Utterance | None = None
        for u in sorted(self.utterances, key=lambda u: (u.start, u.id)):
            if u.end <= u.start:
                problems.append(f"utterance {u.id}: end ({u.end}) must be after start ({u.start})")
            if u.start < 0 or (self.duration and u.end > self.duration + 0.05):
                problems.append(f"utterance {u.id}: start/end must lie within 0..{self.duration:.2f} s "
                                f"(got {u.start}..{u.end})")
            if previous is not None and u.start < previous.end - OVERLAP_TOLERANCE_S:
                problems.append(f"utterance {u.id}: start ({u.start}) overlaps utterance {previous.id}, "
                                f"which ends at {previous.end}")
            if previous is None or u.end > previous.end:
                previous = u
            if u.speaker not in self.speakers:
                problems.append(f"utterance {u.id}: speaker '{u.speaker}' is unknown; use one of "
                                f"{', '.join(sorted(self.speakers)) or '(none)'} or move the line to a new speaker")
            for name in ("text", "translated_text"):
                if len(getattr(u, name)) > MAX_TEXT_CHARS:
                    problems.append(f"utterance {u.id}: {name} has {len(getattr(u, name))} characters; "
                                    f"a line holds at most {MAX_TEXT_CHARS}")
            if u.gender not in GENDERS:
                problems.append(f"utterance {u.id}: gender must be one of {', '.join(GENDERS)} (got '{u.gender}')")
            if not u.speed > 0:
                problems.append(f"utterance {u.id}: speed must be positive (got {u.speed})")
            if any(w["end"] < w["start"] for w in u.words):
                problems.append(f"utterance {u.id}: words must each end after they start")
        for key, spk in self.speakers.items():
            if spk.gender not in GENDERS:
                problems.append(f"speaker '{key}': gender must be one of {', '.join(GENDERS)} (got '{spk.gender}')")
        return problems

    def check(self) -> None:
        """Raise InvalidDocumentError when `validate` finds anything."""
        problems = self.validate()
        if problems:
            raise InvalidDocumentError(problems)


def _build(cls: type, raw: Any, label: str, problems: list[str]) -> Any:
    """`cls` from a dict, with each pydantic error turned into '<label>: <field> <what is wrong>'."""
    if not isinstance(raw, dict):
        problems.append(f"{label}: must be an object, not {type(raw).__name__}")
        return None
    try:
        return cls.from_dict(raw)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "?"
            if err["type"] == "unexpected_keyword_argument":
                problems.append(f"{label}: unknown field '{where}'")
            elif err["type"] == "missing_argument" or err["type"] == "missing":
                problems.append(f"{label}: {where} is missing")
            else:
                got = repr(err.get("input"))
                got = got if len(got) <= 40 else got[:37] + "..."
                problems.append(f"{label}: {where}: {err['msg'].lower()} (got {got})")
        return None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_top_level(data: dict) -> list[str]:
    problems = []
    for key in ("source_language", "target_language"):
        if not isinstance(data.get(key), str):
            problems.append(f"{key} must be a language code string (got {data.get(key)!r})")
    if "duration" in data and not (_is_number(data["duration"]) and data["duration"] >= 0):
        problems.append(f"duration must be a number of seconds (got {data['duration']!r})")
    for key in ("revision", "next_id"):
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 0):
            problems.append(f"{key} must be a whole number >= 0 (got {data[key]!r})")
    for key in ("engines", "models"):
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(f"{key} must map names to strings")
    for key in ("picks", "settings", "speakers"):
        if key in data and not isinstance(data[key], dict):
            problems.append(f"{key} must be an object")
    if not isinstance(data.get("utterances", []), list):
        problems.append("utterances must be a list")
    return problems


def migrate_v1(data: dict) -> dict:
    """A version 1 document as version 2. Version 1 was read leniently (numbers as strings, unknown
    keys ignored, speaker labels a person typed), so migration coerces what the old reader coerced."""
    known = {f.name for f in fields(Utterance)}
    utts = []
    for raw in data.get("utterances", []):
        if not isinstance(raw, dict):
            utts.append(raw)  # left for the strict reader to name
            continue
        u = {k: v for k, v in raw.items() if k in known}
        try:
            u["id"] = int(u["id"])
            u["start"], u["end"] = float(u["start"]), float(u["end"])
        except (KeyError, TypeError, ValueError):
            pass
        if "speaker" in u:
            u["speaker"] = str(u["speaker"])
        if "muted" in u:
            u["muted"] = bool(u["muted"])
        if u.get("gender") not in GENDERS:
            u["gender"] = UNKNOWN
        utts.append(u)
    speaker_known = {f.name for f in fields(Speaker)}
    speakers = {str(k): {kk: vv for kk, vv in v.items() if kk in speaker_known}
                for k, v in (data.get("speakers") or {}).items() if isinstance(v, dict)}
    for u in utts:
        if isinstance(u, dict) and isinstance(u.get("speaker"), str) and u["speaker"] not in speakers:
            speakers[u["speaker"]] = {"gender": u.get("gender", UNKNOWN), "name": u["speaker"]}
    out = {k: v for k, v in data.items() if k in _DOC_KEYS}
    out.update(schema_version=2, revision=0, speakers=speakers, utterances=utts)
    return out
