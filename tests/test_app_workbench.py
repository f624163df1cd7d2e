"""The Review page as a workbench, on a real two-person recording (AMI meeting, 30 s):
the status column, undo, unsaved edits kept and warned about, a clash with someone else's
save, and the speakers panel (gender and voice per speaker).

One job is dubbed up to the review pause for the module; the tests run in order.
"""
from __future__ import annotations

import subprocess

from pathlib import Path

import pytest

from tests.conftest import shared_media
from test_app_support import all_text, edit, job_in_review, no_exceptions, review, values, wait_for

from dubbing.jobs import client
from dubbing.ui import status, table

PAGE = "pages/views/review.py"
pytestmark = pytest.mark.slow


def two_person_clip(folder: Path) -> Path:
    wav = shared_media("multi2_ami_dev00.wav")
    out = folder / "call.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=320x240:r=25", "-i", str(wav), "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    yield from job_in_review(tmp_path_factory, two_person_clip(tmp_path_factory.mktemp("media")), "call.mp4")


def test_status_column_says_where_each_line_stands(job):
    at = review(job)
    frame = at.data_editor[0].value
    assert list(frame.columns)[:5] == ["id", "pick", "status", "muted", "speed"]  # status beside the text
    assert "gender" not in frame.columns and "voice" not in frame.columns  # those belong to speakers
    assert set(frame["status"]) == {status.label(status.NEEDS_VOICING)}  # translated, nothing voiced yet

    # Editing an original marks its translation out of date until it is translated again.
    doc = client.load_document(job)
    doc.utterances[0].text = "Okay, I think we are ready to start."
    client.save_document(job, doc)
    at = review(job)
    frame = at.data_editor[0].value
    assert frame["status"][0] == status.label(status.OUT_OF_DATE)
    assert at.button(key="review_approve").disabled  # not voiced before the reviewer saw the translation
    at.button(key="review_translate_stale").click().run()
    no_exceptions(at)
    wait_for(job, ("awaiting_review", "failed"))
    at = review(job)
    frame = at.data_editor[0].value
    assert frame["status"][0] == status.label(status.NEEDS_VOICING)
    assert "empezar" in frame["translated_text"][0] or frame["translated_text"][0] != doc.utterances[0].translated_text
    assert not at.button(key="review_approve").disabled


def test_undo_puts_back_the_last_saved_edit(job):
    at = review(job)
    before = client.load_document(job).utterances[1].translated_text
    edit(at, job, {1: {"translated_text": "Me llamo Adam."}})
    at.button(key="review_save").click().run()
    no_exceptions(at)
    assert client.load_document(job).utterances[1].translated_text == "Me llamo Adam."
    assert not at.button(key="review_undo").disabled
    at.button(key="review_undo").click().run()
    no_exceptions(at)
    assert client.load_document(job).utterances[1].translated_text == before
    assert at.data_editor[0].value["translated_text"][1] == before
    assert at.button(key="review_undo").disabled  # nothing further back in this session


def test_unsaved_edits_are_warned_about_and_survive_leaving_the_page(job):
    at = review(job)
    edit(at, job, {2: {"translated_text": "Estamos aquí por una reacción real."}})
    assert "Unsaved edits: save them before leaving this page" in all_text(at)
    # Leaving the page drops the table's own state; the edits must not go with it.
    at.switch_page("pages/views/jobs.py").run()
    no_exceptions(at)
    at.switch_page(PAGE)
    at.query_params["job"] = job
    at.run()
    no_exceptions(at)
    assert any("unsaved edits on 1 line(s)" in w for w in values(at.warning)), values(at.warning)
    assert client.load_document(job).utterances[2].translated_text != "Estamos aquí por una reacción real."
    at.button(key="review_stash_apply").click().run()
    no_exceptions(at)
    assert client.load_document(job).utterances[2].translated_text == "Estamos aquí por una reacción real."
    assert not any("unsaved edits on" in w for w in values(at.warning))


def test_a_line_changed_elsewhere_is_not_overwritten(job):
    at = review(job)
    edit(at, job, {3: {"translated_text": "Mi versión."}})
    other = client.load_document(job)  # another tab saves the same line first
    other.utterances[3].translated_text = "Su versión."
    client.save_document(job, other)
    at.button(key="review_save").click().run()
    no_exceptions(at)
    assert any("Someone else changed this job: reload" in e for e in values(at.error)), values(at.error)
    assert client.load_document(job).utterances[3].translated_text == "Su versión."
    at.button(key="review_conflict_reload").click().run()
    assert at.data_editor[0].value["translated_text"][3] == "Su versión."
    assert not at.error


def test_gender_and_voice_are_set_per_speaker(job):
    at = review(job)
    doc = client.load_document(job)
    keys = list(at.data_editor[1].value["name"])
    assert len(keys) == 2, "two people, two speakers"
    voices = [v for v in at.data_editor[1].value.columns]
    assert "gender" in voices and "voice" in voices
    speakers_key = next(k for k in at.session_state if str(k).startswith(f"review_speakers_{job}_"))
    at.session_state[speakers_key] = {"edited_rows": {1: {"gender": "female", "name": "Caller"}},
                                      "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="review_speakers_apply").click().run()
    no_exceptions(at)
    after = client.load_document(job)
    key = table.speaker_keys(doc)[1]
    assert after.speakers[key].name == "Caller" and after.speakers[key].gender == "female"
    assert all(u.gender == "female" for u in after.utterances if u.speaker == key)


def settle(job_id, at):
    """An edit that leaves lines to translate queues that on the runner; wait for it and redraw."""
    wait_for(job_id, ("awaiting_review", "failed"))
    at.run()
    no_exceptions(at)
    return at


def select(at, job_id, uid):
    at.selectbox(key=f"review_line_{job_id}").set_value(uid).run()
    no_exceptions(at)


def test_structural_edits_from_the_line_pane(job):
    at = review(job)
    doc = client.load_document(job)
    # Split the longest line at its middle: two new lines with its words between them.
    longest = max(doc.utterances, key=lambda u: u.duration)
    select(at, job, longest.id)
    middle = round((longest.start + longest.end) / 2, 2)
    at.number_input(key=f"review_split_t_{longest.id}").set_value(middle).run()
    at.button(key="review_split_time").click().run()
    no_exceptions(at)
    assert not at.error, values(at.error)
    at = settle(job, at)
    after = client.load_document(job)
    assert longest.id not in {u.id for u in after.utterances}
    halves = [u for u in after.utterances if longest.start <= u.start < longest.end]
    assert len(halves) == 2
    assert " ".join(h.text for h in halves).split() == longest.text.split()
    assert all(h.translated_text for h in halves)  # translated again before anything is voiced

    # The second half goes to a new speaker.
    second = halves[1]
    select(at, job, second.id)
    at.selectbox(key=f"review_move_who_{second.id}_{second.speaker}").set_value("__new__").run()
    at.text_input(key=f"review_move_name_{second.id}_{second.speaker}").set_value("Guest").run()
    at.button(key="review_move").click().run()
    no_exceptions(at)
    after = client.load_document(job)
    moved = {u.id: u for u in after.utterances}[second.id]
    assert table.speaker_label(after, moved.speaker) == "Guest"
    assert len(table.speaker_keys(after)) == 3

    # Delete a line, then undo that.
    victim = after.utterances[-1]
    select(at, job, victim.id)
    at.button(key="review_delete").click().run()
    no_exceptions(at)
    assert victim.id not in {u.id for u in client.load_document(job).utterances}
    at.button(key="review_undo").click().run()
    no_exceptions(at)
    assert victim.id in {u.id for u in client.load_document(job).utterances}

    # Merge the first line with the next one.
    first, nxt = client.load_document(job).utterances[:2]
    select(at, job, first.id)
    at.button(key="review_merge").click().run()
    no_exceptions(at)
    at = settle(job, at)
    merged = [u for u in client.load_document(job).utterances if u.start == first.start]
    assert len(merged) == 1 and merged[0].end == nxt.end
    assert merged[0].text.split() == (first.text + " " + nxt.text).split()


def test_a_lines_language_is_set_from_the_line_pane(job):
    """Whisper can hear a speaker in the wrong one of two close languages: the reviewer says which
    language the line is in and it is translated again from it. Put in Russian, which no translator
    here takes to Spanish, the line is flagged and keeps the original audio; back in English it is
    translated again."""
    at = review(job)
    line = client.load_document(job).utterances[0]
    select(at, job, line.id)
    at.selectbox(key=f"review_language_{line.id}_en").set_value("ru").run()
    at.button(key="review_language").click().run()
    no_exceptions(at)
    assert not at.error, values(at.error)
    at = settle(job, at)
    flagged = client.load_document(job).get(line.id)
    assert flagged.language == "ru" and flagged.muted and "no translator here for ru -> es" in flagged.note
    assert "**Original** (Russian)" in all_text(at)  # the pane names the line's language
    at.selectbox(key=f"review_language_{line.id}_ru").set_value("en").run()
    at.button(key="review_language").click().run()
    no_exceptions(at)
    at = settle(job, at)
    back = client.load_document(job).get(line.id)
    assert back.language == "" and not back.muted and back.note == "" and back.translated_text
