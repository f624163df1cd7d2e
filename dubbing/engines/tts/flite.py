"""Flite (Debian `flite`): CMU's small English voices, built into the program.

`slt` (US female) and `rms` (US male) are the clearest; `awb` is a Scottish male;
`kal16` a plain US male diphone voice, kept last as the least natural.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ...models import FEMALE, MALE
from .._util import program_available
from ..base import Availability, TTSEngine, Voice
from ._cli import run_to_wav

VOICES = (
    Voice("slt", "en", FEMALE, "Flite SLT (US English, female)"),
    Voice("rms", "en", MALE, "Flite RMS (US English, male)"),
    Voice("awb", "en", MALE, "Flite AWB (Scottish English, male)"),
    Voice("kal16", "en", MALE, "Flite Kal (US English, male, diphone)"),
)


class FliteTTS(TTSEngine):
    name = "flite"
    description = "Flite (CMU) English voices: slt female; rms, awb, kal male (offline, Debian `flite`)"

    @classmethod
    def availability(cls) -> Availability:
        return program_available("flite", "flite")

    @classmethod
    def languages(cls):
        return ["en"]

    @classmethod
    def voices(cls, language):
        if language != "en" or not shutil.which("flite"):
            return []
        return list(VOICES)

    def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        if voice not in {v.id for v in VOICES}:
            raise ValueError(f"unknown Flite voice '{voice}'; voices: {', '.join(v.id for v in VOICES)}")
        run_to_wav(["flite", "-voice", voice, "-f", "{text}", "-o", "{out}"], text.encode("utf-8"), out_path,
                   what=f"flite voice {voice}")
