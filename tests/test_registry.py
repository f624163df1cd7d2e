"""The registry: availability reasons, pair checks and `auto` for the offline defaults."""
import importlib.util

import pytest

from dubbing.engines import registry
from dubbing.engines._util import packages_available
from dubbing.errors import EngineUnavailableError, UnsupportedPairError


def test_a_missing_package_is_named_with_what_to_do(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    avail = registry.engine_class("diarization", "resemblyzer").availability()
    assert not avail.ok and avail.reason == "Python package missing: resemblyzer; run `make setup`"
    assert packages_available("json").ok


def test_an_unsupported_pair_is_refused_with_the_available_pairs():
    with pytest.raises(UnsupportedPairError) as err:
        registry.check_pair("apertium", "en", "ja")
    assert "cannot translate en to ja" in err.value.message and "en-es" in err.value.message
    with pytest.raises(UnsupportedPairError, match="both 'es'"):
        registry.check_pair("apertium", "es", "es")
    registry.check_pair("apertium", "auto", "es")  # some source reaches Spanish


def test_unknown_engine_names_list_the_choices():
    with pytest.raises(EngineUnavailableError, match="choose one of: .*resemblyzer"):
        registry.engine_class("diarization", "nope")


def test_auto_picks_the_offline_defaults_here_and_says_why():
    name, why = registry.pick("translation", "auto", source="en", target="es")
    assert name == "apertium" and "en-es" in why
    assert registry.pick("tts", "auto", target="en")[0] == "piper"
    # Catalan: Festival's HTS voice (Ona) where festvox-ca-ona-hts is installed, else eSpeak NG.
    catalan = "festival" if registry.engine_class("tts", "festival").voices("ca") else "espeak"
    assert registry.pick("tts", "auto", target="ca")[0] == catalan
    assert registry.pick("tts", "auto", target="es")[0] == "espeak"
    assert registry.pick("stt", "auto")[0] == "faster-whisper"
    assert registry.pick("tts", "espeak", target="en") == ("espeak", "chosen by the user")


def test_engines_are_loaded_once_per_process():
    a = registry.get_engine("gender", "pitch")
    assert registry.get_engine("gender", "pitch") is a


def test_an_engine_being_made_holds_up_only_those_who_want_it(monkeypatch):
    """The pipeline loads the next stage's engine in the background: a stage asking for another
    engine meanwhile must get it at once, and one asking for the same must wait for that one."""
    import threading

    entered, release, made = threading.Event(), threading.Event(), []
    pitch = registry.engine_class("gender", "pitch")

    class Slow(pitch):
        def __init__(self, model=""):
            entered.set()
            release.wait(10)
            made.append(self)
            super().__init__(model)

    real = registry.engine_class
    monkeypatch.setattr(registry, "engine_class", lambda stage, name: Slow if name == "slow" else real(stage, name))
    got = []
    first = threading.Thread(target=lambda: got.append(registry.get_engine("gender", "slow")))
    first.start()
    assert entered.wait(5)
    other = threading.Thread(target=lambda: got.append(registry.get_engine("gender", "pitch")))
    other.start()
    other.join(5)
    assert not other.is_alive() and isinstance(got[0], pitch) and not made  # not held up by the slow one
    second = threading.Thread(target=lambda: got.append(registry.get_engine("gender", "slow")))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waits for the one being made...
    release.set()
    first.join(5)
    second.join(5)
    assert len(made) == 1 and got[1] is got[2] is made[0]  # ...and gets it, made once


def test_a_stage_that_runs_loads_the_next_stages_engine_meanwhile(speech_mp4, tmp_path, monkeypatch):
    import threading

    from dubbing import pipeline
    from dubbing.models import DubSettings

    monkeypatch.setattr(registry, "_instances", {})
    job = tmp_path / "job"
    pipeline.prepare(speech_mp4, job, DubSettings(target_language="es"))
    pipeline.run_stage(job, "probe")
    for t in threading.enumerate():
        if t.name == "warm-diarize":
            t.join(30)
    diarizer = registry._instances[("diarization", "resemblyzer", "ge2e")]
    assert diarizer._voices is not None  # the voice check's ECAPA too
    assert not (job / "work" / "engines.json").exists()  # a warm-up records nothing; the stage does
    pipeline.run_stage(job, "diarize")
    assert registry.get_engine("diarization", "resemblyzer") is diarizer
    assert pipeline.context(job).engines()["diarization"]["name"] == "resemblyzer"
    for t in threading.enumerate():
        if t.name == "warm-transcribe":
            t.join(30)
    assert ("stt", "faster-whisper", "base") in registry._instances


def test_dub_loads_the_diarizer_and_whisper_one_after_the_other_while_the_sound_is_checked(tmp_path, monkeypatch):
    """On one thread, in stage order: the sound check and the audio's extraction leave one core idle."""
    import threading

    from dubbing import pipeline
    from dubbing.models import DubSettings

    monkeypatch.setattr(registry, "_instances", {})
    before = set(threading.enumerate())
    pipeline._warm(pipeline.STAGES[1:3], lambda: pipeline.Context(tmp_path / "job", DubSettings(target_language="es")))
    [loader] = [t for t in threading.enumerate() if t not in before]
    assert loader.name == "warm-diarize"
    loader.join(60)
    assert ("diarization", "resemblyzer", "ge2e") in registry._instances
    assert ("stt", "faster-whisper", "base") in registry._instances
