"""MMS-TTS (Meta, CC-BY-NC 4.0 weights) through transformers `VitsModel`: one small
single-speaker checkpoint per language (facebook/mms-tts-<iso639-3>), 1100+ languages.

A voice id is the checkpoint's name (a hub id or a folder under
DUBBING_MODELS_DIR). MMS checkpoints do not say whether the speaker is male or
female: a user may add `"gender": "female"` to the checkpoint's config.json so
voice matching can use it; otherwise the voice is listed as `unknown`.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ... import audio
from ...errors import EngineUnavailableError
from ...models import GENDERS, UNKNOWN
from .. import langcodes
from ..base import Availability, TTSEngine, Voice
from ..resolve import (LocalModel, download_allowed, hf_availability, prepare_transformers, resolve_model,
                       scan_local, torch_device)

PACKAGES = ("torch", "transformers")
_SUFFIX_TO_LANG = {langcodes.mms_suffix(c): c for c in langcodes.LANGUAGES}


def hub_id(language: str) -> str | None:
    suffix = langcodes.mms_suffix(language)
    return f"facebook/mms-tts-{suffix}" if suffix else None


def model_language(m: LocalModel) -> str | None:
    """The ISO 639-1 language of a local MMS checkpoint, from its name or its tokenizer's language."""
    match = re.search(r"mms-tts-([a-z]{3}(?:-script_[a-z]+)?)", f"{m.name} {m.path.name}")
    if match and match.group(1) in _SUFFIX_TO_LANG:
        return _SUFFIX_TO_LANG[match.group(1)]
    code = _tokenizer_config(m.path).get("language")
    if isinstance(code, str):
        return code if code in langcodes.LANGUAGES else _SUFFIX_TO_LANG.get(code)
    return None


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _usable(m: LocalModel) -> bool:
    """False for a checkpoint that needs romanized input when the `uroman` package is missing."""
    from ..resolve import missing_packages
    return not (_tokenizer_config(m.path).get("is_uroman") and missing_packages("uroman"))


class MmsTTS(TTSEngine):
    name = "mms"
    description = "MMS-TTS (VITS) through transformers: one voice per language, 1100+ languages"
    default_model = "facebook/mms-tts-eng"

    @classmethod
    def local_models(cls) -> list[LocalModel]:
        return [m for m in scan_local(lambda m: m.config.get("model_type") == "vits") if model_language(m)]

    @classmethod
    def availability(cls) -> Availability:
        return hf_availability(PACKAGES, cls.local_models(), family="MMS-TTS", default=cls.default_model)

    @classmethod
    def models(cls) -> list[str]:
        return [m.name for m in cls.local_models()]

    @classmethod
    def languages(cls) -> list[str]:
        found = {model_language(m) for m in cls.local_models() if _usable(m)}
        if download_allowed():
            found.update(langcodes.LANGUAGES)
        return sorted(c for c in found if c)

    @classmethod
    def voices(cls, language: str) -> list[Voice]:
        label = f"MMS {langcodes.name(language)}"
        out = [Voice(m.name, language, _gender(m), label) for m in cls.local_models()
               if model_language(m) == language and _usable(m)]
        if not out and download_allowed() and hub_id(language):
            out.append(Voice(hub_id(language), language, UNKNOWN, f"{label} (downloads on first use)"))
        return out

    def __init__(self, model: str = ""):
        super().__init__(model)
        self.speaking_rate = 1.0  # >1 speaks faster
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def load(self, voice: str) -> tuple[Any, Any]:
        with self._lock:
            if voice not in self._loaded:
                path = resolve_model(voice, kind="MMS-TTS")
                prepare_transformers()
                from transformers import AutoTokenizer, VitsModel
                tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = VitsModel.from_pretrained(path, local_files_only=True).to(torch_device()).eval()
                self._loaded[voice] = (tok, model)
            return self._loaded[voice]

    def render(self, text: str, voice: str, *, speed: float | None = None) -> tuple[np.ndarray, int]:
        """Mono float32 speech and its sample rate."""
        import torch
        tok, model = self.load(voice or self.model)
        if getattr(tok, "is_uroman", False):
            text = _romanize(text, voice)
        inputs = tok(text, return_tensors="pt").to(model.device)
        if inputs["input_ids"].shape[1] == 0:
            raise EngineUnavailableError(f"MMS voice {voice} cannot spell any character of: {text[:60]!r}")
        with self._lock, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(0)  # VITS samples durations and noise: the same text gives the same speech
            model.speaking_rate = float(speed or self.speaking_rate)
            wav = model(**inputs).waveform[0]
        return wav.float().cpu().numpy(), int(model.config.sampling_rate)

    def synthesize(self, text: str, voice: str, out_path: Path, *, speed: float | None = None) -> None:
        samples, sr = self.render(text, voice, speed=speed)
        audio.write(out_path, samples, sr, subtype="PCM_16")


def _gender(m: LocalModel) -> str:
    g = str(m.config.get("gender", UNKNOWN)).lower()
    return g if g in GENDERS else UNKNOWN


def _romanize(text: str, voice: str) -> str:
    try:
        import uroman
    except ImportError as exc:
        raise EngineUnavailableError(f"MMS voice {voice} reads romanized text: pip install uroman") from exc
    return uroman.Uroman().romanize_string(text)

