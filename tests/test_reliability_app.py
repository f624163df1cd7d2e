"""The login: when one is configured, every page shows it and nothing else until it is passed."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

APP = str(REPO / "app.py")
PAGES = [None, "pages/views/jobs.py", "pages/views/review.py", "pages/views/engines.py"]


def _page(page, password: str | None = "s3cret", env_password: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if password:
        at.secrets["password"] = password
    if page:
        at.switch_page(page)
    return at


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DUBBING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DUBBING_PASSWORD", raising=False)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_asks_for_the_password_first(page):
    at = _page(page).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"]
    assert [t.value for t in at.title] == ["Dubbing Studio"]
    assert not at.subheader and not at.dataframe and not at.selectbox  # nothing of the page itself


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_engines_page():
    at = _page("pages/views/engines.py").run()
    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert [t.label for t in at.text_input] == ["Password"]
    at.text_input[0].input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert "Hugging Face access" in [s.value for s in at.subheader]
    assert "Token" in [t.label for t in at.text_input]  # the token form, for a logged-in user only


def test_the_password_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DUBBING_PASSWORD", "from-env")
    at = _page("pages/views/jobs.py", password=None).run()
    assert [t.label for t in at.text_input] == ["Password"]
    at.text_input[0].input("from-env")
    at.button[0].click().run()
    assert not at.text_input or "Password" not in [t.label for t in at.text_input]


def test_without_a_login_the_local_app_opens_directly():
    at = _page("pages/views/engines.py", password=None).run()
    assert not at.exception
    assert "Hugging Face access" in [s.value for s in at.subheader]


def test_the_new_dub_page_offers_the_audio_tracks_of_a_video_with_several(tmp_path):
    import sys
    sys.path.insert(0, str(REPO / "tests"))
    import reliability_media as rm
    from dubbing import media

    if not rm.have_media():
        pytest.skip(f"{rm.MEDIA} is absent (../shared/media is provided beside the repo in CI)")
    two = rm.two_track_mp4(tmp_path / "two.mp4", rm.SPEECH, rm.MEDIA / "en_jfk_inaugural.flac")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["new_dub_staged"] = {"path": str(two), "name": "two.mp4", "info": media.probe(two).to_dict()}
    at.run()
    assert not at.exception
    box = at.selectbox(key="new_dub_audio_track")
    assert box.label == "Audio track to dub"
    assert box.options == ["track 1 (eng, 1 ch)", "track 2 (fra, 2 ch)"]
