"""Uploads go to disk at once: Streamlit holds an upload in server memory for as long as the widget keeps it."""
from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from ..jobs.store import data_dir

STALE_SECONDS = 24 * 3600  # staged uploads nobody submitted


def staging_dir() -> Path:
    """Where uploads wait until they are submitted: beside the job store, so the runner's copy stays on one disk."""
    root = data_dir() / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    return root


def safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".bin"


def save_upload(fh: BinaryIO, original_name: str, *, directory: Path | None = None) -> Path:
    """Stream an uploaded file to a new file on disk, 1 MB at a time."""
    directory = directory or staging_dir()
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / f"{uuid.uuid4().hex}{safe_suffix(original_name)}"
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        fh.seek(0)
        with open(tmp, "wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def discard(path: str | Path | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)


def clean_stale(directory: Path | None = None, *, max_age: float = STALE_SECONDS) -> int:
    """Remove staged uploads older than `max_age` (sessions that ended without submitting)."""
    directory = directory or staging_dir()
    now, removed = time.time(), 0
    for path in directory.iterdir():
        try:
            if path.is_file() and now - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def release_from_streamlit(uploaded) -> None:
    """Drop Streamlit's in-memory copy of an upload now, rather than when the session ends."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is not None and getattr(uploaded, "file_id", None):
            ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=uploaded.file_id)
    except Exception:  # best effort: the session end frees it anyway
        pass
