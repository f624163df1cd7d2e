"""Review page against a real job (runner + pipeline): table, edits, speakers, listen, approve, re-render.

One job (the 42 s auto-editor clip, 4 lines) is dubbed once for the module and the
tests run in order: review pause, edits, approve, completion, edit and re-render.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import shared_media
from test_app_support import (all_text, data_dir, edit, editor_key, job_in_review, no_exceptions,  # noqa: F401
                              open_page, poll, review, values, wait_for)  # data_dir: a fixture

from dubbing import media
from dubbing.jobs import client
from dubbing.jobs.store import open_store
from dubbing.models import DubSettings

PAGE = "pages/views/review.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    yield from job_in_review(tmp_path_factory, shared_media("mp4_en_auto-editor_example.mp4"), "example.mp4")


def test_without_a_job_id_the_page_offers_the_jobs(job):
    at = open_page(PAGE)
    no_exceptions(at)
    assert at.selectbox(key="review_pick").value == job
    at.button(key="review_open").click().run()
    assert at.query_params["job"] == job
    assert at.data_editor


def test_unknown_job_id_says_what_to_do(job):
    at = open_page(PAGE, job="nosuchjob")
    no_exceptions(at)
    assert any("There is no job 'nosuchjob'" in e and "Jobs page" in e for e in values(at.error))


def test_awaiting_review_shows_the_utterance_table(job):
    at = review(job)
    text = all_text(at)
    assert "example.mp4" in text and "English → Spanish" in text and "Awaiting review" in text
    frame = at.data_editor[0].value
    assert list(frame.columns) == ["id", "pick", "status", "muted", "speed", "start", "end", "speaker", "text",
                                   "translated_text"]
    assert len(frame) >= 3
    assert "banana" in " ".join(frame["text"]).lower()
    assert all(frame["translated_text"].str.len() > 0)
    assert at.button(key="review_approve")
    assert at.button(key="review_save").disabled  # nothing edited yet


def test_edit_a_translation_and_save(job):
    at = review(job)
    edit(at, job, {0: {"translated_text": "Hola, este es un vídeo de ejemplo."}})
    assert "Unsaved edits" in all_text(at)
    at.button(key="review_save").click().run()
    no_exceptions(at)
    assert not at.error, values(at.error)
    doc = client.load_document(job)
    assert doc.utterances[0].translated_text == "Hola, este es un vídeo de ejemplo."
    assert doc.utterances[0].translation_edited
    assert at.data_editor[0].value["translated_text"][0] == "Hola, este es un vídeo de ejemplo."
    assert "No unsaved edits." in all_text(at)


def test_an_invalid_edit_is_refused_and_kept(job):
    at = review(job)
    before = client.load_document(job).to_dict()
    edit(at, job, {1: {"end": 0.5}, 2: {"translated_text": "Cuando el tiempo llegue a 40 segundos, diré plátano."}})
    at.button(key="review_save").click().run()
    no_exceptions(at)
    assert any("Not saved" in e and "end" in e for e in values(at.error))
    assert client.load_document(job).to_dict() == before  # nothing half-saved
    assert at.session_state[editor_key(at, job)]["edited_rows"][2]  # what was typed is still there
    assert "Unsaved edits" in all_text(at)


def speakers_key(at, job_id):
    return next(k for k in at.session_state if str(k).startswith(f"review_speakers_{job_id}_"))


def test_rename_a_speaker_and_set_a_voice_for_all_lines(job):
    at = review(job)
    speaker = client.load_document(job).utterances[0].speaker
    at.session_state[speakers_key(at, job)] = {"edited_rows": {0: {"name": "Narrator"}}, "added_rows": [],
                                               "deleted_rows": []}
    at.run()
    at.button(key="review_speakers_apply").click().run()
    no_exceptions(at)
    doc = client.load_document(job)
    assert doc.speakers[speaker].name == "Narrator"
    assert at.data_editor[1].value["name"][0] == "Narrator"

    from dubbing.ui.engines import speech_engine, voice_options
    voices = voice_options(speech_engine(doc.engines, "auto", doc.target_language), doc.target_language)
    assert len(voices) > 1, "the speech engine lists its voices"
    # Another voice of the speaker's own gender (the voices stage re-matches a voice of the other gender).
    gender = doc.speakers[speaker].gender
    choice = next(v for v in sorted(voices) if f"({gender})" in voices[v] and v != doc.speakers[speaker].voice)
    at.session_state[speakers_key(at, job)] = {"edited_rows": {0: {"voice": choice}}, "added_rows": [],
                                               "deleted_rows": []}
    at.run()
    at.button(key="review_speakers_apply").click().run()
    no_exceptions(at)
    doc = client.load_document(job)
    assert doc.speakers[speaker].voice == choice
    assert all(u.voice == "" and doc.voice_of(u) == choice for u in doc.utterances if u.speaker == speaker)


def test_listen_plays_the_original_of_one_line(job):
    at = review(job)
    audio = at.get("audio")
    assert len(audio) == 1  # the original; no dubbed clip before rendering
    assert "No speech for this line yet" in all_text(at)


def test_two_tabs_edit_different_lines_without_losing_either(job):
    # The last line: Whisper's punctuation, and so the number of lines, differs between CPUs (3 or 4 here).
    last = len(client.load_document(job).utterances) - 1
    assert last > 1
    a, b = review(job), review(job)
    edit(a, job, {1: {"translated_text": "Línea uno desde la pestaña A."}})
    edit(b, job, {last: {"translated_text": "¡Plátano!"}})
    a.button(key="review_save").click().run()
    b.run()  # b has unsaved edits, so it keeps them and warns that the file changed
    assert any("changed since you started editing" in w for w in values(b.warning))
    b.button(key="review_save").click().run()
    doc = client.load_document(job)
    assert doc.utterances[1].translated_text == "Línea uno desde la pestaña A."
    assert doc.utterances[last].translated_text == "¡Plátano!"


def test_approve_renders_and_shows_video_downloads_and_timings(job):
    before = client.load_document(job)
    chosen = {u.id: before.voice_of(u) for u in before.utterances if before.voice_of(u)}
    at = review(job)
    at.button(key="review_approve").click().run()
    no_exceptions(at)
    assert client.get(job)["status"] in ("queued", "running", "completed")
    assert at.get("progress") or client.get(job)["status"] == "completed"  # live progress while it runs
    wait_for(job, ("completed", "failed"))
    at = poll(at, lambda a: "Completed" in all_text(a))
    no_exceptions(at)
    assert len(at.get("video")) == 1
    labels = [d.label for d in at.download_button]
    for wanted in ("Dubbed video · MP4", "Dubbed audio · WAV", "Utterances · JSON",
                   "Subtitles, Spanish (dubbed) · SRT", "Subtitles, English (original) · VTT"):
        assert wanted in labels, labels
    timing = next(d.value for d in at.dataframe if "Stage" in d.value)
    assert {"Transcribing", "Synthesizing speech", "Mixing and rendering"} <= set(timing["Stage"])
    frame = at.data_editor[0].value
    assert (frame["speed"] >= 0.9 - 1e-9).all()  # a short line may be slowed down to the 0.9 floor
    assert len(at.get("audio")) == 2  # the original and the dubbed line
    doc = client.load_document(job)
    assert doc.utterances[0].translated_text == "Hola, este es un vídeo de ejemplo."
    assert chosen and all(doc.voice_of(u) == chosen[u.id] for u in doc.utterances)  # the voice set in review


def test_edit_after_completion_rerenders_only_that_line(job):
    at = review(job)
    assert at.button(key="review_rerender")
    edit(at, job, {2: {"translated_text": "Cuando el reloj marque cuarenta segundos, diré plátano."}})
    at.button(key="review_rerender").click().run()  # saves the edit, then queues the render
    no_exceptions(at)
    assert client.load_document(job).utterances[2].translated_text.startswith("Cuando el reloj")
    record = wait_for(job, ("completed", "failed"))
    assert record["status"] == "completed", record.get("error")
    report = json.loads((open_store().job_dir(job) / "report.json").read_text())
    assert report["utterances_remade"] == 1
    assert report["remade_ids"] == [client.load_document(job).utterances[2].id]


def test_preview_renders_the_first_30_seconds(job):
    at = review(job)
    at.button(key="review_preview").click().run()
    no_exceptions(at)
    record = wait_for(job, ("completed", "failed"))
    assert record["status"] == "completed", record.get("error")
    preview = open_store().job_dir(job) / "preview.mp4"
    assert 25.0 < media.probe(preview).duration < 31.0  # of a 42.5 s video
    at = review(job)
    assert len(at.get("video")) == 2  # the full dub (at the selected line) and the preview
    assert "Preview (first 30 s) · MP4" in [d.label for d in at.download_button]


def test_retranslate_picked_rows(job):
    at = review(job)
    doc = client.load_document(job)
    uid = doc.utterances[1].id
    edit(at, job, {1: {"pick": True}})
    assert at.button(key="review_retranslate").label == "Re-translate picked (1)"
    at.button(key="review_retranslate").click().run()
    no_exceptions(at)
    wait_for(job, ("completed", "failed", "awaiting_review"))
    after = {u.id: u for u in client.load_document(job).utterances}[uid]
    assert after.translated_text != "Línea uno desde la pestaña A."  # the machine translation came back
    assert after.translated_text == after.machine_translation


def test_import_an_edited_utterances_json(job):
    at = review(job)
    data = client.load_document(job).to_dict()
    data["utterances"][0]["translated_text"] = "Importado."
    up = at.file_uploader(key=f"review_import_{job}_0")
    up.set_value(("utterances.json", json.dumps(data).encode(), "application/json")).run()
    no_exceptions(at)
    at.button(key="review_import_apply").click().run()
    assert client.load_document(job).utterances[0].translated_text == "Importado."
    assert "Re-render changes" in [b.label for b in at.button]


def test_import_of_a_broken_file_says_what_is_wrong(job):
    at = review(job)
    at.file_uploader(key=f"review_import_{job}_0").set_value(("u.json", b"{not json", "application/json")).run()
    assert any("not valid JSON" in e for e in values(at.error))
    data = client.load_document(job).to_dict()
    data["target_language"] = "fr"
    at.file_uploader(key=f"review_import_{job}_0").set_value(
        ("u.json", json.dumps(data).encode(), "application/json")).run()
    assert any("this job dubs into Spanish" in e for e in values(at.error))


def test_unsaved_edits_survive_a_render_started_elsewhere(job):
    at = review(job)
    edit(at, job, {0: {"translated_text": "Escrito mientras otra pestaña renderizaba."}})
    store = open_store()
    before = client.get(job)["status"]
    store.update(job, lambda r: r.update(status="running"))  # as if another tab had approved
    try:
        at.run()
        assert at.get("progress") and not at.data_editor  # the page follows the render
    finally:
        store.update(job, lambda r: r.update(status=before))
    at.run()
    assert any("unsaved edits on 1 line(s)" in w for w in values(at.warning))
    at.button(key="review_stash_apply").click().run()
    no_exceptions(at)
    assert client.load_document(job).utterances[0].translated_text == "Escrito mientras otra pestaña renderizaba."
    assert not any("unsaved edits on" in w for w in values(at.warning))


def test_failed_job_shows_its_error_and_a_retry(job, data_dir):
    job_id = client.submit(shared_media("mp4_en_jordimas_selfie.mp4"), "selfie.mp4",
                           DubSettings(target_language="es"), start_worker=False)
    open_store().update(job_id, lambda r: r.update(
        status="failed", stage="transcribe", error="the speech model is missing: run `make setup`"))
    at = open_page(PAGE, job=job_id)
    no_exceptions(at)
    assert any("failed at “Transcribing”" in e and "make setup" in e for e in values(at.error))
    at.button(key="review_retry").click().run()
    assert client.get(job_id)["status"] == "queued"
