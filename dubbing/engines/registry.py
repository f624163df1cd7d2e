"""Which engines exist for each stage, how to load them, and which one `auto` picks.

Engines are named by "module:Class" strings so that listing them imports only
the small engine modules, never torch or a model. To add an engine: write one
file under `dubbing/engines/<stage>/` that subclasses the stage's interface in
`base.py`, and add one line here.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Any

from ..errors import EngineUnavailableError, UnsupportedPairError
from .base import Engine, Translator, TTSEngine

STAGES = ("diarization", "stt", "gender", "translation", "tts")

# Order matters: for `auto`, earlier entries are preferred when available.
ENGINES: dict[str, dict[str, str]] = {
    "diarization": {
        "pyannote": "dubbing.engines.diarization.pyannote_pipeline:PyannoteDiarizer",
        "resemblyzer": "dubbing.engines.diarization.resemblyzer_kmeans:ResemblyzerDiarizer",
    },
    "stt": {
        "faster-whisper": "dubbing.engines.stt.faster_whisper_engine:FasterWhisperTranscriber",
        "transformers-whisper": "dubbing.engines.stt.transformers_whisper:TransformersWhisperTranscriber",
    },
    "gender": {
        "audio-model": "dubbing.engines.gender.audio_model:AudioModelGenderClassifier",
        "pitch": "dubbing.engines.gender.pitch:PitchGenderClassifier",
    },
    "translation": {
        "nllb": "dubbing.engines.translation.nllb:NllbTranslator",
        "m2m100": "dubbing.engines.translation.m2m100:M2M100Translator",
        "marian": "dubbing.engines.translation.marian:MarianTranslator",
        "apertium": "dubbing.engines.translation.apertium:ApertiumTranslator",
    },
    "tts": {
        "xtts": "dubbing.engines.tts.xtts:XttsTTS",
        "mms": "dubbing.engines.tts.mms:MmsTTS",
        "piper-local": "dubbing.engines.tts.piper_local:PiperLocalTTS",
        "piper": "dubbing.engines.tts.piper_engine:PiperTTS",
        "festival": "dubbing.engines.tts.festival:FestivalTTS",
        "flite": "dubbing.engines.tts.flite:FliteTTS",
        "espeak": "dubbing.engines.tts.espeak:EspeakTTS",
    },
}

# The offline defaults, used when a stage is left on `auto` and nothing better is here.
DEFAULTS = {
    "diarization": "resemblyzer",
    "stt": "faster-whisper",
    "gender": "pitch",
    "translation": "apertium",
    "tts": "espeak",
}

_instances: dict[tuple[str, str, str], Engine] = {}
_lock = threading.Lock()  # guards the two dicts
# One lock per engine: an engine loading in the background (pipeline's warm-up of the next stage)
# holds up only those who want that engine, and they get it as soon as it is made.
_making: dict[tuple[str, str, str], threading.Lock] = {}
_set_up_seconds: dict[tuple[str, str, str], float] = {}
# Engines each job thread has named in its log: once per job (each runs in a thread of its own), not once per line.
_named = threading.local()
log = logging.getLogger(__name__)


def name_engines_again() -> None:
    """A new job's log begins (in this thread): its engines are named in it once more."""
    _named.keys = set()


def engine_class(stage: str, name: str) -> type[Engine]:
    if stage not in ENGINES:
        raise EngineUnavailableError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
    target = ENGINES[stage].get(name)
    if target is None:
        raise EngineUnavailableError(
            f"unknown {stage} engine '{name}'; choose one of: {', '.join(ENGINES[stage])}")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("dubbing."):
            raise EngineUnavailableError(f"{stage} engine '{name}' is not part of this version") from exc
        raise
    return getattr(module, cls_name)


def get_engine(stage: str, name: str, model: str = "") -> Engine:
    """A loaded engine, made once per process and reused (models stay in memory across jobs)."""
    cls = engine_class(stage, name)
    key = (stage, name, model or cls.default_model)
    with _lock:
        making = _making.setdefault(key, threading.Lock())
    with making:
        fresh = key not in _instances
        if fresh:
            avail = cls.availability()
            if not avail.ok:
                raise EngineUnavailableError(f"{stage} engine '{name}' is unavailable: {avail.reason}")
            started = time.perf_counter()
            engine = cls(model)
            with _lock:
                _instances[key] = engine
                _set_up_seconds[key] = time.perf_counter() - started
            log.info("%s engine %s (model %s) set up in %.1f s", stage, name, key[2] or "-", _set_up_seconds[key])
    named = _named.__dict__.setdefault("keys", set())
    if not fresh and key not in named:
        # A job's log takes its own thread's lines only: say what the load cost where it was made
        # on another thread (the stage before's warm-up, or an earlier job's).
        log.info("%s engine %s (model %s), already in memory (set up in %.1f s, before this stage)", stage, name,
                 key[2] or "-", _set_up_seconds.get(key, 0.0))
    named.add(key)
    return _instances[key]


def check_available(stage: str, name: str) -> None:
    avail = engine_class(stage, name).availability()
    if not avail.ok:
        raise EngineUnavailableError(f"{stage} engine '{name}' is unavailable: {avail.reason}")


def supported_pairs(name: str) -> list[tuple[str, str]]:
    cls = engine_class("translation", name)
    assert issubclass(cls, Translator)
    return cls.pairs() if cls.availability().ok else []


def check_pair(translator: str, source: str, target: str) -> None:
    """Refuse an unsupported pair before any heavy work, listing what is available."""
    if translator == "auto":
        if not any(_pair_ok(n, source, target) for n in ENGINES["translation"]):
            raise UnsupportedPairError(_pair_message(None, source, target, _all_pairs()))
        return
    check_available("translation", translator)
    if source == "auto":
        if not any(s != target and t == target for s, t in supported_pairs(translator)):
            raise UnsupportedPairError(_pair_message(translator, source, target, supported_pairs(translator)))
        return
    if source == target:
        raise UnsupportedPairError(f"source and target language are both '{source}': pick another target language")
    if (source, target) not in supported_pairs(translator):
        raise UnsupportedPairError(_pair_message(translator, source, target, supported_pairs(translator)))


def _pair_ok(name: str, source: str, target: str) -> bool:
    try:
        pairs = supported_pairs(name)
    except EngineUnavailableError:
        return False
    return any((source in ("auto", s)) and t == target for s, t in pairs)


def _all_pairs() -> list[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for n in ENGINES["translation"]:
        try:
            out.update(supported_pairs(n))
        except EngineUnavailableError:
            pass
    return sorted(out)


def _pair_message(who: str | None, source: str, target: str, pairs: list[tuple[str, str]]) -> str:
    """`who`: the translator asked for, or None when any would do."""
    listed = ", ".join(f"{s}-{t}" for s, t in pairs) or "none (run `make setup` to install Apertium pairs)"
    said = f"{who} cannot translate" if who else "no translation engine here can translate"
    return f"{said} {source} to {target}. Available pairs: {listed}"


def pick(stage: str, requested: str, *, source: str | None = None, target: str | None = None) -> tuple[str, str]:
    """Resolve `auto` to an engine name; returns (name, why), the why naming what was passed over and for what."""
    if requested != "auto":
        return requested, "chosen by the user"
    skipped: list[str] = []
    for name in ENGINES[stage]:
        try:
            cls = engine_class(stage, name)
        except EngineUnavailableError as exc:
            skipped.append(f"{name} ({_short(exc.message)})")
            continue
        avail = cls.availability()
        if not avail.ok:
            skipped.append(f"{name} ({_short(avail.reason)})")
            continue
        if stage == "translation" and source and target and not _pair_ok(name, source, target):
            skipped.append(f"{name} (no {source}-{target} pair here)")
            continue
        if stage == "tts" and target:
            assert issubclass(cls, TTSEngine)
            if not cls.voices(target):
                skipped.append(f"{name} (no voice for '{target}')")
                continue
        langs = "-".join(x for x in (source, target) if x)
        why = f"best available {stage} engine" + (f" for {langs}" if langs else "")
        return name, why + (f"; passed over: {'; '.join(skipped)}" if skipped else "")
    return DEFAULTS[stage], "offline default; nothing else runs here" + (f": {'; '.join(skipped)}" if skipped else "")


def _short(reason: str, limit: int = 160) -> str:
    return reason if len(reason) <= limit else reason[: limit - 3].rstrip() + "..."


def describe_all() -> list[dict[str, Any]]:
    """Every engine with its stage, availability and reason, languages and models: for `engines` and the Engines page."""
    rows = []
    for stage in STAGES:
        for name in ENGINES[stage]:
            try:
                cls = engine_class(stage, name)
            except EngineUnavailableError as exc:
                rows.append({"stage": stage, "name": name, "available": False, "reason": exc.message,
                             "languages": [], "pairs": [], "models": [], "description": ""})
                continue
            avail = cls.availability()
            row: dict[str, Any] = {
                "stage": stage, "name": name, "available": avail.ok, "reason": avail.reason,
                "description": cls.description, "languages": [], "pairs": [], "models": [],
            }
            if avail.ok:
                row["models"] = cls.models()
                row["languages"] = cls.languages()
                if issubclass(cls, Translator):
                    row["pairs"] = [f"{s}-{t}" for s, t in cls.pairs()]
                if issubclass(cls, TTSEngine):
                    row["voices"] = cls.catalog()
            rows.append(row)
    return rows
