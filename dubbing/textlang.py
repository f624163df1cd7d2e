"""Which language a transcript's text is in: lingua's n-gram models, which ship in its wheel.

Whisper's language ID hears the audio. On some voices it is unsure: a French speaker came out
at 0.3-0.5 for Spanish or Hebrew, the window was decoded under the prompt of a language heard
surely elsewhere (English), and Whisper wrote his French words anyway. The line then went to the
English translator. The text says what the audio could not: lingua, asked to choose among a few
candidates, gives "La parole est à madame Annie Le Weirou" as French at 0.79 against 0.14.

Models load per language on first use (about 20 MB and 0.1 s each) and are unloaded after a
check; a video heard surely in one language never loads them.
"""
from __future__ import annotations

MIN_LETTERS = 12  # shorter texts ("La", "On", "Okay.") say little of their language
# The text's language must lead the candidates with at least this confidence, and be TEXT_MARGIN
# times as likely as the language the window was tagged with. Confidence spreads over the
# candidates: "La Parole est un madame Annie Le Huerot." was French 0.64 against English 0.20 among
# five, 0.48 against 0.15 among seven (Polish 0.25); English lines tagged English lead at 0.92-0.99.
TEXT_SURE = 0.45
TEXT_MARGIN = 3.0
# Twice as likely suffices for a language the same speaker's other windows are in: a French man's
# missed turns, heard alone, were "La Parole est à madame Annie Le Wehrou." under the English tag,
# French 0.72 against 0.28, where his first window had become French.
OWN_MARGIN = 2.0


def available() -> bool:
    try:
        import lingua  # noqa: F401
    except ImportError:
        return False
    return True


def _language(code: str):
    from lingua import IsoCode639_1, Language
    iso = getattr(IsoCode639_1, code.upper(), None)
    if iso is None or len(code) != 2:
        return None
    try:
        return Language.from_iso_code_639_1(iso)
    except ValueError:
        return None


def confidences(texts: list[str], candidates: list[set[str]]) -> list[dict[str, float]]:
    """For each text, its confidence in each of its candidate languages (ISO 639-1) that lingua
    knows; an empty dict where fewer than two are known. Loaded models are unloaded at the end."""
    from lingua import LanguageDetectorBuilder
    out: list[dict[str, float]] = []
    detectors = {}
    try:
        for text, codes in zip(texts, candidates):
            langs = {c: lang for c in sorted(codes) if (lang := _language(c)) is not None}
            if len(langs) < 2:
                out.append({})
                continue
            key = frozenset(langs)
            if key not in detectors:
                detectors[key] = LanguageDetectorBuilder.from_languages(*langs.values()).build()
            values = detectors[key].compute_language_confidence_values(text)
            out.append({v.language.iso_code_639_1.name.lower(): float(v.value) for v in values})
    finally:
        for d in detectors.values():
            d.unload_language_models()
    return out


def long_enough(text: str) -> bool:
    return sum(ch.isalpha() for ch in text) >= MIN_LETTERS


def retag(text: str, tagged: str, conf: dict[str, float], own: frozenset[str] = frozenset()) -> str | None:
    """The language `text` is surely in, when that is not `tagged`; None otherwise. `own`: languages
    the speaker's other windows are in (OWN_MARGIN instead of TEXT_MARGIN)."""
    if not conf or not long_enough(text):
        return None
    best = max(conf, key=conf.get)
    margin = OWN_MARGIN if best in own else TEXT_MARGIN
    if best != tagged and conf[best] >= TEXT_SURE and conf[best] >= margin * conf.get(tagged, 0.0):
        return best
    return None
