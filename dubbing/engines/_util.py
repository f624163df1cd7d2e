"""Helpers shared by engine files: cheap package checks."""
from __future__ import annotations

import importlib.util


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
