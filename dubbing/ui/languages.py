"""ISO 639-1 codes and the names people know them by."""
from __future__ import annotations

# Languages Whisper transcribes and at least one engine here may translate or speak.
NAMES: dict[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "bs": "Bosnian",
    "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian",
    "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish",
    "gl": "Galician", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese",
    "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian",
    "mk": "Macedonian", "ml": "Malayalam", "mr": "Marathi", "ms": "Malay", "mt": "Maltese",
    "nb": "Norwegian Bokmål", "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian Nynorsk",
    "no": "Norwegian", "oc": "Occitan", "pa": "Punjabi", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sh": "Serbo-Croatian", "sk": "Slovak", "sl": "Slovenian",
    "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian",
    "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
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
    return f"{name(source)} → {name(target)}"


def sorted_codes(codes: list[str] | set[str]) -> list[str]:
    """Codes ordered by their names, so select boxes read alphabetically."""
    return sorted(set(codes), key=lambda c: (name(c).lower(), c))
