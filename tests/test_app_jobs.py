"""Jobs page: every job with its details; open, cancel, delete; polling only while a job is active."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import shared_media
from test_app_support import all_text, data_dir, no_exceptions, open_page  # noqa: F401

from dubbing.joblog import log_path
from dubbing.jobs import client
from dubbing.jobs.store import open_store
from dubbing.models import DubSettings

PAGE = "pages/views/jobs.py"


def queued_job(name: str = "selfie.mp4", **settings) -> str:
    """A real job record, queued with no worker, so nothing runs."""
    return client.submit(shared_media("mp4_en_jordimas_selfie.mp4"), name,
                         DubSettings(target_language="es", **settings), start_worker=False)


def test_no_jobs_says_so_and_links_to_new_dub(data_dir):
    at = open_page(PAGE)
    no_exceptions(at)
    assert "No jobs yet" in all_text(at)


def test_jobs_are_listed_with_name_languages_status_and_actions(data_dir):
    first = queued_job("first.mp4", source_language="en")
    second = queued_job("second.mp4")
    at = open_page(PAGE)
    no_exceptions(at)
    text = all_text(at)
    assert "**second.mp4**" in text and "**first.mp4**" in text
    assert text.index("second.mp4") < text.index("first.mp4")  # newest first
    assert "English → Spanish" in text and "Auto → Spanish" in text
    assert ":material/schedule: Queued" in text
    assert "Updating every second while a job runs." in text
    assert at.button(key=f"jobs_cancel_{first}").disabled is False
    assert len(at.get("progress")) == 2
    opens = {e.proto.query_string for e in at.get("page_link") if e.value == "Open"}
    assert opens == {f"job={first}", f"job={second}"}  # each row opens its job's Review page


def test_cancel_and_delete(data_dir):
    job_id = queued_job()
    at = open_page(PAGE)
    at.button(key=f"jobs_cancel_{job_id}").click().run()
    no_exceptions(at)
    assert client.get(job_id)["status"] == "cancelled"
    assert ":material/cancel: Cancelled" in all_text(at)
    assert f"jobs_cancel_{job_id}" not in [b.key for b in at.button]  # nothing left to cancel
    assert at.button(key=f"jobs_retry_{job_id}")  # but it can be resumed
    assert "No job is running." in all_text(at)  # and the page stopped polling

    at.button(key=f"jobs_delete_{job_id}").click().run()
    no_exceptions(at)
    assert client.get(job_id) is None
    assert "No jobs yet" in all_text(at)


def test_failed_job_shows_failed_stage_and_its_log_tail(data_dir):
    job_id = queued_job()
    open_store().update(job_id, lambda r: r.update(status="failed", stage="transcribe", error="boom"))
    log = log_path(Path(client.get(job_id)["job_dir"]))
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "RuntimeError: boom\n")
    at = open_page(PAGE)
    no_exceptions(at)
    text = all_text(at)
    assert ":material/error: Failed" in text and ":red[Failed at Transcribing:] boom" in text  # and why
    assert at.button(key=f"jobs_retry_{job_id}")  # no error code recorded: a retry may help
    assert [e.label for e in at.expander] == ["Log", "Clean up"]  # the log, folded, beside the error
    shown = at.code[0].value.splitlines()
    assert len(shown) == 30 and shown[0] == "line 71" and shown[-1] == "RuntimeError: boom"


def test_a_failed_job_without_a_log_shows_no_log(data_dir):
    job_id = queued_job()
    open_store().update(job_id, lambda r: r.update(status="failed", stage="", error="boom"))
    at = open_page(PAGE)
    no_exceptions(at)
    assert [e.label for e in at.expander] == ["Clean up"] and not at.code


def test_retry_only_where_it_can_help(data_dir):
    from dubbing.errors import ExitCode
    silent, flaky = queued_job("silent.mp4"), queued_job("flaky.mp4")
    open_store().update(silent, lambda r: r.update(status="failed", stage="transcribe", error_code=int(ExitCode.SILENT),
                                                   error="the audio track is silent; there is no speech to dub"))
    open_store().update(flaky, lambda r: r.update(status="failed", stage="transcribe", error_code=int(ExitCode.TRANSIENT),
                                                  error="the disk was busy"))
    at = open_page(PAGE)
    no_exceptions(at)
    keys = [b.key for b in at.button]
    assert f"jobs_retry_{silent}" not in keys and f"jobs_retry_{flaky}" in keys
    assert "the audio track is silent" in all_text(at)


def test_a_cancel_shows_cancelling_until_the_job_stops(data_dir):
    job_id = queued_job()
    open_store().update(job_id, lambda r: r.update(status="running", stage="transcribe", cancel_requested=True,
                                                   message="Transcribing: 40%"))
    at = open_page(PAGE)
    no_exceptions(at)
    assert any("cancelling" in p.proto.text for p in at.get("progress"))
    assert at.button(key=f"jobs_cancel_{job_id}").disabled  # asked once already
