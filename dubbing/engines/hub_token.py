"""The Hugging Face token for gated models: where it is read from and where the app stores it."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import EngineUnavailableError


def hf_home() -> Path:
    """HF_HOME by huggingface_hub's rules, read at call time (its own constants are fixed at import)."""
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface"


def token_path() -> Path:
    return Path(os.environ.get("HF_TOKEN_PATH") or hf_home() / "token").expanduser()


def hf_token() -> str | None:
    """A Hugging Face token: HF_TOKEN, the older HUGGING_FACE_HUB_TOKEN, or the one `hf auth login` stored."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    try:
        token = token_path().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


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
