"""eSpeak NG (Debian `espeak-ng`): every language, male and female variants, robotic but instant."""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from ...errors import TransientError
from ...fsutil import atomic_output
from ...models import FEMALE, MALE
from ..base import Availability, TTSEngine, Voice

MALE_VARIANTS = ("m3", "m1", "m7", "m2", "m4", "m5", "m6")
FEMALE_VARIANTS = ("f2", "f1", "f3", "f4", "f5")
WORDS_PER_MINUTE = 165


@lru_cache(maxsize=1)
def installed_languages() -> tuple[str, ...]:
    exe = shutil.which("espeak-ng")
    if not exe:
        return ()
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True).stdout.splitlines()[1:]
    langs = {line.split()[1] for line in out if len(line.split()) > 1}
    return tuple(sorted(langs))


class EspeakTTS(TTSEngine):
    name = "espeak"
    description = "eSpeak NG formant synthesis: 100+ languages, male and female variants (offline)"

    @classmethod
    def availability(cls) -> Availability:
        if not shutil.which("espeak-ng"):
            return Availability.no("the `espeak-ng` program is not installed; run `make setup` (apt-get install espeak-ng)")
        return Availability.yes()

    @classmethod
    def languages(cls):
        return list(installed_languages())

    @classmethod
    def voices(cls, language):
        if not shutil.which("espeak-ng") or language not in installed_languages():
            return []
        return ([Voice(f"{language}+{v}", language, MALE, f"eSpeak {language} male {v[1:]}") for v in MALE_VARIANTS]
                + [Voice(f"{language}+{v}", language, FEMALE, f"eSpeak {language} female {v[1:]}") for v in FEMALE_VARIANTS])

    def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        with atomic_output(out_path) as tmp:
            # Text on stdin: an utterance starting with '-' must not read as an option.
            proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "-w", str(tmp), "--stdin"],
                                  input=text, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0 or not tmp.exists():
                raise TransientError(f"espeak-ng failed for voice {voice}: {proc.stderr.strip()[:200]}")
