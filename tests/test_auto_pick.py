"""`auto` picks the best engine that runs here for the language pair, and says why."""
from __future__ import annotations

import json

import pytest

import tiny_models as T
from dubbing.engines import registry
from dubbing.engines.base import Availability, Translator, TTSEngine, Voice
from dubbing.errors import EngineUnavailableError


def fake_translator(name: str, ok: bool, pairs: list[tuple[str, str]], reason: str = "weights missing"):
    class Fake(Translator):
        @classmethod
        def availability(cls):
            return Availability(ok, "" if ok else reason)

        @classmethod
        def pairs(cls):
            return pairs

        def translate(self, texts, source, target, progress=None):
            return texts
    Fake.name = name
    return Fake


def fake_tts(name: str, ok: bool, langs: tuple[str, ...], reason: str = "import fails"):
    class Fake(TTSEngine):
        @classmethod
        def availability(cls):
            return Availability(ok, "" if ok else reason)

        @classmethod
        def voices(cls, language):
            return [Voice("v", language, "male")] if language in langs else []

        def synthesize(self, text, voice, out_path):
            pass
    Fake.name = name
    return Fake


@pytest.fixture
def fakes(monkeypatch):
    table: dict[tuple[str, str], type] = {}

    def engine_class(stage, name):
        if (stage, name) not in table:
            raise EngineUnavailableError(f"{stage} engine '{name}' is not part of this version")
        return table[(stage, name)]

    monkeypatch.setattr(registry, "engine_class", engine_class)
    return table


def test_translation_prefers_nllb_when_it_runs(fakes):
    fakes[("translation", "nllb")] = fake_translator("nllb", True, [("en", "es"), ("en", "de")])
    fakes[("translation", "apertium")] = fake_translator("apertium", True, [("en", "es")])
    assert registry.pick("translation", "auto", source="en", target="es") == (
        "nllb", "best available translation engine for en-es")
    assert registry.pick("translation", "auto", source="en", target="de")[0] == "nllb"


def test_translation_falls_back_and_says_why(fakes):
    fakes[("translation", "nllb")] = fake_translator("nllb", False, [], "no NLLB-200 model found: looked in X")
    fakes[("translation", "m2m100")] = fake_translator("m2m100", True, [("en", "de")])
    fakes[("translation", "apertium")] = fake_translator("apertium", True, [("en", "es")])
    name, why = registry.pick("translation", "auto", source="en", target="es")
    assert name == "apertium"
    assert "nllb (no NLLB-200 model found: looked in X)" in why and "m2m100 (no en-es pair here)" in why
    assert "marian (translation engine 'marian' is not part of this version)" in why
    # A source not known yet ("auto") matches any pair into the target.
    assert registry.pick("translation", "auto", source="auto", target="de")[0] == "m2m100"


def test_nothing_runs_gives_the_offline_default_with_reasons(fakes):
    fakes[("tts", "xtts")] = fake_tts("xtts", False, (), "`import TTS` fails: OSError")
    name, why = registry.pick("tts", "auto", target="es")
    assert name == registry.DEFAULTS["tts"]
    assert why.startswith("offline default") and "xtts (`import TTS` fails: OSError)" in why


def test_tts_needs_a_voice_for_the_target(fakes):
    fakes[("tts", "xtts")] = fake_tts("xtts", False, ())
    fakes[("tts", "mms")] = fake_tts("mms", True, ("es",))
    fakes[("tts", "piper")] = fake_tts("piper", True, ("en",))
    fakes[("tts", "espeak")] = fake_tts("espeak", True, ("en", "es", "fr"))
    assert registry.pick("tts", "auto", target="es")[0] == "mms"
    name, why = registry.pick("tts", "auto", target="en")
    assert name == "piper" and "mms (no voice for 'en')" in why
    assert registry.pick("tts", "auto", target="fr")[0] == "espeak"


def test_a_named_engine_is_kept(fakes):
    assert registry.pick("tts", "espeak", target="es") == ("espeak", "chosen by the user")


def test_long_reasons_are_shortened(fakes):
    fakes[("diarization", "pyannote")] = type("P", (), {"availability": classmethod(lambda c: Availability(False, "x" * 500))})
    why = registry.pick("diarization", "auto")[1]
    assert "x" * 150 in why and "x" * 200 not in why and "..." in why


# ---------------------------------------------------------------- the real engines, with tiny models

@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    T.nllb(root / "nllb-200-tiny")
    T.vits(root / "mms-tts-spa")
    T.gender_classifier(root / "voice-gender")
    return root


def test_real_engines_picked_when_their_models_are_here(zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path, zoo)
    name, why = registry.pick("translation", "auto", source="en", target="es")
    assert (name, why.split(";")[0]) == ("nllb", "best available translation engine for en-es")
    assert registry.pick("tts", "auto", target="es")[0] in ("xtts", "mms")  # xtts only where coqui imports
    assert registry.pick("gender", "auto")[0] == "audio-model"
    name, why = registry.pick("tts", "auto", target="en")
    assert name != "mms" and "mms (no voice for 'en')" in why


def test_real_engines_passed_over_without_models(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    name, why = registry.pick("translation", "auto", source="en", target="es")
    assert name not in ("nllb", "m2m100", "marian")
    assert "nllb (no NLLB-200 model found" in why
    assert registry.pick("gender", "auto")[0] == "pitch"
    name, why = registry.pick("tts", "auto", target="es")
    assert name not in ("mms", "piper-local") and "mms (no MMS-TTS model found" in why


def test_the_choice_and_reason_are_recorded_for_the_job(zoo, monkeypatch, tmp_path):
    from dubbing.models import DubSettings
    from dubbing.stages.context import Context
    T.isolate(monkeypatch, tmp_path, zoo)
    ctx = Context(job_dir=tmp_path / "job", settings=DubSettings(target_language="es", translator="auto"))
    assert ctx.engine("translation", source="en", target="es") == "nllb"
    recorded = json.loads((tmp_path / "job" / "work" / "engines.json").read_text())
    assert recorded["translation"]["name"] == "nllb"
    assert recorded["translation"]["why"].startswith("best available translation engine for en-es")
