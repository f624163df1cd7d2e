"""eSpeak NG (Debian `espeak-ng`): every language, male and female variants, robotic but instant."""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from ...models import FEMALE, MALE
from .._util import program_available
from ..base import Availability, TTSEngine, Voice
from ._cli import run_to_wav

MALE_VARIANTS = ("m3", "m1", "m7", "m2", "m4", "m5", "m6")
FEMALE_VARIANTS = ("f2", "f1", "f3", "f4", "f5")
WORDS_PER_MINUTE = 165
# Per-language tuning, chosen by a faster-whisper base read-back (temperature 0) of eSpeak speech:
# 20 Spanish sentences (apertium's translations, ~250 words). WER es+m3 0.26 at 150 wpm, 0.31 at 165;
# es+pablo 0.28, es+f2 0.40 / 0.38, es+anika 0.40 (female variants read back worse in Spanish).
# The timing fit speeds a line up only where its slot needs it.
TUNING = {
    "es": {"rate": 150, "male": ("m3", "pablo", "miguel", "m1", "m7"), "female": ("f2", "anika", "f4", "f3", "f1")},
}


@lru_cache(maxsize=1)
def installed_languages() -> tuple[str, ...]:
    exe = shutil.which("espeak-ng")
    if not exe:
        return ()
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True).stdout.splitlines()[1:]
    langs = {line.split()[1] for line in out if len(line.split()) > 1}
    return tuple(sorted(langs))


def _label(variant: str) -> str:
    return variant[1:] if variant[1:].isdigit() else variant


class EspeakTTS(TTSEngine):
    name = "espeak"
    description = "eSpeak NG formant synthesis: 100+ languages, male and female variants (offline)"

    @classmethod
    def availability(cls) -> Availability:
        return program_available("espeak-ng", "espeak-ng")

    @classmethod
    def languages(cls):
        return list(installed_languages())

    @classmethod
    def voices(cls, language):
        if not shutil.which("espeak-ng") or language not in installed_languages():
            return []
        tune = TUNING.get(language, {})
        return ([Voice(f"{language}+{v}", language, MALE, f"eSpeak {language} male {_label(v)}")
                 for v in tune.get("male", MALE_VARIANTS)]
                + [Voice(f"{language}+{v}", language, FEMALE, f"eSpeak {language} female {_label(v)}")
                   for v in tune.get("female", FEMALE_VARIANTS)])

    def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        rate = TUNING.get(voice.partition("+")[0], {}).get("rate", WORDS_PER_MINUTE)
        run_to_wav(["espeak-ng", "-v", voice, "-s", str(rate), "-f", "{text}", "-w", "{out}"], text.encode("utf-8"),
                   out_path, what=f"espeak-ng voice {voice}")

    @classmethod
    def catalog(cls):
        """One row per variant: every language has each of them (Spanish orders its own, see TUNING)."""
        langs = cls.languages()
        return ([{"name": f"eSpeak male {_label(v)}", "gender": MALE, "languages": langs, "ids": [f"<lang>+{v}"]}
                 for v in MALE_VARIANTS]
                + [{"name": f"eSpeak female {_label(v)}", "gender": FEMALE, "languages": langs, "ids": [f"<lang>+{v}"]}
                   for v in FEMALE_VARIANTS])
