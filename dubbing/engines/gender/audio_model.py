"""Gender of a voice from an audio-classification model (wav2vec2 / HuBERT / WavLM fine-tuned
on male/female labels) through transformers; median pitch stays the fallback.

Any local checkpoint whose labels name both genders qualifies, so a user can drop
in their own. When the model is unsure (probability under `MIN_CONFIDENCE`) the
pitch rule decides. The score returned is the median F0, as the pitch engine's
is, so reports stay comparable.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ...models import FEMALE, MALE, UNKNOWN
from ..base import Availability, GenderClassifier
from ..resolve import (LocalModel, hf_availability, prepare_transformers, resolve_model, scan_local,
                       torch_device)

PACKAGES = ("torch", "transformers")
KNOWN = ("alefiury/wav2vec2-large-xlsr-53-gender-recognition-librispeech",)
MAX_SECONDS = 30.0
MIN_CONFIDENCE = 0.65
_FEMALE_LABELS = {"female", "f", "woman", "women"}
_MALE_LABELS = {"male", "m", "man", "men"}


def label_gender(label: str) -> str:
    key = str(label).strip().lower()
    return FEMALE if key in _FEMALE_LABELS else MALE if key in _MALE_LABELS else UNKNOWN


def _is_gender_model(m: LocalModel) -> bool:
    labels = {label_gender(v) for v in (m.config.get("id2label") or {}).values()}
    archs = " ".join(m.config.get("architectures") or [])
    return {MALE, FEMALE} <= labels and ("SequenceClassification" in archs or "AudioClassification" in archs)


class AudioModelGenderClassifier(GenderClassifier):
    name = "audio-model"
    description = "wav2vec2-style audio classifier with male/female labels (transformers); pitch as fallback"
    default_model = KNOWN[0]

    @classmethod
    def local_models(cls) -> list[LocalModel]:
        return scan_local(_is_gender_model, names=KNOWN)

    @classmethod
    def availability(cls) -> Availability:
        return hf_availability(PACKAGES, cls.local_models(), family="gender classifier", default=cls.default_model)

    @classmethod
    def models(cls) -> list[str]:
        return [m.name for m in cls.local_models()]

    def __init__(self, model: str = ""):
        if not model:
            local = self.local_models()
            model = local[0].name if local else self.default_model
        super().__init__(model)
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                path = resolve_model(self.model, kind="gender classifier")
                prepare_transformers()
                from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
                extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
                model = AutoModelForAudioClassification.from_pretrained(path, local_files_only=True)
                self._loaded = (extractor, model.to(torch_device()).eval())
            return self._loaded

    def probabilities(self, audio: np.ndarray, sr: int) -> dict[str, float]:
        """Probability of each gender label for this stretch of speech."""
        import torch

        from ... import audio as audio_io
        extractor, model = self.load()
        rate = int(getattr(extractor, "sampling_rate", 16000))
        clip = np.asarray(audio, dtype=np.float32)[: int(MAX_SECONDS * sr)]
        if sr != rate:
            clip = audio_io.resample(clip, sr, rate)
        inputs = extractor(clip, sampling_rate=rate, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            probs = model(**inputs).logits[0].float().softmax(-1).cpu().numpy()
        out: dict[str, float] = {}
        for idx, p in enumerate(probs):
            g = label_gender(model.config.id2label[idx])
            out[g] = out.get(g, 0.0) + float(p)
        return out

    def classify(self, audio: np.ndarray, sr: int) -> tuple[str, float | None]:
        from .pitch import FEMALE_F0_HZ, median_f0
        if len(audio) < sr // 4:
            return UNKNOWN, None
        f0 = median_f0(audio, sr)
        probs = self.probabilities(audio, sr)
        best = max((MALE, FEMALE), key=lambda g: probs.get(g, 0.0))
        if probs.get(best, 0.0) < MIN_CONFIDENCE and f0 is not None:
            best = FEMALE if f0 >= FEMALE_F0_HZ else MALE
        return best, (round(f0, 1) if f0 is not None else None)
