"""Helpers shared by engine files: cheap package checks, threads."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def cpu_threads() -> int:
    """Threads a model may use: DUBBING_THREADS, else the cores up to 4."""
    return int(os.environ.get("DUBBING_THREADS", str(min(4, os.cpu_count() or 2))))


def package_folder(name: str, pip_name: str) -> Path:
    """An installed package's folder, found without importing it (importing some pulls in torch or
    torchaudio); ImportError naming `pip_name` when it is not installed."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{pip_name} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def missing_packages(*names: str) -> list[str]:
    """Packages (import names) that are not installed, found without importing them."""
    out = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except (ImportError, ValueError):
            out.append(name)
    return out


def packages_available(*names: str):
    """Availability of an engine that needs only these packages (the offline defaults)."""
    from .base import Availability
    missing = missing_packages(*names)
    if missing:
        return Availability.no(f"Python package{'s' if len(missing) > 1 else ''} missing: "
                               f"{', '.join(missing)}; run `make setup`")
    return Availability.yes()


def program_available(program: str, apt_packages: str):
    """Availability of an engine that runs a program from Debian packages."""
    import shutil
    from .base import Availability
    if not shutil.which(program):
        return Availability.no(f"the `{program}` program is not installed; run `make setup` "
                               f"(apt-get install {apt_packages})")
    return Availability.yes()
