"""pyannote: availability for each reason, the in-memory call and relabelling with a stand-in
pipeline, and the real import (skipped with its failure where pyannote cannot import)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import tiny_models as T
from dubbing.engines.base import Turn
from dubbing.engines.diarization import pyannote_pipeline as pp
from dubbing.engines.resolve import ModelNotFoundError, missing_packages, probe_import


def seg(start, end):
    return SimpleNamespace(start=start, end=end)


class FakeAnnotation:
    def __init__(self, tracks):
        self.tracks = tracks

    def itertracks(self, yield_label=False):
        return iter(self.tracks)


def test_turns_relabelled_in_order_of_appearance():
    tracks = [(seg(5.0, 6.0), "a", "SPK_7"), (seg(0.5, 2.0), "b", "SPK_3"), (seg(2.0, 4.0), "c", "SPK_7"),
              (seg(4.0, 4.0), "d", "SPK_9")]
    assert pp.turns_from_tracks(tracks) == [
        Turn(0.5, 2.0, "SPEAKER_00"), Turn(2.0, 4.0, "SPEAKER_01"), Turn(5.0, 6.0, "SPEAKER_01")]


def test_diarize_passes_audio_in_memory(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    seen = {}

    def pipeline(file, hook=None, **kwargs):
        seen.update(file=file, kwargs=kwargs)
        hook("segmentation", None, total=4, completed=2)
        exclusive = FakeAnnotation([(seg(0.0, 1.0), 0, "B"), (seg(1.0, 2.0), 1, "A")])
        return SimpleNamespace(speaker_diarization=FakeAnnotation([]), exclusive_speaker_diarization=exclusive)

    engine = pp.PyannoteDiarizer("pyannote/speaker-diarization-3.1")
    engine._pipeline = pipeline
    progress = []
    audio = np.zeros(32000, dtype=np.float64)
    turns = engine.diarize(audio, 16000, num_speakers=2, progress=lambda f, m: progress.append((f, m)))
    assert turns == [Turn(0.0, 1.0, "SPEAKER_00"), Turn(1.0, 2.0, "SPEAKER_01")]
    wave = seen["file"]["waveform"]
    assert tuple(wave.shape) == (1, 32000) and str(wave.dtype) == "torch.float32"
    assert seen["file"]["sample_rate"] == 16000 and seen["kwargs"] == {"num_speakers": 2}
    assert progress[0] == (0.5, "segmentation") and progress[-1][0] == 1.0
    engine.diarize(audio, 16000, num_speakers=None)
    assert seen["kwargs"] == {}


def test_availability_reasons(monkeypatch, tmp_path):
    models = T.isolate(monkeypatch, tmp_path)
    monkeypatch.setattr(pp, "missing_packages", lambda *m: "Python package pyannote.audio not installed")
    assert "pip install pyannote.audio" in pp.PyannoteDiarizer.availability().reason

    monkeypatch.setattr(pp, "missing_packages", lambda *m: None)
    monkeypatch.setattr(pp, "probe_import", lambda *a, **k: "`import pyannote.audio` fails: OSError: _torchaudio.so")
    reason = pp.PyannoteDiarizer.availability().reason
    assert "fails: OSError: _torchaudio.so" in reason and "no pyannote pipeline found" in reason

    monkeypatch.setattr(pp, "probe_import", lambda *a, **k: None)
    monkeypatch.setenv("DUBBING_ALLOW_DOWNLOAD", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert "is gated" in pp.PyannoteDiarizer.availability().reason and "HF_TOKEN" in pp.PyannoteDiarizer.availability().reason
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert pp.PyannoteDiarizer.availability().ok

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("DUBBING_ALLOW_DOWNLOAD")
    folder = models / "pyannote" / "speaker-diarization-community-1"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("pipeline: {}\n")
    assert pp.PyannoteDiarizer.availability().ok
    assert pp.PyannoteDiarizer.models() == ["pyannote/speaker-diarization-community-1"]
    assert pp.PyannoteDiarizer().model == "pyannote/speaker-diarization-community-1"


def test_missing_pipeline_says_where_and_that_it_is_gated(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    engine = pp.PyannoteDiarizer()
    with pytest.raises(ModelNotFoundError) as err:
        engine.load()
    assert "pyannote/speaker-diarization-community-1" in err.value.message
    assert "gated" in err.value.message and "DUBBING_MODELS_DIR" in err.value.message


def test_real_pyannote_import_or_skip():
    if missing_packages("pyannote.audio"):
        pytest.skip("pyannote.audio is not installed")
    reason = probe_import("pyannote.audio", versions_of=("pyannote.audio", "torch", "torchaudio", "torchcodec"))
    if reason:
        pytest.skip(reason)
    from pyannote.audio import Pipeline
    assert hasattr(Pipeline, "from_pretrained")
