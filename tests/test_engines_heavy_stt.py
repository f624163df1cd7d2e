"""The transformers Whisper engine on a tiny random Whisper, and the faster-whisper name resolution."""
from __future__ import annotations

import numpy as np
import pytest

import tiny_models as T
from dubbing.engines.base import Word
from dubbing.engines.stt import transformers_whisper as tw


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("whisper")
    T.whisper(root / "whisper-tiny-random")
    return root


@pytest.fixture
def models(zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path, zoo)
    return zoo


def noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 0.05).astype(np.float32)


def test_found_and_named(models):
    assert tw.TransformersWhisperTranscriber.availability().ok
    assert tw.TransformersWhisperTranscriber.models() == ["whisper-tiny-random"]
    assert tw.TransformersWhisperTranscriber().model == "whisper-tiny-random"
    assert tw.hub_name("turbo") == "openai/whisper-large-v3-turbo"
    assert tw.hub_name("distil-large-v3") == "distil-whisper/distil-large-v3"
    assert tw.hub_name("my/own-whisper") == "my/own-whisper"


def test_transcribe_language_given_words_and_progress(models):
    engine = tw.TransformersWhisperTranscriber()
    calls = []
    pipe = engine.load()
    real = pipe.__call__
    engine._pipe = lambda inputs, **kw: calls.append((len(inputs["raw"]), kw)) or real(inputs, **kw)
    engine._pipe.model, engine._pipe.feature_extractor = pipe.model, pipe.feature_extractor
    seen = []
    out = engine.transcribe(noise(4.0), 16000, language="es", progress=lambda f, m: seen.append(f))
    assert out.language == "es" and out.language_probability == 1.0
    assert calls[0][1]["generate_kwargs"] == {"language": "es", "task": "transcribe"}
    assert calls[0][1]["return_timestamps"] == "word" and calls[0][0] == 64000
    assert seen[-1] == 1.0
    for seg in out.segments:
        assert 0.0 <= seg.start <= seg.end <= 4.0 and seg.words
        assert all(seg.start <= w.start <= w.end <= seg.end for w in seg.words)


def test_language_detection_returns_a_code_and_probability(models):
    engine = tw.TransformersWhisperTranscriber()
    code, p = engine.detect_language(noise(2.0))
    assert isinstance(code, str) and 2 <= len(code) <= 3 and 0.0 < p <= 1.0
    out = engine.transcribe(noise(2.0), 16000, language=None)
    assert (out.language, round(out.language_probability, 5)) == (code, round(p, 5))


def test_segments_from_words():
    w = [Word(0.0, 0.4, " Hello"), Word(0.5, 0.9, " there."), Word(1.0, 1.3, " New"), Word(2.5, 2.8, " pause")]
    segs = tw.segments_from_words(w)
    assert [s.text for s in segs] == ["Hello there.", "New", "pause"]
    assert (segs[0].start, segs[0].end) == (0.0, 0.9)
    zh = tw.segments_from_words([Word(0.0, 0.2, "你"), Word(0.2, 0.4, "好")])
    assert zh[0].text == "你好"


def test_long_audio_is_cut_in_quiet_spots():
    audio = np.ones(16000 * 300, dtype=np.float32)
    audio[16000 * 118: 16000 * 118 + 1600] = 0.0  # a quiet 100 ms near the 120 s mark
    bounds = tw.block_bounds(audio)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(audio)
    assert all(a < b for a, b in bounds) and all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))
    assert 118 * 16000 <= bounds[0][1] <= 118.1 * 16000


def test_unavailable_without_weights(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    reason = tw.TransformersWhisperTranscriber.availability().reason
    assert "no Whisper (transformers) model found" in reason and "openai/whisper-large-v3-turbo" in reason
