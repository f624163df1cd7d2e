"""Hub downloads: allowed only with DUBBING_ALLOW_DOWNLOAD=1, never with HF_HUB_OFFLINE=1."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import EngineUnavailableError, NotFoundError
from .local_models import MODELS_DIR_ENV, ModelNotFoundError, has_files, hf_cache_dir, unmet, where_looked

ALLOW_DOWNLOAD_ENV = "DUBBING_ALLOW_DOWNLOAD"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def download_allowed() -> bool:
    return _truthy(os.environ.get(ALLOW_DOWNLOAD_ENV)) and not _truthy(os.environ.get("HF_HUB_OFFLINE"))


def download_hint() -> str:
    allow, offline = _truthy(os.environ.get(ALLOW_DOWNLOAD_ENV)), _truthy(os.environ.get("HF_HUB_OFFLINE"))
    if allow and not offline:
        return "hub downloads are allowed"
    steps = ([] if allow else [f"set {ALLOW_DOWNLOAD_ENV}=1"]) + (["unset HF_HUB_OFFLINE"] if offline else [])
    return f"hub downloads are off ({' and '.join(steps)} to allow them, or put the model folder under {MODELS_DIR_ENV})"


def download(repo_id: str, *, kind: str, token: str | None, allow_patterns: Sequence[str] | None,
             required: Sequence[str]) -> Path:
    """Fetch `repo_id` into the hub cache; failures become one clear message."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    try:
        path = Path(snapshot_download(repo_id, cache_dir=hf_cache_dir(), token=token,
                                      allow_patterns=list(allow_patterns) if allow_patterns else None))
    except GatedRepoError as exc:
        raise EngineUnavailableError(
            f"{kind} model '{repo_id}' is gated and this token may not read it: accept its terms on "
            f"https://huggingface.co/{repo_id} ({type(exc).__name__})") from exc
    except RepositoryNotFoundError as exc:
        raise NotFoundError(f"{kind} model '{repo_id}' does not exist on the hub (or is private)") from exc
    except Exception as exc:  # network, disk: say what failed, not a traceback
        raise ModelNotFoundError(
            f"{kind} model '{repo_id}' not found locally ({where_looked(repo_id)}) and the download failed: "
            f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    if not has_files(path, required):
        raise ModelNotFoundError(f"{kind} model '{repo_id}' downloaded to {path} but lacks {unmet(path, required)}")
    return path
