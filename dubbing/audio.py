"""Audio arrays: read, write atomically, resample, measure loudness."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .fsutil import atomic_output


def read(path: Path, *, mono: bool = False) -> tuple[np.ndarray, int]:
    """float32 samples (frames, channels) or (frames,) when mono, and the sample rate."""
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if mono:
        data = data.mean(axis=1)
    return data, sr


def write(path: Path, data: np.ndarray, sr: int, *, subtype: str = "FLOAT") -> None:
    with atomic_output(path) as tmp:
        sf.write(str(tmp), data, sr, subtype=subtype, format="WAV")


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    if sr_from == sr_to:
        return x.astype(np.float32, copy=False)
    import soxr
    return soxr.resample(x, sr_from, sr_to).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))
