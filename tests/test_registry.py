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
