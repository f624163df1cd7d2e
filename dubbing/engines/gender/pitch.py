"""Gender of a voice from its median pitch (F0): at or above ~165 Hz is called female.

Wrong for raised-voice male speakers (an orator at ~230 Hz), so people can override it.
F0 comes from YIN written in numpy: the same estimate as librosa's, without its ~1 s of
first-call set-up, which was a tenth of a whole dub of a 40 s clip.
"""
from __future__ import annotations

import numpy as np

from ...models import FEMALE, MALE, UNKNOWN
from ..base import Availability, GenderClassifier

FEMALE_F0_HZ = 165.0
MAX_SECONDS = 60.0
FMIN, FMAX = 60.0, 400.0
FRAME, HOP = 1024, 256
YIN_THRESHOLD = 0.2  # cumulative-mean-normalised difference below this: a voiced frame


def yin(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame F0 (Hz) and YIN aperiodicity (low = clearly voiced) (de Cheveigné & Kawahara, 2002)."""
    tau_min, tau_max = int(sr / FMAX), int(sr / FMIN)
    n = 1 + (len(x) - FRAME) // HOP
    if n <= 0 or tau_max >= FRAME:
        return np.zeros(0), np.zeros(0)
    w = FRAME - tau_max  # integration window
    x = np.ascontiguousarray(x, dtype=np.float64)
    frames = np.lib.stride_tricks.as_strided(x, (n, FRAME), (x.strides[0] * HOP, x.strides[0]))
    size = 2 * FRAME
    corr = np.fft.irfft(np.fft.rfft(frames, size) * np.conj(np.fft.rfft(frames[:, :w], size)), size)[:, :tau_max + 1]
    energy = np.cumsum(np.pad(frames ** 2, ((0, 0), (1, 0))), axis=1)
    taus = np.arange(tau_max + 1)
    diff = energy[:, w][:, None] + (energy[:, taus + w] - energy[:, taus]) - 2 * corr
    diff[:, 0] = 0.0
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    seg = cmnd[:, tau_min:]
    rows = np.arange(n)
    below = seg < YIN_THRESHOLD
    # The first dip under the threshold (avoids octave errors), followed down to its minimum.
    idx = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
    for _ in range(seg.shape[1]):
        nxt = np.minimum(idx + 1, seg.shape[1] - 1)
        step = seg[rows, nxt] < seg[rows, idx]
        if not step.any():
            break
        idx = np.where(step, nxt, idx)
    return sr / (idx + tau_min), seg[rows, idx]


def median_f0(audio: np.ndarray, sr: int) -> float | None:
    audio = audio[: int(MAX_SECONDS * sr)]
    f0, aperiodicity = yin(audio, sr)
    if f0.size == 0:
        return None
    frames = np.lib.stride_tricks.as_strided(audio, (len(f0), FRAME), (audio.strides[0] * HOP, audio.strides[0]))
    loudness = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    voiced = (aperiodicity < YIN_THRESHOLD) & (loudness > max(1e-4, 0.3 * np.median(loudness)))
    return float(np.median(f0[voiced])) if voiced.sum() >= 10 else None


class PitchGenderClassifier(GenderClassifier):
    name = "pitch"
    concurrent = True  # numpy FFTs that let go of the GIL
    description = "median F0 (YIN); female at or above 165 Hz"

    @classmethod
    def availability(cls) -> Availability:
        return Availability.yes()

    def classify(self, audio, sr):
        f0 = median_f0(np.ascontiguousarray(audio, dtype=np.float32), sr)
        if f0 is None:
            return UNKNOWN, None
        return (FEMALE if f0 >= FEMALE_F0_HZ else MALE), round(f0, 1)
