"""Where every engine's model comes from: one resolution order for all of them.

Order: an explicit local path; a folder under `DUBBING_MODELS_DIR`; the local
Hugging Face cache; a model that ships in an installed package; and last a hub
download, only when `DUBBING_ALLOW_DOWNLOAD=1` (never with `HF_HUB_OFFLINE=1`).
A model found nowhere raises one error that names every place looked in, so a
user knows what to put where.

The parts live in small modules (`hub_token`, `packages`, `local_models`,
`download`, `model_names`); engines import them all from here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import EngineUnavailableError, NotFoundError
from .download import ALLOW_DOWNLOAD_ENV, download, download_allowed, download_hint
from .hub_token import hf_home, hf_token, save_hf_token, token_path
from .local_models import (HF_REQUIRED, HF_WEIGHTS, MODELS_DIR_ENV, LocalModel, ModelNotFoundError,
                           cached_snapshots, find_local, has_files, hf_cache_dir, hub_folder, looks_like_path,
                           models_dir_candidates, models_dirs, register_packaged, scan_local, unmet, where_looked)
from .model_names import (CT2_WHISPER_PATTERNS, CT2_WHISPER_REQUIRED, FASTER_WHISPER_REPOS,
                          faster_whisper_aliases, faster_whisper_name)
from .packages import (CACHE_DIR_ENV, cache_dir, missing_packages, pip_install_hint, prepare_transformers,
                       probe_import, torch_device)

if TYPE_CHECKING:
    from .base import Availability

# Engines import all of these from here; the modules above are where they live.
__all__ = [
    "ALLOW_DOWNLOAD_ENV", "download", "download_allowed", "download_hint",
    "hf_home", "hf_token", "save_hf_token", "token_path",
    "HF_REQUIRED", "HF_WEIGHTS", "MODELS_DIR_ENV", "LocalModel", "ModelNotFoundError", "cached_snapshots",
    "find_local", "has_files", "hf_cache_dir", "hub_folder", "looks_like_path", "models_dir_candidates", "models_dirs",
    "register_packaged", "scan_local", "unmet", "where_looked",
    "CT2_WHISPER_PATTERNS", "CT2_WHISPER_REQUIRED", "FASTER_WHISPER_REPOS", "faster_whisper_aliases",
    "faster_whisper_name",
    "CACHE_DIR_ENV", "cache_dir", "missing_packages", "pip_install_hint", "prepare_transformers", "probe_import",
    "torch_device",
    "resolve_model", "resolve_faster_whisper", "local_faster_whisper_models", "hf_availability",
]


def resolve_model(name_or_path: str | os.PathLike, *, kind: str, required: Sequence[str] = HF_REQUIRED,
                  allow_patterns: Sequence[str] | None = None, token: str | None = None,
                  gated: bool = False, allow_download: bool | None = None) -> Path:
    """The local folder of a model, downloading it only when allowed.

    `kind` names what the model is for ("translation", "tts", ...), for messages.
    `required` lists files the folder must hold ("a|b" = either). A missing
    explicit path raises NotFoundError; a model found nowhere raises
    ModelNotFoundError (an EngineUnavailableError) naming every place looked in.
    """
    name = str(name_or_path)
    if not name:
        raise ModelNotFoundError(f"no {kind} model given")
    if looks_like_path(name):
        p = Path(name).expanduser()
        if not p.exists():
            raise NotFoundError(f"{kind} model folder {p} does not exist")
        if not has_files(p, required):
            raise NotFoundError(f"{kind} model folder {p} lacks {unmet(p, required)}")
        return p
    local = find_local(name, required=required)
    if local is not None:
        return local.path
    token = token or hf_token()
    may_download = download_allowed() if allow_download is None else allow_download
    if not may_download or "/" not in name:
        needs = "; it is gated: accept its terms on huggingface.co and set HF_TOKEN" if gated and not token else ""
        raise ModelNotFoundError(
            f"{kind} model '{name}' not found. Looked in: {where_looked(name)}; {download_hint()}{needs}")
    if gated and not token:
        raise EngineUnavailableError(
            f"{kind} model '{name}' is gated: accept its terms on https://huggingface.co/{name} "
            f"and set HF_TOKEN (none is set)")
    return download(name, kind=kind, token=token, allow_patterns=allow_patterns, required=required)


def resolve_faster_whisper(name_or_path: str | os.PathLike) -> Path:
    """A CTranslate2 Whisper folder for a faster-whisper size name ("large-v3", "turbo", ...),
    a hub repo id, or a local folder. A bare name is also looked for under DUBBING_MODELS_DIR
    as itself, "faster-whisper-<name>" and the repo's folder name."""
    name = str(name_or_path)
    if looks_like_path(name):
        return resolve_model(name, kind="speech-to-text", required=CT2_WHISPER_REQUIRED)
    repo = FASTER_WHISPER_REPOS.get(name, name)
    for alias in faster_whisper_aliases(name):
        for cand in models_dir_candidates(alias):
            if has_files(cand, CT2_WHISPER_REQUIRED):
                return cand
    if "/" not in repo:
        raise NotFoundError(f"unknown faster-whisper model '{name}': use one of "
                            f"{', '.join(FASTER_WHISPER_REPOS)}, a hub repo id or a local folder")
    return resolve_model(repo, kind="speech-to-text", required=CT2_WHISPER_REQUIRED,
                         allow_patterns=CT2_WHISPER_PATTERNS)


def local_faster_whisper_models() -> list[str]:
    """faster-whisper model names (or folder names) present locally, for an engine's `models()`."""
    found = scan_local(lambda m: "lang_ids" in m.config or "alignment_heads" in m.config
                       or "whisper" in m.name.lower(), required=CT2_WHISPER_REQUIRED)
    return sorted({faster_whisper_name(m.name) for m in found})


def hf_availability(packages: Sequence[str], found: Sequence[LocalModel], *, family: str,
                    default: str) -> "Availability":
    """The common availability rule of a hub-model engine: packages present, and weights found
    locally or downloads allowed; the reason names what is missing and where we looked."""
    from .base import Availability
    miss = missing_packages(*packages)
    if miss:
        return Availability.no(f"{miss}: {pip_install_hint(packages)}")
    if found or download_allowed():
        return Availability.yes()
    return Availability.no(
        f"no {family} model found: looked for {default} in {where_looked(default)}, and for any {family} "
        f"model under {MODELS_DIR_ENV} and in the Hugging Face cache; {download_hint()}")
