"""NLLB, M2M100 and Marian through their real loading and generate code, on tiny random models."""
from __future__ import annotations

import importlib.util

import pytest

import tiny_models as T
from dubbing.engines import resolve
from dubbing.engines.translation import _hf_seq2seq
from dubbing.engines.translation.m2m100 import M2M100_CODES, M2M100Translator
from dubbing.engines.translation.marian import MarianTranslator
from dubbing.engines.translation.nllb import NllbTranslator
from dubbing.errors import UnsupportedPairError


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    T.nllb(root / "nllb-200-tiny")
    T.m2m100(root / "m2m100-tiny")
    T.marian(root / "opus-mt-en-ROMANCE", ("es", "fr", "pt"))
    T.marian(root / "opus-mt-es-en")
    return root


@pytest.fixture
def models(zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path, zoo)
    return zoo


def spy_generate(engine, name):
    """Record every generate call of the loaded model: its input ids and keyword arguments."""
    tok, model = engine.load(name)
    calls = []
    real = model.generate

    def generate(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    model.generate = generate
    return tok, calls


def test_split_sentences_keeps_short_and_cuts_long():
    assert _hf_seq2seq.split_sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]
    assert _hf_seq2seq.split_sentences("  ") == []
    long = "word " * 150  # 750 characters, no punctuation
    pieces = _hf_seq2seq.split_sentences(long, max_chars=300)
    assert len(pieces) == 3 and all(len(p) <= 300 for p in pieces)
    assert " ".join(pieces).split() == long.split()
    clauses = _hf_seq2seq.split_sentences("a" * 200 + ", " + "b" * 200, max_chars=300)
    assert clauses == ["a" * 200 + ",", "b" * 200]


def test_language_codes_match_transformers():
    resolve.prepare_transformers()
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES as M2M
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES as NLLB
    assert set(NllbTranslator.codes().values()) <= set(NLLB)
    assert set(M2M100_CODES) <= set(M2M["m2m100"])


def test_found_models_languages_and_pairs(models):
    assert NllbTranslator.availability().ok
    assert NllbTranslator.models() == ["nllb-200-tiny"]
    assert M2M100Translator.models() == ["m2m100-tiny"]
    assert ("en", "es") in NllbTranslator.pairs() and ("es", "en") in M2M100Translator.pairs()
    assert ("en", "en") not in NllbTranslator.pairs()
    assert MarianTranslator.pairs() == [("en", "es"), ("en", "fr"), ("en", "pt"), ("es", "en")]
    assert MarianTranslator.languages() == ["en", "es", "fr", "pt"]


def test_nllb_codes_batching_and_splitting(models):
    engine = NllbTranslator()
    engine.batch_size, engine.num_beams = 2, 1
    assert engine.model == "nllb-200-tiny"
    tok, calls = spy_generate(engine, engine.model)
    seen = []
    out = engine.translate(["Hello world. How are you?", "", "Good morning."], "en", "es",
                           progress=lambda f, m: seen.append(f))
    assert len(out) == 3 and out[1] == "" and all(isinstance(s, str) for s in out)
    assert [c["input_ids"].shape[0] for c in calls] == [2, 1]  # 3 sentences in batches of 2
    spa, eng = tok.convert_tokens_to_ids("spa_Latn"), tok.convert_tokens_to_ids("eng_Latn")
    assert all(c["forced_bos_token_id"] == spa for c in calls)
    assert all((c["input_ids"][:, 0] == eng).all() for c in calls)  # source tag leads every input
    assert all(c["num_beams"] == 1 for c in calls)
    assert seen[-1] == 1.0
    assert not any("_Latn" in s for s in out)


def test_m2m100_codes(models):
    engine = M2M100Translator()
    engine.num_beams = 1
    tok, calls = spy_generate(engine, engine.model)
    out = engine.translate(["Good morning. How are you?"], "en", "fr")
    assert len(out) == 1
    assert calls[0]["forced_bos_token_id"] == tok.get_lang_id("fr")
    assert (calls[0]["input_ids"][:, 0] == tok.get_lang_id("en")).all()
    assert "__fr__" not in out[0] and "__en__" not in out[0]


def test_marian_picks_model_per_pair_and_target_token(models):
    engine = MarianTranslator()
    engine.num_beams = 1
    assert engine.model_for("en", "pt") == "opus-mt-en-ROMANCE"
    assert engine.model_for("es", "en") == "opus-mt-es-en"
    tok, calls = spy_generate(engine, "opus-mt-en-ROMANCE")
    assert len(engine.translate(["hello world"], "en", "pt")) == 1
    assert (calls[0]["input_ids"][:, 0] == tok.convert_tokens_to_ids(">>pt<<")).all()
    tok2, calls2 = spy_generate(engine, "opus-mt-es-en")
    engine.translate(["hola mundo"], "es", "en")
    assert not any(t.startswith(">>") for t in tok2.convert_ids_to_tokens(calls2[0]["input_ids"][0]))


def test_unsupported_pairs_are_refused_before_loading(models):
    with pytest.raises(UnsupportedPairError, match="cannot translate en to xx"):
        NllbTranslator().translate(["hi"], "en", "xx")
    with pytest.raises(UnsupportedPairError):
        MarianTranslator().translate(["hi"], "en", "de")
    with pytest.raises(UnsupportedPairError):
        M2M100Translator().translate(["hi"], "en", "en")


def test_explicit_folder_needs_no_settings(zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)  # empty DUBBING_MODELS_DIR
    engine = NllbTranslator(str(zoo / "nllb-200-tiny"))
    engine.num_beams = 1
    assert len(engine.translate(["hello"], "en", "de")) == 1


def test_model_from_the_hf_cache(zoo, monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    T.into_hf_cache(tmp_path / "hf-cache", "facebook/nllb-200-distilled-1.3B", zoo / "nllb-200-tiny")
    assert NllbTranslator.availability().ok
    assert NllbTranslator.models() == ["facebook/nllb-200-distilled-1.3B"]
    engine = NllbTranslator()
    engine.num_beams = 1
    assert engine.model == "facebook/nllb-200-distilled-1.3B"
    assert len(engine.translate(["hello"], "en", "es")) == 1


def test_availability_reasons(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    reason = NllbTranslator.availability().reason
    assert "no NLLB-200 model found" in reason and "facebook/nllb-200-distilled-600M" in reason
    assert "DUBBING_MODELS_DIR" in reason and str(tmp_path / "hf-cache") in reason
    assert "DUBBING_ALLOW_DOWNLOAD=1" in reason
    assert "opus-mt-<src>-<tgt>" in MarianTranslator.availability().reason

    monkeypatch.setenv("DUBBING_ALLOW_DOWNLOAD", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert NllbTranslator.availability().ok  # weights would come from the hub on first use
    assert NllbTranslator().model == "facebook/nllb-200-distilled-600M"
    assert ("en", "es") in MarianTranslator.pairs()

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "transformers" else real(n, *a))
    reason = M2M100Translator.availability().reason
    assert "transformers not installed" in reason and "pip install" in reason


def test_missing_model_names_every_place(monkeypatch, tmp_path):
    T.isolate(monkeypatch, tmp_path)
    with pytest.raises(resolve.ModelNotFoundError) as err:
        NllbTranslator("facebook/nllb-200-3.3B").translate(["hi"], "en", "es")
    msg = err.value.message
    assert "facebook/nllb-200-3.3B" in msg and "DUBBING_MODELS_DIR" in msg
    assert "models--facebook--nllb-200-3.3B" in msg and "hub downloads are off" in msg
