"""Short model names that engines accept, and the hub repos they stand for."""
from __future__ import annotations

# faster-whisper's own names for its CTranslate2 conversions (faster_whisper.utils._MODELS).
FASTER_WHISPER_REPOS = {
    "tiny.en": "Systran/faster-whisper-tiny.en", "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en", "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en", "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en", "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1", "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3", "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
# What a CTranslate2 Whisper folder holds, and the files worth downloading.
CT2_WHISPER_REQUIRED = ("model.bin", "config.json", "tokenizer.json|vocabulary.json|vocabulary.txt")
CT2_WHISPER_PATTERNS = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]


def faster_whisper_aliases(name: str) -> list[str]:
    """Folder names a faster-whisper size may have under DUBBING_MODELS_DIR, besides its repo's."""
    return list(dict.fromkeys((name, f"faster-whisper-{name}")))


def faster_whisper_name(repo_id: str) -> str:
    """The short name of a faster-whisper repo (the first one listed), else the repo id itself."""
    return next((short for short, repo in FASTER_WHISPER_REPOS.items() if repo == repo_id), repo_id)
