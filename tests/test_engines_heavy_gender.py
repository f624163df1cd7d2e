"""The model-based gender classifier on a tiny random wav2vec2 classifier."""
from __future__ import annotations

import numpy as np
import pytest

import tiny_models as T
from dubbing.engines.gender import audio_model as am


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("gender")
    T.gender_classifier(root / "voice-gender", labels=("female", "male"))
    T.gender_classifier(root / "not-gender", labels=("cat", "dog"))
    return root


@pytest.fixture
def models(zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path, zoo)
    return zoo


def tone(hz: float, seconds: float = 2.0, sr: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t) * (1 + 0.2 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_only_models_with_gender_labels_count(models):
    assert am.AudioModelGenderClassifier.availability().ok
    assert am.AudioModelGenderClassifier.models() == ["voice-gender"]
    assert am.label_gender("Female") == "female" and am.label_gender("M") == "male"
    assert am.label_gender("dog") == "unknown"


def test_classify_resamples_and_returns_gender_with_f0(models, monkeypatch):
    engine = am.AudioModelGenderClassifier()
    seen = {}
    extractor, model = engine.load()
    real = extractor.__call__

    def spy(clip, sampling_rate, **kw):
        seen.update(n=len(clip), sr=sampling_rate)
        return real(clip, sampling_rate=sampling_rate, **kw)

    engine._loaded = (spy, model)
    probs = engine.probabilities(tone(120.0), 22050)
    assert set(probs) == {"female", "male"} and abs(sum(probs.values()) - 1.0) < 1e-5
    assert seen == {"n": 32000, "sr": 16000}  # 2 s at 22.05 kHz, resampled to the extractor's 16 kHz

    # A sure model decides; an unsure one defers to pitch.
    monkeypatch.setattr(engine, "probabilities", lambda a, sr: {"male": 0.9, "female": 0.1})
    gender, f0 = engine.classify(tone(220.0), 22050)
    assert gender == "male" and f0 is not None and 200 < f0 < 240
    monkeypatch.setattr(engine, "probabilities", lambda a, sr: {"male": 0.55, "female": 0.45})
    assert engine.classify(tone(220.0), 22050)[0] == "female"
    assert engine.classify(np.zeros(100, dtype=np.float32), 22050) == ("unknown", None)


def test_unavailable_without_weights(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    reason = am.AudioModelGenderClassifier.availability().reason
    assert "no gender classifier model found" in reason and am.KNOWN[0] in reason
