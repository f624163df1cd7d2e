"""Helpers for the AppTest tests of the pages (no tests here).

Each test gets its own data folder (DUBBING_DATA_DIR) and stops any worker it started.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dubbing.jobs import client
from tests.conftest import REPO

APP = REPO / "app.py"
TIMEOUT = 60


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("DUBBING_DATA_DIR", str(root))
    st.cache_data.clear()  # engine descriptions are cached per process
    yield root
    client.stop_worker()
    st.cache_data.clear()


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if page != "pages/views/new_dub.py":
        at.switch_page(page)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def values(elements) -> list[str]:
    return [plain(str(e.value)) for e in elements]


def plain(text: str) -> str:
    """Markdown source without backslash escapes, as a reader sees it."""
    return re.sub(r"\\(.)", r"\1", text)


def all_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += values(getattr(at, kind))
    return plain("\n".join(parts))


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def wait_for(job_id: str, statuses: tuple[str, ...], timeout: float = 300) -> dict:
    return client.wait(job_id, timeout=timeout, until=statuses)


def make_video_without_audio(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=160x120:r=10", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


def fake_engine_rows() -> list[dict]:
    """A registry description with an unavailable engine per stage and a translator with one pair."""
    def row(stage, name, ok, reason="", **kw):
        return {"stage": stage, "name": name, "available": ok, "reason": reason, "description": f"{name} engine",
                "languages": kw.get("languages", []), "pairs": kw.get("pairs", []), "models": kw.get("models", [])}
    return [
        row("diarization", "pyannote", False, "needs pyannote weights: put them in DUBBING_MODELS_DIR"),
        row("diarization", "resemblyzer", True, models=["ge2e"]),
        row("stt", "faster-whisper", True, models=["base"]),
        row("gender", "pitch", True),
        row("translation", "nllb", False, "no NLLB model found: download facebook/nllb-200-distilled-600M"),
        row("translation", "apertium", True, pairs=["en-es", "es-en"], languages=["en", "es"]),
        row("tts", "xtts", False, "coqui-tts cannot load here"),
        row("tts", "espeak", True, languages=["en", "es"]),
    ]


def poll(at: AppTest, done, timeout: float = 300, every: float = 1.0) -> AppTest:
    """`run_every` never fires in AppTest: rerun until `done(at)`."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, "page did not reach the expected state in time"
        time.sleep(every)
        at.run()
    return at
