"""Is an engine's Python package here, and does it import? Plus the torch-side setup engines share.

`probe_import` runs the import in a subprocess because some packages (pyannote.audio,
coqui TTS) crash on import on machines whose torchaudio build does not match torch,
and that must not take the caller down.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from . import _util

CACHE_DIR_ENV = "DUBBING_CACHE_DIR"

# pip names of the packages engines need, where they differ from the import name.
PIP_NAMES = {"TTS": "coqui-tts", "pyannote.audio": "pyannote.audio", "faster_whisper": "faster-whisper"}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "dubbing").expanduser()


def missing_packages(*modules: str) -> str | None:
    """None when every module can be found, else a reason naming the missing ones (imports nothing)."""
    missing = _util.missing_packages(*modules)
    if not missing:
        return None
    return f"Python package{'s' if len(missing) > 1 else ''} {', '.join(missing)} not installed"


def pip_install_hint(packages: Sequence[str]) -> str:
    return f"pip install {' '.join(PIP_NAMES.get(p, p) for p in packages)}"


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
