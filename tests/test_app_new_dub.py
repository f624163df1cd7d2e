"""New dub page: upload validation by probing, engine availability, pair refusal, submit."""
from __future__ import annotations

import pytest

from tests.conftest import shared_media
from test_app_support import all_text, data_dir, fake_engine_rows, make_video_without_audio, no_exceptions, values, \
    open_page  # noqa: F401  (data_dir is a fixture)

from dubbing.engines import registry
from dubbing.jobs import client
from dubbing.ui import uploads

PAGE = "pages/views/new_dub.py"


def upload(at, name: str, data: bytes):
    at.file_uploader[0].set_value((name, data, "video/mp4"))
    return at.run()


def staged_files(root) -> list:
    folder = root / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_page_shows_form_with_review_on_by_default(data_dir):
    at = open_page(PAGE)
    no_exceptions(at)
    assert at.title[0].value == "New dub"
    assert at.checkbox(key="new_dub_review").value is True
    assert at.button(key="new_dub_submit").disabled  # nothing uploaded yet
    assert "Upload a video to start" in all_text(at)
    assert at.selectbox(key="new_dub_source").value == "auto"


def test_text_file_named_mp4_is_refused_with_what_to_do(data_dir):
    at = upload(open_page(PAGE), "holiday.mp4", b"this is not a video, only text\n" * 50)
    no_exceptions(at)
    errors = values(at.error)
    assert any("holiday.mp4 is not a video file" in e and "upload an MP4" in e for e in errors), errors
    assert staged_files(data_dir) == []  # the refused file was removed from disk
    assert client.list_jobs() == []
    assert at.button(key="new_dub_submit").disabled


def test_video_without_audio_is_refused(data_dir, tmp_path):
    clip = make_video_without_audio(tmp_path / "silent.mp4")
    at = upload(open_page(PAGE), "silent.mp4", clip.read_bytes())
    errors = values(at.error)
    assert any("no audio track" in e for e in errors), errors


def test_truncated_mp4_is_refused_as_damaged(data_dir):
    data = shared_media("mp4_en_jordimas_selfie.mp4").read_bytes()[:40_000]
    at = upload(open_page(PAGE), "cut.mp4", data)
    errors = values(at.error)
    assert any("damaged or truncated" in e for e in errors), errors


def test_upload_over_the_runner_limit_is_refused(data_dir, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "0.5")
    at = upload(open_page(PAGE), "selfie.mp4", shared_media("mp4_en_jordimas_selfie.mp4").read_bytes())
    errors = values(at.error)
    assert any("the limit is" in e and "compress" in e for e in errors), errors


def test_valid_upload_is_kept_on_disk_and_submit_opens_review(data_dir, monkeypatch):
    monkeypatch.setattr(client, "ensure_worker", lambda: None)  # queue only: no dub runs in this test
    at = upload(open_page(PAGE), "selfie.mp4", shared_media("mp4_en_jordimas_selfie.mp4").read_bytes())
    no_exceptions(at)
    assert not at.error, [e.value for e in at.error]
    assert any("selfie.mp4" in s.value and "1080×720" in s.value for s in at.success)
    assert len(staged_files(data_dir)) == 1
    assert not at.file_uploader  # the upload left Streamlit's memory; the page shows the file instead

    at.selectbox(key="new_dub_target").set_value("es")
    at.radio(key="new_dub_speaker_mode").set_value("Set").run()
    at.number_input(key="new_dub_speakers").set_value(2)
    at.button(key="new_dub_submit").click().run()
    no_exceptions(at)

    jobs = client.list_jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job["original_name"] == "selfie.mp4"
    assert job["settings"]["target_language"] == "es"
    assert job["settings"]["review"] is True
    assert job["settings"]["speakers"] == 2
    assert at.query_params.get("job") == job["id"]  # now on the job's Review page
    assert staged_files(data_dir) == []  # the runner copied it; the staged upload is gone


def test_choose_another_video_discards_the_staged_file(data_dir):
    at = upload(open_page(PAGE), "selfie.mp4", shared_media("mp4_en_jordimas_selfie.mp4").read_bytes())
    assert len(staged_files(data_dir)) == 1
    at.button(key="new_dub_replace").click().run()
    assert staged_files(data_dir) == []
    assert at.file_uploader


def test_unavailable_engines_are_listed_with_reasons_and_not_offered(data_dir, monkeypatch):
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at = open_page(PAGE)
    no_exceptions(at)
    translation = at.selectbox(key="new_dub_engine_translation")
    assert translation.options == ["auto (apertium)", "apertium"]  # `auto` says what it will pick
    assert "xtts" not in at.selectbox(key="new_dub_engine_tts").options
    text = all_text(at)
    assert "Not available here: nllb" in text and "Not available here: xtts" in text
    assert "**nllb** (translation): no NLLB model found: download facebook/nllb-200-distilled-600M" in text
    assert "**pyannote** (speaker diarization): needs pyannote weights: put them in DUBBING_MODELS_DIR" in text


def test_pair_the_translator_lacks_is_refused_before_submit(data_dir, monkeypatch):
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at = upload(open_page(PAGE), "selfie.mp4", shared_media("mp4_en_jordimas_selfie.mp4").read_bytes())
    at.selectbox(key="new_dub_engine_translation").set_value("apertium")
    at.selectbox(key="new_dub_source").set_value("fr")
    at.selectbox(key="new_dub_target").set_value("es").run()
    no_exceptions(at)
    errors = values(at.error)
    assert any("cannot translate French into Spanish" in e and "English (en)" in e for e in errors), errors
    assert at.button(key="new_dub_submit").disabled
    # Nothing typed is lost: the choices stay as they were.
    assert at.selectbox(key="new_dub_source").value == "fr"
    assert at.success  # the uploaded video is still there

    at.selectbox(key="new_dub_source").set_value("en").run()
    assert not at.error
    assert not at.button(key="new_dub_submit").disabled


def test_same_source_and_target_is_refused(data_dir, monkeypatch):
    monkeypatch.setattr(registry, "describe_all", fake_engine_rows)
    at = open_page(PAGE)
    at.selectbox(key="new_dub_source").set_value("es")
    at.selectbox(key="new_dub_target").set_value("es").run()
    assert any("both Spanish" in e for e in values(at.error))


def test_stale_staged_uploads_are_cleaned(data_dir, tmp_path):
    import os
    import time

    folder = uploads.staging_dir()
    old = folder / "old.mp4"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    fresh = folder / "fresh.mp4"
    fresh.write_bytes(b"y")
    assert uploads.clean_stale(folder) == 1
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("name,suffix", [("a.MP4", ".mp4"), ("noext", ".bin"), ("x.mp4;rm -rf", ".bin")])
def test_staged_names_never_use_the_uploaded_name(name, suffix):
    assert uploads.safe_suffix(name) == suffix


def test_choices_survive_a_visit_to_another_page(data_dir):
    at = upload(open_page(PAGE), "selfie.mp4", shared_media("mp4_en_jordimas_selfie.mp4").read_bytes())
    at.selectbox(key="new_dub_source").set_value("en")
    at.checkbox(key="new_dub_review").uncheck()
    at.radio(key="new_dub_speaker_mode").set_value("Set").run()
    at.number_input(key="new_dub_speakers").set_value(3).run()
    at.switch_page("pages/views/jobs.py").run()
    at.switch_page(PAGE).run()
    no_exceptions(at)
    assert at.selectbox(key="new_dub_source").value == "en"
    assert at.checkbox(key="new_dub_review").value is False
    assert at.number_input(key="new_dub_speakers").value == 3
    assert any("selfie.mp4" in s.value for s in at.success)  # the uploaded video too
