"""Rule-based translation with Apertium (Debian packages), fully offline.

All texts go through one `apertium` call, one per line: start-up costs ~0.8 s per
call, translation itself ~140 sentences/s. A pair with no Apertium mode of its own goes
through a language both sides reach (French to English through Spanish): rougher than
one step, but a line to correct rather than an empty one to write (`routes`).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...errors import TransientError, UnsupportedPairError
from ..base import Availability, Progress, Translator, no_progress

MODES_DIR = Path("/usr/share/apertium/modes")
# Apertium names languages with ISO 639-3 (newer pairs) or 639-1 (older pairs).
ISO3_TO_1 = {"eng": "en", "spa": "es", "cat": "ca", "glg": "gl", "fra": "fr", "por": "pt", "ita": "it",
             "epo": "eo", "eus": "eu", "isl": "is", "mkd": "mk", "hbs": "sh", "oci": "oc", "ron": "ro",
             "arg": "an", "ast": "ast", "nob": "nb", "nno": "nn", "swe": "sv", "dan": "da", "bul": "bg",
             "afr": "af", "nld": "nl", "srd": "sc", "bel": "be", "rus": "ru", "ukr": "uk", "slv": "sl",
             "ind": "id", "zlm": "ms", "deu": "de", "fin": "fi"}


def installed_modes() -> dict[tuple[str, str], str]:
    """(source, target) ISO 639-1 pair -> Apertium mode name, for the plain (not dialect-variant) modes."""
    out: dict[tuple[str, str], str] = {}
    if not MODES_DIR.is_dir():
        return out
    for f in sorted(MODES_DIR.glob("*.mode")):
        mode = f.stem
        if "_" in mode or mode.count("-") != 1:
            continue  # variants such as eng-cat_valencia; the plain mode is the default
        src, tgt = mode.split("-")
        out.setdefault((ISO3_TO_1.get(src, src), ISO3_TO_1.get(tgt, tgt)), mode)
    return out


# Languages a two-step route may go through, best first: Apertium's English and Spanish pairs are its
# most worked on, and most pairs installed here have one of them on a side.
PIVOTS = ("en", "es")


def routes() -> dict[tuple[str, str], tuple[str, ...]]:
    """(source, target) -> the Apertium modes to run in turn: the pair's own mode, else two modes
    through one language in between (PIVOTS first, then any)."""
    direct = installed_modes()
    out = {pair: (mode,) for pair, mode in direct.items()}
    languages = sorted({lang for pair in direct for lang in pair})
    between = [p for p in PIVOTS if p in languages] + [p for p in languages if p not in PIVOTS]
    for source in languages:
        for target in languages:
            if source == target or (source, target) in out:
                continue
            via = next((p for p in between if (source, p) in direct and (p, target) in direct), None)
            if via is not None:
                out[(source, target)] = (direct[(source, via)], direct[(via, target)])
    return out


class ApertiumTranslator(Translator):
    name = "apertium"
    description = ("Apertium rule-based translation (Debian packages, offline); a pair without a mode of its "
                   "own goes through English or Spanish")
    default_model = ""

    @classmethod
    def availability(cls) -> Availability:
        if not shutil.which("apertium"):
            return Availability.no("the `apertium` program is not installed; run `make setup` "
                                   "(apt-get install apertium apertium-eng-spa ...)")
        if not installed_modes():
            return Availability.no("no Apertium language pair is installed; run `make setup`")
        return Availability.yes()

    @classmethod
    def pairs(cls):
        return sorted(routes())

    @classmethod
    def languages(cls):
        return sorted({lang for pair in routes() for lang in pair})

    @classmethod
    def models(cls):
        return sorted(installed_modes().values())

    def translate(self, texts, source, target, progress: Progress = no_progress):
        modes = routes().get((source, target))
        if modes is None:
            raise UnsupportedPairError(f"Apertium has no {source}-{target} pair installed")
        if not texts:
            return []
        # One line per utterance: flatten newlines inside an utterance so line counts match.
        lines = [" ".join(t.split()) for t in texts]
        out = lines
        for step, mode in enumerate(modes):
            through = f" (step {step + 1} of {len(modes)})" if len(modes) > 1 else ""
            progress(step / len(modes), f"translating {len(texts)} utterances with apertium {mode}{through}")
            out = _run(mode, out)
        progress(1.0, "translated")
        return [o if line else "" for o, line in zip(out, lines)]  # an empty source line stays empty


def _run(mode: str, lines: list[str]) -> list[str]:
    """One `apertium` call on the lines, a line out for each line in."""
    proc = subprocess.run(["apertium", "-u", mode], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=600)
    if proc.returncode < 0:
        raise TransientError(f"apertium was killed (signal {-proc.returncode}); try again")
    if proc.returncode != 0:
        raise UnsupportedPairError(f"apertium {mode} failed: {proc.stderr.strip()[:200]}")
    out = [line.strip() for line in proc.stdout.split("\n")][: len(lines)]
    if len(out) != len(lines):
        raise TransientError(f"apertium returned {len(out)} lines for {len(lines)} utterances")
    # Apertium marks words it could not generate with '#': dropped, also before a second step.
    return [" ".join(o.replace("#", "").split()) for o in out]
