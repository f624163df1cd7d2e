"""Coqui XTTS-v2 (optional extra `coqui-tts`; weights under the Coqui Public Model License,
non-commercial): 17 languages, studio voices, and a voice cloned from a few seconds of
the speaker's own original audio when the user opts in.

Voice ids carry the language, since XTTS speakers speak every language and the TTS
interface passes none: "es:Ana Florence" for a studio speaker, "clone:es:<path to a
WAV>" for a cloned voice (`clone_voice_id`); `reference_clip` cuts that WAV from a
speaker's turns. Cloned voices are never offered by `voices()`: the pipeline makes
them only when the user opts in.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ... import audio
from ...errors import EngineUnavailableError
from ...models import FEMALE, MALE
from ..base import Availability, TTSEngine, Voice
from ..resolve import (LocalModel, download_allowed, download_hint, find_local, missing_packages, probe_import,
                       resolve_model, torch_device, where_looked)

HUB_ID = "coqui/XTTS-v2"
REQUIRED = ("config.json", "model.pth", "vocab.json")
CLONE = "clone:"
SAMPLE_RATE = 24000
# XTTS-v2 language codes by ISO 639-1.
LANGS = {"en": "en", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt", "pl": "pl", "tr": "tr",
         "ru": "ru", "nl": "nl", "cs": "cs", "ar": "ar", "zh": "zh-cn", "hu": "hu", "ko": "ko", "ja": "ja",
         "hi": "hi"}
# A few of the studio speakers in speakers_xtts.pth; all speak every XTTS language.
STUDIO = (("Ana Florence", FEMALE), ("Claribel Dervla", FEMALE), ("Gracie Wise", FEMALE),
          ("Sofia Hellen", FEMALE), ("Andrew Chipper", MALE), ("Damien Black", MALE),
          ("Craig Gutsy", MALE), ("Viktor Eka", MALE))
MAX_CHARS = 200  # XTTS warns past ~250 characters (less for some languages): longer text goes in pieces


def coqui_cache_dir() -> Path:
    """Where Coqui's own downloader keeps XTTS-v2 (TTS_HOME, else XDG_DATA_HOME, else ~/.local/share)."""
    base = os.environ.get("TTS_HOME") or os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "tts" / "tts_models--multilingual--multi-dataset--xtts_v2"


def local_model() -> LocalModel | None:
    return find_local(HUB_ID, required=REQUIRED) or find_local(str(coqui_cache_dir()), required=REQUIRED)


def clone_voice_id(reference_wav: Path, language: str) -> str:
    return f"{CLONE}{language}:{Path(reference_wav).resolve()}"


def parse_voice(voice: str) -> tuple[str, str, bool]:
    """(language, speaker name or reference path, cloned?) from a voice id."""
    cloned = voice.startswith(CLONE)
    lang, sep, rest = voice[len(CLONE):].partition(":") if cloned else voice.partition(":")
    if not sep or lang not in LANGS or not rest:
        raise EngineUnavailableError(f"bad XTTS voice id '{voice}': use '<language>:<speaker>' or "
                                     f"'clone:<language>:<reference wav>'")
    return lang, rest, cloned


def reference_clip(samples: np.ndarray, sr: int, spans: list[tuple[float, float]], out_path: Path,
                   *, seconds: float = 12.0) -> Path:
    """Write a cloning reference for one speaker: their longest turns, joined, up to `seconds`.

    XTTS needs ~6-12 s of clean speech; longer turns carry fewer cuts and less cross-talk.
    """
    pieces, total = [], 0.0
    for start, end in sorted(spans, key=lambda s: s[1] - s[0], reverse=True):
        if total >= seconds:
            break
        take = min(end - start, seconds - total)
        pieces.append(samples[int(start * sr):int((start + take) * sr)])
        total += take
    if not pieces or total < 1.0:
        raise EngineUnavailableError("too little speech from this speaker to clone a voice (need at least 1 s)")
    audio.write(out_path, np.concatenate(pieces).astype(np.float32), sr, subtype="PCM_16")
    return out_path


class XttsTTS(TTSEngine):
    name = "xtts"
    description = "Coqui XTTS-v2: 17 languages, studio voices, optional voice cloning (non-commercial licence)"
    default_model = HUB_ID
    can_clone = True

    @classmethod
    def availability(cls) -> Availability:
        miss = missing_packages("TTS", "torch")
        if miss:
            return Availability.no(f"{miss}: pip install coqui-tts (an optional extra)")
        reasons = []
        broken = probe_import("TTS.tts.models.xtts", versions_of=("coqui-tts", "torch", "torchaudio"))
        if broken:
            reasons.append(f"{broken} (coqui-tts needs a torchaudio build that matches torch)")
        if local_model() is None and not download_allowed():
            reasons.append(f"no XTTS-v2 model found: looked for {HUB_ID} in {where_looked(HUB_ID)} and in "
                           f"Coqui's cache ({coqui_cache_dir()}); {download_hint()}")
        return Availability.no("; and ".join(reasons)) if reasons else Availability.yes()

    @classmethod
    def models(cls) -> list[str]:
        m = local_model()
        return [m.name] if m else []

    @classmethod
    def languages(cls) -> list[str]:
        return sorted(LANGS)

    @classmethod
    def voices(cls, language: str) -> list[Voice]:
        if language not in LANGS:
            return []
        return [Voice(f"{language}:{name}", language, gender, f"XTTS {name}") for name, gender in STUDIO]

    @classmethod
    def clone_voice(cls, audio: np.ndarray, sr: int, spans: list[tuple[float, float]], reference_path: Path,
                    language: str) -> str:
        return clone_voice_id(reference_clip(audio, sr, spans, reference_path), language)

    def __init__(self, model: str = ""):
        super().__init__(model)
        self.speed = 1.0
        self._model: Any = None
        self._latents: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.model == HUB_ID and (found := local_model()) is not None:
                    path = found.path
                else:
                    path = resolve_model(self.model, kind="XTTS-v2", required=REQUIRED)
                from TTS.tts.configs.xtts_config import XttsConfig
                from TTS.tts.models.xtts import Xtts
                config = XttsConfig()
                config.load_json(str(path / "config.json"))
                model = Xtts.init_from_config(config)
                model.load_checkpoint(config, checkpoint_dir=str(path), eval=True)
                self._model = model.to(torch_device())
            return self._model

    def latents(self, who: str, cloned: bool) -> tuple[Any, Any]:
        """(GPT conditioning latent, speaker embedding) for a studio speaker or a reference WAV."""
        key = f"{cloned}:{who}"
        if key not in self._latents:
            model = self.load()
            if cloned:
                if not Path(who).exists():
                    raise EngineUnavailableError(f"the cloning reference {who} is missing; re-run the voices stage")
                self._latents[key] = model.get_conditioning_latents(audio_path=[who])
            else:
                speakers = model.speaker_manager.speakers
                if who not in speakers:
                    raise EngineUnavailableError(f"XTTS has no studio voice '{who}'; it has: "
                                                 f"{', '.join(sorted(speakers)[:20])}...")
                self._latents[key] = (speakers[who]["gpt_cond_latent"], speakers[who]["speaker_embedding"])
        return self._latents[key]

    def render(self, text: str, voice: str, *, speed: float | None = None) -> np.ndarray:
        from ..translation._hf_seq2seq import split_sentences
        language, who, cloned = parse_voice(voice)
        model = self.load()
        cond, emb = self.latents(who, cloned)
        parts = []
        for piece in split_sentences(text, MAX_CHARS):
            out = model.inference(piece, LANGS[language], cond, emb, speed=float(speed or self.speed),
                                  enable_text_splitting=False)
            parts.append(np.asarray(out["wav"], dtype=np.float32).reshape(-1))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def synthesize(self, text: str, voice: str, out_path: Path, *, speed: float | None = None) -> None:
        audio.write(out_path, self.render(text, voice, speed=speed), SAMPLE_RATE, subtype="PCM_16")
