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


REVIEW_PAGE = "pages/views/review.py"


def job_in_review(tmp_path_factory, video: Path, name: str):
    """For a module fixture: a job of `video` dubbed up to the review pause in its own data folder
    (yields its id; the worker is stopped afterwards)."""
    from dubbing.models import DubSettings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUBBING_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        st.cache_data.clear()
        job_id = client.submit(video, name, DubSettings(target_language="es", review=True))
        try:
            assert wait_for(job_id, ("awaiting_review", "failed"))["status"] == "awaiting_review"
            yield job_id
        finally:
            client.stop_worker()


def editor_key(at: AppTest, job_id: str) -> str:
    """The Review page's lines table (its key changes each time the table is reloaded)."""
    return next(k for k in at.session_state if str(k).startswith(f"review_editor_{job_id}_"))


def edit(at: AppTest, job_id: str, rows: dict) -> AppTest:
    """Edits typed into the lines table: {row: {column: value}}."""
    at.session_state[editor_key(at, job_id)] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def review(job_id: str) -> AppTest:
    at = open_page(REVIEW_PAGE, job=job_id)
    no_exceptions(at)
    return at
