"""Festival with the HTS voices Debian packages: `festvox-us-slt-hts` (US English, female)
and `festvox-ca-ona-hts` (Catalan, female). Statistical parametric voices: smoother than
Flite's, slower to start (~0.5-1 s per line)."""
from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

from ...models import FEMALE
from .._util import program_available
from ..base import Availability, TTSEngine, Voice
from ._cli import run_to_wav

VOICE_DIR = Path("/usr/share/festival/voices")
# voice id -> (language, gender, name, folder under VOICE_DIR)
VOICES = {
    "cmu_us_slt_arctic_hts": ("en", FEMALE, "Festival SLT HTS (US English, female)", "us"),
    "upc_ca_ona_hts": ("ca", FEMALE, "Festival Ona HTS (Catalan, female)", "catalan"),
}


def installed() -> list[str]:
    return [vid for vid, (*_, folder) in VOICES.items() if (VOICE_DIR / folder / vid).is_dir()]


def latin1(text: str) -> bytes:
    """Festival reads ISO-8859-1; typographic quotes and dashes become their plain forms first."""
    plain = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                          "\u2013": "-", "\u2014": "-", "\u2026": "..."}))
    plain = unicodedata.normalize("NFC", plain)
    return plain.encode("latin-1", errors="ignore")


class FestivalTTS(TTSEngine):
    name = "festival"
    description = "Festival HTS voices: US English female (slt), Catalan female (ona) (offline, Debian festvox-*-hts)"

    @classmethod
    def availability(cls) -> Availability:
        found = program_available("text2wave", "festival festvox-us-slt-hts festvox-ca-ona-hts")
        if not found.ok:
            return found
        if not installed():
            return Availability.no("no Festival HTS voice is installed; apt-get install festvox-us-slt-hts "
                                   "festvox-ca-ona-hts")
        return Availability.yes()

    @classmethod
    def languages(cls):
        return sorted({VOICES[v][0] for v in installed()}) if shutil.which("text2wave") else []

    @classmethod
    def voices(cls, language):
        if not shutil.which("text2wave"):
            return []
        return [Voice(vid, lang, gender, name) for vid in installed()
                for lang, gender, name, _ in [VOICES[vid]] if lang == language]

    def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        if voice not in installed():
            raise ValueError(f"Festival voice '{voice}' is not installed here; installed: {', '.join(installed())}")
        run_to_wav(["text2wave", "-eval", f"(voice_{voice})", "{text}", "-o", "{out}"], latin1(text), out_path,
                   what=f"festival voice {voice}")
