"""Running a speech program that writes a WAV: text through a file (never argv, where a line
starting with '-' would read as an option), output renamed into place only when it succeeded."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ...errors import TransientError
from ...fsutil import atomic_output


def run_to_wav(argv: list[str], text: bytes, out_path: Path, *, what: str, timeout: float = 120) -> None:
    """`argv` may hold "{text}" (a file with `text`) and "{out}" (the WAV to write)."""
    with tempfile.NamedTemporaryFile(suffix=".txt") as fh, atomic_output(out_path) as tmp:
        fh.write(text)
        fh.flush()
        cmd = [a.replace("{text}", fh.name).replace("{out}", str(tmp)) for a in argv]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TransientError(f"{what} took more than {timeout:.0f} s") from exc
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            err = proc.stderr.decode("utf-8", "replace").strip()[:200]
            raise TransientError(f"{what} failed (exit {proc.returncode}): {err or 'no audio written'}")
