"""Engines page: the speech engines list their voices with gender and languages (Streamlit AppTest)."""
from __future__ import annotations

from test_app_support import all_text, data_dir, no_exceptions, open_page  # noqa: F401

from dubbing.engines import registry


def test_speech_engines_list_their_voices(data_dir):
    at = open_page("pages/views/engines.py")
    no_exceptions(at)
    text = all_text(at)
    rows = {r["name"]: r for r in registry.describe_all() if r["stage"] == "tts" and r["available"]}
    if "flite" in rows:
        assert "Flite SLT (US English, female) · female · en" in text
        assert "Flite RMS (US English, male) · male · en" in text
    if "festival" in rows:
        assert "Festival Ona HTS (Catalan, female) · female · ca" in text
    assert "eSpeak female 2 · female ·" in text
    assert any(e.label.startswith("Voices (") for e in at.expander)
