"""Gender of a voice from its median pitch (F0): at or above ~165 Hz is called female.

Wrong for raised-voice male speakers (an orator at ~230 Hz), so people can override it.
"""
from __future__ import annotations

import numpy as np

from ...models import FEMALE, MALE, UNKNOWN
from .._util import missing_packages
from ..base import Availability, GenderClassifier

FEMALE_F0_HZ = 165.0
MAX_SECONDS = 60.0


def median_f0(audio: np.ndarray, sr: int) -> float | None:
    import librosa
    audio = audio[: int(MAX_SECONDS * sr)]
    if len(audio) < sr // 4:
        return None
    frame = 1024
    f0 = librosa.yin(audio, fmin=60, fmax=400, sr=sr, frame_length=frame, hop_length=256)
    energy = librosa.feature.rms(y=audio, frame_length=frame, hop_length=256)[0][: len(f0)]
    voiced = energy > max(1e-4, 0.3 * np.median(energy))
    # yin reports fmax on unvoiced frames; keep frames that are loud and in the speech range.
    good = f0[: len(voiced)][voiced]
    good = good[(good > 62) & (good < 398)]
    return float(np.median(good)) if good.size >= 10 else None


class PitchGenderClassifier(GenderClassifier):
    name = "pitch"
    description = "median F0 (librosa yin); female at or above 165 Hz"

    @classmethod
    def availability(cls) -> Availability:
        if missing_packages("librosa"):
            return Availability.no("Python package librosa is missing; run `make setup`")
        return Availability.yes()

    def classify(self, audio, sr):
        f0 = median_f0(audio, sr)
        if f0 is None:
            return UNKNOWN, None
        return (FEMALE if f0 >= FEMALE_F0_HZ else MALE), round(f0, 1)
