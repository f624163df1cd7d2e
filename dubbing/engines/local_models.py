"""Finding a model on this machine: an explicit folder, `DUBBING_MODELS_DIR`, the Hugging Face
cache (read with huggingface_hub's own cache scanner), or a package that ships it. Never downloads;
reads only folder listings and small JSON files.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import EngineUnavailableError
from .hub_token import hf_home

MODELS_DIR_ENV = "DUBBING_MODELS_DIR"

# Files a Hugging Face transformers checkpoint must have to load; "|" separates alternatives.
HF_WEIGHTS = "model.safetensors|pytorch_model.bin|model.safetensors.index.json|pytorch_model.bin.index.json"
HF_REQUIRED = ("config.json", HF_WEIGHTS)
HF_CACHE = "Hugging Face cache"


class ModelNotFoundError(EngineUnavailableError):
    """No copy of a model anywhere we may look; the message lists the places."""


@dataclass(frozen=True)
class LocalModel:
    name: str  # hub repo id, or the folder name for a plain folder
    path: Path
    source: str  # "path", "DUBBING_MODELS_DIR", "Hugging Face cache", "package"
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def models_dirs() -> list[Path]:
    """Folders named by DUBBING_MODELS_DIR (several allowed, os.pathsep-separated)."""
    raw = os.environ.get(MODELS_DIR_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, by the same environment rules huggingface_hub uses (read at call time)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    return hf_home() / "hub"


def hub_folder(repo_id: str) -> Path:
    """A model repo's folder in the hub cache (huggingface_hub's `repo_folder_name` layout), named here
    so that a look at the cache does not import huggingface_hub (0.17 s)."""
    return hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def cached_snapshots() -> dict[str, Path]:
    """Model repos in the hub cache -> the snapshot to use: the one `main` points to, else the newest.

    Repos huggingface_hub reports as corrupted (a blob missing from an interrupted
    download) are left out.
    """
    if not hf_cache_dir().is_dir():  # no cache: no need to import huggingface_hub to say so
        return {}
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(hf_cache_dir())
    except CacheNotFound:
        return {}
    out = {}
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        best = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified, r.snapshot_path.stat().st_mtime))
        out[repo.repo_id] = best.snapshot_path
    return out


def cached_snapshot(repo_id: str, required: Sequence[str]) -> Path | None:
    """The snapshot of one repo in the hub cache, as `cached_snapshots` would pick it, but cheap when
    `main` points to it: huggingface_hub looks up one of the required files."""
    if not hub_folder(repo_id).is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    cache = hf_cache_dir()
    probe = next((a for group in required for a in group.split("|") if not _is_glob(a)), None)
    hit = try_to_load_from_cache(repo_id, probe, cache_dir=cache) if probe else None
    if isinstance(hit, str):
        return Path(hit).parents[len(Path(probe).parts) - 1]
    # No `main` ref (a snapshot put there by hand or fetched by revision), or main lacks the file.
    return cached_snapshots().get(repo_id)


def has_files(folder: Path, required: Sequence[str]) -> bool:
    """Whether `folder` holds every group of `required` ("a|b" = either; globs allowed)."""
    if not folder.is_dir():
        return False
    names = None
    for group in required:
        alts = group.split("|")
        if any((folder / a).exists() for a in alts if not _is_glob(a)):
            continue
        if names is None:
            names = [p.name for p in folder.iterdir()]
        if not any(fnmatch.filter(names, a) for a in alts if _is_glob(a)):
            return False
    return True


def unmet(folder: Path, required: Sequence[str]) -> str:
    """The groups of `required` that `folder` lacks, in words."""
    return ", ".join(" or ".join(g.split("|")) for g in required if not has_files(folder, (g,)))


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def looks_like_path(name_or_path: str | os.PathLike) -> bool:
    s = str(name_or_path)
    if os.path.isabs(s) or s.startswith(("./", "../", "~", ".\\")):
        return True
    # "org/name" is a hub id unless such a folder exists here.
    return os.sep in s.rstrip(os.sep) and Path(s).exists()


def models_dir_candidates(name: str) -> list[Path]:
    tail = name.rstrip("/").split("/")[-1]
    out = []
    for root in models_dirs():
        for rel in dict.fromkeys((name, name.replace("/", "--"), tail)):
            out.append(root / rel)
    return out


# Models that ship inside installed packages: name -> function giving the folder (or None).
_PACKAGED: dict[str, Callable[[], Path | None]] = {}


def register_packaged(name: str, finder: Callable[[], Path | None]) -> None:
    """Let an engine say that model `name` can come from an installed package."""
    _PACKAGED[name] = finder


@functools.lru_cache(maxsize=1)
def _model_entry_points() -> dict:
    """Third-party wheels can ship models by declaring an entry point in group "dubbing.models".
    Read once per process: scanning every installed distribution took 16 ms a call, and one
    dub asked 29 times (0.46 s). A newly installed wheel needs a restart anyway."""
    from importlib import metadata
    return {ep.name: ep for ep in metadata.entry_points(group="dubbing.models")}


def _packaged(name: str) -> Path | None:
    finder = _PACKAGED.get(name)
    if finder is None:
        ep = _model_entry_points().get(name)
        finder = ep.load() if ep is not None else None
    if finder is None:
        return None
    try:
        found = finder()
    except Exception:  # a broken optional package must not break resolution
        return None
    return Path(found) if found else None


def find_local(name_or_path: str | os.PathLike, *, required: Sequence[str] = HF_REQUIRED) -> LocalModel | None:
    """The first local copy of a model, in resolution order; None if there is none. Never downloads."""
    name = str(name_or_path)
    if looks_like_path(name):
        p = Path(name).expanduser()
        return LocalModel(p.name, p, "path", _read_config(p)) if has_files(p, required) else None
    for cand in models_dir_candidates(name):
        if has_files(cand, required):
            return LocalModel(name, cand, MODELS_DIR_ENV, _read_config(cand))
    if "/" in name:
        snap = cached_snapshot(name, required)
        if snap is not None and has_files(snap, required):
            return LocalModel(name, snap, HF_CACHE, _read_config(snap))
    packaged = _packaged(name)
    if packaged is not None and has_files(packaged, required):
        return LocalModel(name, packaged, "package", _read_config(packaged))
    return None


def where_looked(name: str) -> str:
    """The places `find_local` looks for `name`, in words."""
    places = []
    if models_dirs():
        places.append(f"{MODELS_DIR_ENV} ({', '.join(str(c) for c in models_dir_candidates(name))})")
    else:
        places.append(f"{MODELS_DIR_ENV} (not set)")
    if "/" in name:
        places.append(f"the Hugging Face cache ({hub_folder(name)})")
    else:
        places.append(f"the Hugging Face cache ({hf_cache_dir()}; '{name}' is not a hub repo id)")
    places.append("installed packages")
    return "; ".join(places)


def scan_local(predicate: Callable[[LocalModel], bool], *, required: Sequence[str] = HF_REQUIRED,
               names: Iterable[str] = ()) -> list[LocalModel]:
    """Every local model (under DUBBING_MODELS_DIR, two levels deep, and in the hub cache) that
    `predicate` accepts, plus any of `names` found through `find_local`. Reads only config files."""
    seen: dict[Path, LocalModel] = {}

    def consider(m: LocalModel) -> None:
        if m.path not in seen and predicate(m):
            seen[m.path] = m

    for name in names:
        m = find_local(name, required=required)
        if m is not None:
            consider(m)
    for root in models_dirs():
        if not root.is_dir():
            continue
        for first in sorted(p for p in root.iterdir() if p.is_dir()):
            for folder in [first, *sorted(p for p in first.iterdir() if p.is_dir())]:
                if has_files(folder, required):
                    rel = folder.relative_to(root).as_posix()
                    consider(LocalModel(rel.replace("--", "/", 1) if "--" in rel else rel, folder,
                                        MODELS_DIR_ENV, _read_config(folder)))
    for repo_id, snap in sorted(cached_snapshots().items()):
        if has_files(snap, required):
            consider(LocalModel(repo_id, snap, HF_CACHE, _read_config(snap)))
    return list(seen.values())
