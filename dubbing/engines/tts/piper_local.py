"""More Piper voices: any `<voice>.onnx` + `<voice>.onnx.json` pair under DUBBING_MODELS_DIR
(any depth up to 4 folders) or in the Hugging Face cache of rhasspy/piper-voices.

Voice ids are the file stem ("es_ES-davefx-medium"); a multi-speaker voice also
offers its first speakers as "<stem>#<speaker>". Piper voice files do not say
whether the speaker is male or female: a `"gender"` key in the .onnx.json wins,
else a table of the well-known voices, else `unknown`.
"""
from __future__ import annotations

import json
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import EngineUnavailableError
from ...fsutil import atomic_output
from ...models import FEMALE, GENDERS, MALE, UNKNOWN
from .. import langcodes
from ..base import Availability, TTSEngine, Voice
from ..resolve import MODELS_DIR_ENV, hf_cache_dir, hub_folder, missing_packages, models_dirs

HUB_REPO = "rhasspy/piper-voices"
MAX_SPEAKERS = 6  # of a multi-speaker voice, offered as separate voices
_F, _M = FEMALE, MALE
KNOWN_GENDERS = {
    "lessac": _F, "amy": _F, "kristin": _F, "kathleen": _F, "hfc_female": _F, "ljspeech": _F, "alba": _F,
    "jenny_dioco": _F, "southern_english_female": _F, "cori": _F, "siwis": _F, "eva_k": _F, "kerstin": _F,
    "ramona": _F, "paola": _F, "irina": _F, "gosia": _F, "lada": _F, "upc_ona": _F, "mls_9972": _F,
    "ryan": _M, "joe": _M, "john": _M, "danny": _M, "hfc_male": _M, "bryce": _M, "norman": _M, "alan": _M,
    "northern_english_male": _M, "davefx": _M, "carlfm": _M, "ald": _M, "claude": _M, "gilles": _M, "tom": _M,
    "thorsten": _M, "karlsson": _M, "riccardo": _M, "faber": _M, "denis": _M, "dmitri": _M, "ruslan": _M,
    "darkman": _M, "upc_pau": _M, "tugão": _M,
}


@dataclass(frozen=True)
class PiperVoiceFile:
    id: str
    language: str  # ISO 639-1
    gender: str
    model: Path
    config: Path
    speaker_id: int | None = None
    name: str = ""


def search_roots() -> list[Path]:
    roots = [d for d in models_dirs() if d.is_dir()]
    repo = hub_folder(HUB_REPO) / "snapshots"
    if repo.is_dir():
        roots += sorted(p for p in repo.iterdir() if p.is_dir())
    return roots


def local_voices() -> list[PiperVoiceFile]:
    """Every Piper voice found locally, by file name then speaker (cheap: reads only the small .json files)."""
    return list(_scan(tuple(search_roots()), _stamp()))


def _stamp() -> tuple[float, ...]:
    # Folder mtimes: a voice added or removed changes its folder's mtime, so the cache notices.
    out = []
    for root in search_roots():
        out.append(root.stat().st_mtime)
        out += [p.stat().st_mtime for p in root.glob("**/") if len(p.relative_to(root).parts) <= 4]
    return tuple(out)


@lru_cache(maxsize=8)
def _scan(roots: tuple[Path, ...], stamp: tuple[float, ...]) -> tuple[PiperVoiceFile, ...]:
    found: dict[str, PiperVoiceFile] = {}
    for root in roots:
        for model in sorted(root.glob("**/*.onnx")):
            if len(model.relative_to(root).parts) > 5:
                continue
            config = model.with_name(model.name + ".json")
            for v in _voices_of(model, config):
                found.setdefault(v.id, v)
    return tuple(sorted(found.values(), key=lambda v: (v.model.name, v.speaker_id or 0)))


def _voices_of(model: Path, config: Path) -> list[PiperVoiceFile]:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or "phoneme_id_map" not in data:
        return []  # not a Piper voice
    stem = model.name[: -len(".onnx")]
    lang = _language(data, stem)
    if lang is None:
        return []
    dataset = str(data.get("dataset") or (stem.split("-")[1] if stem.count("-") >= 2 else stem))
    gender = str(data.get("gender") or KNOWN_GENDERS.get(dataset, UNKNOWN)).lower()
    gender = gender if gender in GENDERS else UNKNOWN
    label = f"Piper {dataset} ({langcodes.name(lang)})"
    speakers = data.get("speaker_id_map") or {}
    if int(data.get("num_speakers", 1)) <= 1 or not speakers:
        return [PiperVoiceFile(stem, lang, gender, model, config, None, label)]
    ordered = sorted(speakers.items(), key=lambda kv: kv[1])[:MAX_SPEAKERS]
    return [PiperVoiceFile(f"{stem}#{spk}", lang, UNKNOWN, model, config, int(sid), f"{label} speaker {spk}")
            for spk, sid in ordered]


def _language(data: dict[str, Any], stem: str) -> str | None:
    lang = data.get("language")
    code = (lang.get("family") or str(lang.get("code", "")).split("_")[0]) if isinstance(lang, dict) else ""
    code = code or str((data.get("espeak") or {}).get("voice", "")).split("-")[0] or stem.split("_")[0]
    return code if code in langcodes.LANGUAGES else None


class PiperLocalTTS(TTSEngine):
    name = "piper-local"
    description = f"Piper voices from a local folder ({MODELS_DIR_ENV}) or the rhasspy/piper-voices cache"

    @classmethod
    def availability(cls) -> Availability:
        miss = missing_packages("piper")
        if miss:
            return Availability.no(f"{miss}: pip install piper-tts")
        if not local_voices():
            where = ", ".join(str(r) for r in models_dirs()) or f"{MODELS_DIR_ENV} (not set)"
            return Availability.no(
                f"no Piper voice found: looked for <voice>.onnx with <voice>.onnx.json under {where} and in "
                f"the Hugging Face cache of {HUB_REPO} ({hf_cache_dir()}); download voices from "
                f"https://huggingface.co/{HUB_REPO} into {MODELS_DIR_ENV}")
        return Availability.yes()

    @classmethod
    def models(cls) -> list[str]:
        return sorted({v.model.name[: -len(".onnx")] for v in local_voices()})

    @classmethod
    def languages(cls) -> list[str]:
        return sorted({v.language for v in local_voices()})

    @classmethod
    def voices(cls, language: str) -> list[Voice]:
        return [Voice(v.id, v.language, v.gender, v.name) for v in local_voices() if v.language == language]

    def __init__(self, model: str = ""):
        super().__init__(model)
        self.speed = 1.0
        self._loaded: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def voice_file(self, voice: str) -> PiperVoiceFile:
        for v in local_voices():
            if v.id == voice:
                return v
        raise EngineUnavailableError(f"no local Piper voice '{voice}'; found: "
                                     f"{', '.join(v.id for v in local_voices()) or 'none'}")

    def synthesize(self, text: str, voice: str, out_path: Path, *, speed: float | None = None) -> None:
        from piper import PiperVoice, SynthesisConfig
        vf = self.voice_file(voice)
        with self._lock:
            if vf.model not in self._loaded:
                self._loaded[vf.model] = PiperVoice.load(vf.model, vf.config)
            model = self._loaded[vf.model]
        base = float(getattr(model.config, "length_scale", None) or 1.0)
        config = SynthesisConfig(speaker_id=vf.speaker_id, length_scale=base / float(speed or self.speed))
        with atomic_output(out_path) as tmp, wave.open(str(tmp), "wb") as wav:
            model.synthesize_wav(text, wav, syn_config=config)
