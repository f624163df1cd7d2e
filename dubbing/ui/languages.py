"""ISO 639-1 codes and the names people know them by, for select boxes and labels."""
from __future__ import annotations

from ..engines.langcodes import LANGUAGES

# The project's table (dubbing.engines.langcodes), plus codes some engines here report that it lacks.
NAMES: dict[str, str] = {code: entry[0] for code, entry in LANGUAGES.items()} | {
    "mt": "Maltese", "nb": "Norwegian Bokmål", "nn": "Norwegian Nynorsk", "oc": "Occitan", "sh": "Serbo-Croatian",
}

AUTO = "auto"


def name(code: str | None) -> str:
    """'es' -> 'Spanish'; unknown codes come back as they are."""
    if not code:
        return "?"
    if code == AUTO:
        return "Detect automatically"
    return NAMES.get(code, code)


def label(code: str | None) -> str:
    """'es' -> 'Spanish (es)', for select boxes."""
    if code == AUTO or not code:
        return name(code)
    return f"{name(code)} ({code})" if code in NAMES else code


def pair_label(source: str | None, target: str | None) -> str:
    return f"{'Auto' if source == AUTO else name(source)} → {name(target)}"


def sorted_codes(codes: list[str] | set[str]) -> list[str]:
    """Codes ordered by their names, so select boxes read alphabetically."""
    return sorted(set(codes), key=lambda c: (name(c).lower(), c))
