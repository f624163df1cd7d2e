"""Engines page: every engine per stage, available or why not, models, languages; tool versions."""
from __future__ import annotations

from test_app_support import all_text, data_dir, fake_engine_rows, no_exceptions, open_page, values  # noqa: F401

from dubbing.engines import registry

PAGE = "pages/views/engines.py"


def frames(at):
    return [d.value for d in at.dataframe]


def test_every_registered_engine_is_listed(data_dir):
    at = open_page(PAGE)
    no_exceptions(at)
    text = all_text(at)
    for stage in registry.ENGINES.values():
        for name in stage:
            assert f"**{name}**" in text


def test_availability_reasons_models_and_pairs_are_shown(data_dir, monkeypatch):
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at = open_page(PAGE)
    no_exceptions(at)
    text = all_text(at)
    assert "Translation · 1 of 2 available" in text
    assert "Speech synthesis · 1 of 2 available" in text
    rows = [m for m in values(at.markdown)]
    nllb = rows.index("**nllb**")
    assert "not available" in rows[nllb + 1]
    assert "no NLLB model found: download facebook/nllb-200-distilled-600M" in rows[nllb + 2]
    apertium = rows.index("**apertium**")
    assert "available" in rows[apertium + 1] and "not" not in rows[apertium + 1]
    assert "Pairs: en-es, es-en" in rows[apertium + 2]
    assert "Models: ge2e" in rows[rows.index("**resemblyzer**") + 2]


def test_tool_versions(data_dir):
    at = open_page(PAGE)
    tools = next(df for df in frames(at) if "Tool" in df)
    versions = dict(zip(tools["Tool"], tools["Version"]))
    assert set(versions) == {"ffmpeg", "ffmpeg (writing the video)", "ffprobe", "eSpeak NG", "Apertium"}
    assert versions["ffmpeg"].startswith("ffmpeg version")
    assert versions["ffmpeg (writing the video)"].startswith("ffmpeg version")
    assert versions["ffprobe"].startswith("ffprobe version")
    assert "eSpeak NG" in versions["eSpeak NG"]
    assert versions["Apertium"]


def test_check_again_reads_the_registry_anew(data_dir, monkeypatch):
    at = open_page(PAGE)
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at.button(key="engines_recheck").click().run()
    no_exceptions(at)
    assert "Translation · 1 of 2 available" in all_text(at)


def test_a_hugging_face_token_is_stored_owner_only_and_read_back(data_dir, monkeypatch, tmp_path):
    from dubbing.engines import resolve
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    at = open_page(PAGE)
    assert "No token is stored." in all_text(at)
    at.text_input[0].set_value("bad token")
    at.button[-1].click().run()
    assert any("does not look like a Hugging Face token" in e.value for e in at.error)
    assert not (tmp_path / "hf" / "token").exists()
    at.text_input[0].set_value("hf_abcdefghijklmnop")
    at.button[-1].click().run()
    no_exceptions(at)
    stored = tmp_path / "hf" / "token"
    assert stored.read_text() == "hf_abcdefghijklmnop" and (stored.stat().st_mode & 0o777) == 0o600
    assert resolve.hf_token() == "hf_abcdefghijklmnop"
    assert "A token is available." in all_text(at)
