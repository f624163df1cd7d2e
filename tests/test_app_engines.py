"""Engines page: every engine per stage, available or why not, models, languages; tool versions."""
from __future__ import annotations

from test_app_support import all_text, data_dir, fake_engine_rows, no_exceptions, open_page  # noqa: F401

from dubbing.engines import registry

PAGE = "pages/engines.py"


def frames(at):
    return [d.value for d in at.dataframe]


def test_every_registered_engine_is_listed(data_dir):
    at = open_page(PAGE)
    no_exceptions(at)
    listed = {name for df in frames(at) if "Engine" in df for name in df["Engine"]}
    registered = {name for stage in registry.ENGINES.values() for name in stage}
    assert registered <= listed


def test_availability_reasons_models_and_pairs_are_shown(data_dir, monkeypatch):
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at = open_page(PAGE)
    no_exceptions(at)
    text = all_text(at)
    assert "Translation · 1 of 2 available" in text
    assert "Speech synthesis · 1 of 2 available" in text
    translation = next(df for df in frames(at) if "Engine" in df and "nllb" in set(df["Engine"]))
    nllb = translation[translation["Engine"] == "nllb"].iloc[0]
    apertium = translation[translation["Engine"] == "apertium"].iloc[0]
    assert nllb["Available"] == "❌ no" and "no NLLB model found" in nllb["Why not / what to do"]
    assert apertium["Available"] == "✅ yes" and apertium["Languages"] == "en-es, es-en"
    diar = next(df for df in frames(at) if "Engine" in df and "resemblyzer" in set(df["Engine"]))
    assert diar[diar["Engine"] == "resemblyzer"].iloc[0]["Models found"] == "ge2e"


def test_tool_versions(data_dir):
    at = open_page(PAGE)
    tools = next(df for df in frames(at) if "Tool" in df)
    versions = dict(zip(tools["Tool"], tools["Version"]))
    assert set(versions) == {"ffmpeg", "eSpeak NG", "Apertium"}
    assert versions["ffmpeg"].startswith("ffmpeg version")
    assert "eSpeak NG" in versions["eSpeak NG"]
    assert versions["Apertium"]


def test_check_again_reads_the_registry_anew(data_dir, monkeypatch):
    at = open_page(PAGE)
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at.button(key="engines_recheck").click().run()
    no_exceptions(at)
    assert "Translation · 1 of 2 available" in all_text(at)
