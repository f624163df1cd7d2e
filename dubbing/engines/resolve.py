"""Where every engine's model comes from: one resolution order for all of them.

Order: an explicit local path; a folder under `DUBBING_MODELS_DIR`; the local
Hugging Face cache; a model that ships in an installed package; and last a hub
download, only when `DUBBING_ALLOW_DOWNLOAD=1` (never with `HF_HUB_OFFLINE=1`).
A model found nowhere raises one error that names every place looked in, so a
user knows what to put where.

Everything here is cheap (reads folders and small JSON files) except the
download and `probe_import`, which runs an import in a subprocess because some
packages (pyannote.audio, coqui TTS) crash on import on machines whose
torchaudio build does not match torch, and we must not take the caller down.
"""
from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import EngineUnavailableError, NotFoundError
from . import _util

MODELS_DIR_ENV = "DUBBING_MODELS_DIR"
ALLOW_DOWNLOAD_ENV = "DUBBING_ALLOW_DOWNLOAD"
CACHE_DIR_ENV = "DUBBING_CACHE_DIR"

# Files a Hugging Face transformers checkpoint must have to load; "|" separates alternatives.
HF_WEIGHTS = "model.safetensors|pytorch_model.bin|model.safetensors.index.json|pytorch_model.bin.index.json"
HF_REQUIRED = ("config.json", HF_WEIGHTS)


class ModelNotFoundError(EngineUnavailableError):
    """No copy of a model anywhere we may look; the message lists the places."""


# ---------------------------------------------------------------- settings

def models_dirs() -> list[Path]:
    """Folders named by DUBBING_MODELS_DIR (several allowed, os.pathsep-separated)."""
    raw = os.environ.get(MODELS_DIR_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def hf_home() -> Path:
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, by the same environment rules huggingface_hub uses (read at call time)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    return hf_home() / "hub"


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


def hf_token() -> str | None:
    """A Hugging Face token: HF_TOKEN, the older HUGGING_FACE_HUB_TOKEN, or the one `hf auth login` stored."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    stored = token_path()
    try:
        token = stored.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def token_path() -> Path:
    return Path(os.environ.get("HF_TOKEN_PATH") or hf_home() / "token").expanduser()


def save_hf_token(token: str) -> Path:
    """Store a token where huggingface_hub (and `hf_token()`, so the worker) reads it; owner-only.

    Written directly, not through `huggingface_hub.login`, which checks the token online.
    An empty token removes the stored one.
    """
    path = token_path()
    token = token.strip()
    if not token:
        path.unlink(missing_ok=True)
        return path
    if any(c.isspace() for c in token) or len(token) < 8:
        raise EngineUnavailableError("that does not look like a Hugging Face token (hf_...); paste it again")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
    os.replace(tmp, path)
    return path


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "dubbing").expanduser()


# ---------------------------------------------------------------- packages

def missing_packages(*modules: str) -> str | None:
    """None when every module can be found, else a reason naming the missing ones (imports nothing)."""
    missing = _util.missing_packages(*modules)
    if not missing:
        return None
    return f"Python package{'s' if len(missing) > 1 else ''} {', '.join(missing)} not installed"


_probe_memo: dict[str, str | None] = {}


def probe_import(module: str, *, versions_of: Sequence[str] = ()) -> str | None:
    """None when `import module` works in a fresh interpreter, else why not (the exception's last line).

    Runs once per installation: the verdict is kept in memory and on disk, keyed
    by the interpreter and the versions of `versions_of` distributions.
    """
    key = json.dumps([module, sys.executable, [_dist_version(d) for d in versions_of]])
    if key in _probe_memo:
        return _probe_memo[key]
    disk = cache_dir() / "import-probes.json"
    try:
        stored = json.loads(disk.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    if key in stored:
        _probe_memo[key] = stored[key]
        return stored[key]
    try:
        proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                              text=True, timeout=300)
        reason = None if proc.returncode == 0 else _last_error_line(proc.stderr) or f"exit code {proc.returncode}"
    except subprocess.TimeoutExpired:
        reason = "the import took over 300 s"
    if reason is not None:
        reason = f"`import {module}` fails: {reason}"
    _probe_memo[key] = reason
    stored[key] = reason
    try:
        from ..fsutil import atomic_write_text
        atomic_write_text(disk, json.dumps(stored, indent=1))
    except OSError:
        pass  # a read-only home only costs a re-probe next time
    return reason


def _dist_version(dist: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln:
            return ln[:400]
    return lines[-1][:400] if lines else ""


# ---------------------------------------------------------------- finding folders

@dataclass(frozen=True)
class LocalModel:
    name: str  # hub repo id, or the folder name for a plain folder
    path: Path
    source: str  # "path", "DUBBING_MODELS_DIR", "Hugging Face cache", "package"
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _has_files(folder: Path, required: Sequence[str]) -> bool:
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


def _cache_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder for `repo_id` in the local hub cache (refs/main first, else the newest)."""
    repo_dir = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snaps = repo_dir / "snapshots"
    if not snaps.is_dir():
        return None
    try:
        ref = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
        if (snaps / ref).is_dir():
            return snaps / ref
    except OSError:
        pass
    found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def _models_dir_candidates(name: str) -> list[Path]:
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


def _packaged(name: str) -> Path | None:
    finder = _PACKAGED.get(name)
    if finder is None:
        # Third-party wheels can ship models by declaring an entry point in group "dubbing.models".
        from importlib import metadata
        for ep in metadata.entry_points(group="dubbing.models"):
            if ep.name == name:
                finder = ep.load()
                break
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
        return LocalModel(p.name, p, "path", _read_config(p)) if _has_files(p, required) else None
    for cand in _models_dir_candidates(name):
        if _has_files(cand, required):
            return LocalModel(name, cand, MODELS_DIR_ENV, _read_config(cand))
    if "/" in name:
        snap = _cache_snapshot(name)
        if snap is not None and _has_files(snap, required):
            return LocalModel(name, snap, "Hugging Face cache", _read_config(snap))
    packaged = _packaged(name)
    if packaged is not None and _has_files(packaged, required):
        return LocalModel(name, packaged, "package", _read_config(packaged))
    return None


def where_looked(name: str) -> str:
    """The places `find_local` looks for `name`, in words."""
    places = []
    dirs = models_dirs()
    if dirs:
        places.append(f"{MODELS_DIR_ENV} ({', '.join(str(c) for c in _models_dir_candidates(name))})")
    else:
        places.append(f"{MODELS_DIR_ENV} (not set)")
    if "/" in name:
        places.append(f"the Hugging Face cache ({hf_cache_dir() / ('models--' + name.replace('/', '--'))})")
    else:
        places.append(f"the Hugging Face cache ({hf_cache_dir()}; '{name}' is not a hub repo id)")
    places.append("installed packages")
    return "; ".join(places)


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
        if not _has_files(p, required):
            raise NotFoundError(f"{kind} model folder {p} lacks {_describe_required(_unmet(p, required))}")
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
    return _download(name, kind=kind, token=token, allow_patterns=allow_patterns, required=required)


def _unmet(folder: Path, required: Sequence[str]) -> list[str]:
    return [group for group in required if not _has_files(folder, (group,))]


def _describe_required(required: Sequence[str]) -> str:
    return ", ".join(" or ".join(g.split("|")) for g in required)


def _download(repo_id: str, *, kind: str, token: str | None, allow_patterns: Sequence[str] | None,
              required: Sequence[str]) -> Path:
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
    if not _has_files(path, required):
        raise ModelNotFoundError(f"{kind} model '{repo_id}' downloaded to {path} but lacks "
                                 f"{_describe_required(_unmet(path, required))}")
    return path


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
                if _has_files(folder, required):
                    rel = folder.relative_to(root).as_posix()
                    consider(LocalModel(rel.replace("--", "/", 1) if "--" in rel else rel, folder,
                                        MODELS_DIR_ENV, _read_config(folder)))
    cache = hf_cache_dir()
    if cache.is_dir():
        for repo_dir in sorted(cache.glob("models--*")):
            repo_id = repo_dir.name[len("models--"):].replace("--", "/")
            snap = _cache_snapshot(repo_id)
            if snap is not None and _has_files(snap, required):
                consider(LocalModel(repo_id, snap, "Hugging Face cache", _read_config(snap)))
    return list(seen.values())


# ---------------------------------------------------------------- faster-whisper

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
CT2_WHISPER_REQUIRED = ("model.bin", "config.json", "tokenizer.json|vocabulary.json|vocabulary.txt")
_CT2_PATTERNS = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]


def resolve_faster_whisper(name_or_path: str | os.PathLike) -> Path:
    """A CTranslate2 Whisper folder for a faster-whisper size name ("large-v3", "turbo", ...),
    a hub repo id, or a local folder. A bare name is also looked for under DUBBING_MODELS_DIR
    as itself, "faster-whisper-<name>" and the repo's folder name."""
    name = str(name_or_path)
    if looks_like_path(name):
        return resolve_model(name, kind="speech-to-text", required=CT2_WHISPER_REQUIRED)
    repo = FASTER_WHISPER_REPOS.get(name, name)
    for alias in dict.fromkeys((name, f"faster-whisper-{name}")):
        for cand in _models_dir_candidates(alias):
            if _has_files(cand, CT2_WHISPER_REQUIRED):
                return cand
    if "/" not in repo:
        raise NotFoundError(f"unknown faster-whisper model '{name}': use one of "
                            f"{', '.join(FASTER_WHISPER_REPOS)}, a hub repo id or a local folder")
    return resolve_model(repo, kind="speech-to-text", required=CT2_WHISPER_REQUIRED,
                         allow_patterns=_CT2_PATTERNS)


def local_faster_whisper_models() -> list[str]:
    """faster-whisper model names (or folder names) present locally, for an engine's `models()`."""
    found = scan_local(lambda m: "lang_ids" in m.config or "alignment_heads" in m.config
                       or "whisper" in m.name.lower(), required=CT2_WHISPER_REQUIRED)
    by_repo = {v: k for k, v in reversed(FASTER_WHISPER_REPOS.items())}
    return sorted({by_repo.get(m.name, m.name) for m in found})


# ---------------------------------------------------------------- transformers and torch

def prepare_transformers() -> None:
    """Call before importing transformers models.

    transformers imports torchaudio whenever it is installed, and PyPI's Linux
    torchaudio wheels are CUDA builds that fail to load beside a CPU torch
    (`_torchaudio.so` wants `libc10_cuda.so`): every model import then fails.
    None of our transformers engines needs torchaudio, so when it cannot load we
    hide it from this process (transformers then takes its no-torchaudio paths).
    """
    if "torchaudio" in sys.modules or missing_packages("torchaudio"):
        return
    if probe_import("torchaudio", versions_of=("torch", "torchaudio")) is not None:
        sys.modules["torchaudio"] = None  # type: ignore[assignment]  # `import torchaudio` now raises ImportError


def torch_device() -> str:
    """"cuda" when a GPU is usable (DUBBING_DEVICE=cpu forces the CPU), else "cpu"."""
    wanted = os.environ.get("DUBBING_DEVICE", "").strip().lower()
    if wanted:
        return wanted
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def hf_availability(packages: Sequence[str], found: Sequence[LocalModel], *, family: str,
                    default: str) -> "Availability":
    """The common availability rule of a hub-model engine: packages present, and weights found
    locally or downloads allowed; the reason names what is missing and where we looked."""
    from .base import Availability
    miss = missing_packages(*packages)
    if miss:
        return Availability.no(f"{miss}: pip install {' '.join(_PIP_NAMES.get(p, p) for p in packages)}")
    if found or download_allowed():
        return Availability.yes()
    return Availability.no(
        f"no {family} model found: looked for {default} in {where_looked(default)}, and for any {family} "
        f"model under {MODELS_DIR_ENV} and in the Hugging Face cache; {download_hint()}")


_PIP_NAMES = {"TTS": "coqui-tts", "pyannote.audio": "pyannote.audio", "faster_whisper": "faster-whisper"}
