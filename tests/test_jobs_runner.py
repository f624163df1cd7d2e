"""The job runner with real worker processes and a real store, over a fake pipeline (fast).

The fake (tests/test_jobs_support.py) keeps the pipeline's contract but sleeps instead of
dubbing, so queueing, concurrency, crashes, retries, cancel and review run in seconds.
tests/test_jobs_real.py runs the same paths over the real pipeline.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_jobs_support import (PYTHON, REPO, STAGES, RENDER_STAGES, cli, env, fake_video, kill_worker,  # noqa: E402,F401
                               runs_log, wait_for, worker_pid)

from dubbing.errors import ExitCode, NotAVideoError, NotFoundError, TooBigError, UnsupportedPairError  # noqa: E402
from dubbing.jobs import client  # noqa: E402
from dubbing.jobs import store as st  # noqa: E402
from dubbing.jobs.worker import lock_held  # noqa: E402
from dubbing.models import DubSettings  # noqa: E402

pytestmark = pytest.mark.timeout(120)

ES = DubSettings(target_language="es")


def data_dir(env) -> Path:
    return Path(env["DUBBING_DATA_DIR"])


def submit(tmp_path, name="clip.mp4", settings=ES, **spec) -> str:
    return client.submit(fake_video(tmp_path, name, **spec), name, settings)


def stage(record, name) -> dict:
    return next(e for e in record["stages"] if e["name"] == name)


def test_submit_runs_to_completed_with_outputs(env, tmp_path):
    job_id = submit(tmp_path, "My Holiday.mp4")
    record = client.get(job_id)
    assert record["status"] in ("queued", "running")
    assert record["original_name"] == "My Holiday.mp4"
    assert record["settings"]["target_language"] == "es"
    assert [e["name"] for e in record["stages"]] == STAGES

    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    assert record["percent"] == 100.0
    assert record["error"] is None and record["finished"] >= record["created"]
    assert all(e["status"] == "done" and e["attempts"] == 1 for e in record["stages"])
    assert all(e["peak_rss_mb"] == 42.0 for e in record["stages"])
    job_dir = Path(record["job_dir"])
    assert job_dir.parent == data_dir(env) / "jobs" and job_dir.name == job_id  # stored under a generated name
    assert (job_dir / "work" / "input.mp4").exists() and not (job_dir / "My Holiday.mp4").exists()
    assert Path(record["outputs"]["dubbed_mp4"]).is_file()
    assert runs_log(job_dir) == STAGES
    assert record["worker_alive"] is True
    assert [r["id"] for r in client.list_jobs()] == [job_id]


def test_one_worker_per_store_even_when_spawned_at_once(env):
    code = "from dubbing.jobs import client; client.ensure_worker()"
    procs = [subprocess.Popen([PYTHON, "-c", code], env=env, cwd=REPO) for _ in range(6)]
    for p in procs:
        assert p.wait(30) == 0
    wait_for(lambda: worker_pid(data_dir(env)), 20, what="the worker")
    time.sleep(1.0)
    workers = [pid for pid in os.listdir("/proc") if pid.isdigit() and _is_worker_of(pid, data_dir(env))]
    assert len(workers) == 1, workers
    # The foreground command refuses to start a second one.
    second = subprocess.run([PYTHON, "-m", "dubbing.jobs.worker"], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=30)
    assert second.returncode == ExitCode.USAGE and "already running" in second.stderr


def _is_worker_of(pid: str, root: Path) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dubbing.jobs.worker" in cmd and str(root).encode() in cmd


@pytest.mark.parametrize("limit", [1, 2])
def test_two_jobs_under_the_concurrency_limit(env, tmp_path, monkeypatch, limit):
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", str(limit))
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    ids = [submit(tmp_path, f"clip{i}.mp4", default_seconds=0.15) for i in range(2)]
    most_running = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = [client.get(i) for i in ids]
        most_running = max(most_running, sum(r["status"] == "running" for r in records))
        if all(r["status"] == "completed" for r in records):
            break
        time.sleep(0.02)
    assert [client.get(i)["status"] for i in ids] == ["completed", "completed"]
    assert most_running == limit
    # Jobs side by side get stage hosts whose OpenMP threads do not spin against each other.
    logs = [Path(client.get(i)["job_dir"]) / "work" / "host_env.log" for i in ids]
    policies = {line for log in logs for line in log.read_text().split()}
    assert policies == ({"PASSIVE"} if limit > 1 else {"-"})
    if limit == 1:  # first come, first served
        first, second = (client.get(i) for i in ids)
        assert first["finished"] <= second["finished"]


def test_sigkill_mid_stage_then_new_worker_resumes(env, tmp_path):
    # The kill must land mid-stage: with 3 s, a loaded machine (a 27-minute CI run) once finished the stage
    # between the poll that saw it running and the kill, and the new worker rightly skipped it.
    job_id = submit(tmp_path, seconds={"transcribe": 8.0})
    wait_for(lambda: client.get(job_id)["stage"] == "transcribe" and client.get(job_id)["percent"] > 0, 30,
             what="transcription to start")
    kill_worker(data_dir(env))
    assert client.get(job_id)["status"] == "running"  # left behind by the dead worker
    client.ensure_worker()
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    attempts = {e["name"]: e["attempts"] for e in record["stages"]}
    assert attempts == {**{s: 1 for s in STAGES}, "transcribe": 2}
    log = runs_log(record["job_dir"])
    assert log.count("probe") == log.count("diarize") == 1  # no finished stage ran again
    assert log.count("transcribe") == 2


def test_worker_stop_requeues_and_keeps_attempts(env, tmp_path):
    job_id = submit(tmp_path, seconds={"diarize": 3.0})
    wait_for(lambda: client.get(job_id)["stage"] == "diarize", 30, what="diarization")
    result = cli(["worker", "--stop"], env)
    assert result.returncode == 0 and "stopped" in result.stdout
    assert not client.worker_running()
    record = client.get(job_id)
    assert record["status"] == "queued" and stage(record, "diarize")["attempts"] == 0
    client.ensure_worker()
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed" and stage(record, "diarize")["attempts"] == 1


def test_cancel_running_job_stops_within_seconds_and_keeps_files(env, tmp_path):
    job_id = submit(tmp_path, seconds={"transcribe": 20.0})
    wait_for(lambda: client.get(job_id)["stage"] == "transcribe", 30, what="transcription")
    asked = time.monotonic()
    client.cancel(job_id)
    record = client.wait(job_id, timeout=10, poll=0.05)
    assert record["status"] == "cancelled" and time.monotonic() - asked < 3
    assert stage(record, "transcribe")["status"] == "cancelled"
    assert Path(record["job_dir"], "work", "input.mp4").exists()  # kept until deleted
    # The worker goes on with the next job.
    other = submit(tmp_path, "next.mp4")
    assert client.wait(other, timeout=30, poll=0.1)["status"] == "completed"
    # A cancelled job can resume from where it stopped.
    client.retry(job_id)
    wait_for(lambda: client.get(job_id)["stage"] == "transcribe", 30, what="the retry")
    client.delete(job_id)
    assert client.get(job_id) is None and not Path(record["job_dir"]).exists()


def test_cancel_and_delete_queued_job(env, tmp_path):
    job_id = client.submit(fake_video(tmp_path), "clip.mp4", ES, start_worker=False)
    assert not client.worker_running()
    client.cancel(job_id)
    record = client.get(job_id)
    assert record["status"] == "cancelled" and record["finished"]
    job_dir = Path(record["job_dir"])
    client.delete(job_id)
    assert client.get(job_id) is None and not job_dir.exists()
    with pytest.raises(NotFoundError):
        client.cancel(job_id)


def test_transient_failures_are_retried_then_succeed(env, tmp_path):
    job_id = submit(tmp_path, fail={"synthesize": {"kind": "transient", "times": 2}})
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    assert stage(record, "synthesize")["attempts"] == 3


def test_transient_failure_gives_up_after_two_retries(env, tmp_path):
    job_id = submit(tmp_path, fail={"mix": {"kind": "transient"}})
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "failed"
    assert stage(record, "mix") == {**stage(record, "mix"), "status": "failed", "attempts": 3}
    assert "subprocess was killed" in record["error"] and record["error_code"] == ExitCode.TRANSIENT


@pytest.mark.parametrize("kind, text, code", [("permanent", "the input is broken", ExitCode.NOT_A_VIDEO),
                                              ("bug", "internal error: RuntimeError", ExitCode.INTERNAL)])
def test_permanent_failure_fails_at_once(env, tmp_path, kind, text, code):
    job_id = submit(tmp_path, fail={"gender": {"kind": kind}})
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "failed" and stage(record, "gender")["attempts"] == 1
    assert text in record["error"] and record["error_code"] == code
    assert "gender" in record["message"].lower() or "voices apart" in record["message"]
    result = cli(["jobs", "status", job_id], env)
    assert result.returncode == 0 and text in result.stdout


def test_a_failed_jobs_log_tail_says_why(env, tmp_path):
    job_id = submit(tmp_path, fail={"gender": {"kind": "bug"}})
    assert client.wait(job_id, timeout=60, poll=0.1)["status"] == "failed"
    tail = client.log_tail(job_id, 20)
    assert 0 < len(tail) <= 20 and any("gender failed" in line for line in tail)
    assert "RuntimeError: gender: a bug" in tail  # the traceback's last line
    assert client.log_tail(job_id, 2) == tail[-2:]


def test_review_pause_edit_approve_then_incremental_rerender(env, tmp_path):
    job_id = submit(tmp_path, settings=DubSettings(target_language="es", review=True))
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "awaiting_review" and record["stage"] == ""
    assert [e["status"] for e in record["stages"]] == ["done"] * 5 + ["pending"] * 4
    assert "utterances" in record["outputs"] and "dubbed_mp4" not in record["outputs"]
    with pytest.raises(client.JobStateError):
        client.retry(job_id)  # only failed or cancelled jobs resume
    doc = client.load_document(job_id)
    doc.utterances[1].translated_text = "una linea editada"
    client.save_document(job_id, doc)
    bad = client.load_document(job_id)
    bad.utterances[0].end = bad.utterances[0].start - 1
    with pytest.raises(client.JobStateError):
        client.save_document(job_id, bad)

    client.approve(job_id)
    with pytest.raises(client.JobStateError):
        client.approve(job_id)
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed" and record["percent"] == 100.0
    assert all(e["attempts"] == 1 for e in record["stages"])
    assert client.load_document(job_id).utterances[1].translated_text == "una linea editada"
    job_dir = Path(record["job_dir"])
    assert runs_log(job_dir) == STAGES

    # After completion: a preview, a re-translation and a full re-render of an edit.
    client.rerender(job_id, preview=True)
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed" and "preview_mp4" in record["outputs"]
    client.retranslate(job_id, [2])
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed"
    assert client.load_document(job_id).utterances[2].translated_text == "RT line 2"
    client.rerender(job_id)
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed"
    assert runs_log(job_dir) == STAGES + RENDER_STAGES[1:] * 2  # the analysis never ran again


def test_an_approval_while_voice_samples_are_made_stops_them_and_waits(env, tmp_path, monkeypatch):
    """The job pauses for review, then its thread makes voice samples in the job's stage host. An
    approval in that time queued a render that the worker started at once: a second thread on the
    same host, whose answers the two threads could take from each other (the soak once saw its
    translate fail that way). Now the samples stop, and the render waits until they have."""
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "2")  # a free slot, as the soak's three had
    job_id = submit(tmp_path, settings=DubSettings(target_language="es", review=True), seconds={"auditions": 5.0})
    assert client.wait(job_id, timeout=60, poll=0.1)["status"] == "awaiting_review"
    auditions = Path(client.get(job_id)["job_dir"]) / "work" / "auditions.log"
    wait_for(lambda: auditions.exists(), 10, what="the voice samples to begin")
    client.approve(job_id)
    seen = set()
    while "ended" not in auditions.read_text():
        seen.add(client.get(job_id)["status"])
        time.sleep(0.05)
    assert seen == {"queued"}
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    assert all(e["attempts"] == 1 and e["failures"] == 0 for e in record["stages"])
    assert runs_log(record["job_dir"]) == STAGES
    steps = int(auditions.read_text().split("ended after ")[1].split()[0])
    assert steps < 10  # stopped by the approval, not finished
    # A job that is only read keeps making its samples to the end.
    job_id = submit(tmp_path, "other.mp4", settings=DubSettings(target_language="es", review=True),
                    seconds={"auditions": 1.0})
    assert client.wait(job_id, timeout=60, poll=0.1)["status"] == "awaiting_review"
    auditions = Path(client.get(job_id)["job_dir"]) / "work" / "auditions.log"
    wait_for(lambda: "ended" in auditions.read_text() if auditions.exists() else False, 20, what="the samples")
    assert auditions.read_text().endswith("ended after 10 of 10\n")


def test_sigkill_during_render_after_approval(env, tmp_path):
    job_id = submit(tmp_path, settings=DubSettings(target_language="es", review=True), seconds={"mix": 3.0})
    assert client.wait(job_id, timeout=60, poll=0.1)["status"] == "awaiting_review"
    client.approve(job_id)
    wait_for(lambda: client.get(job_id)["stage"] == "mix", 30, what="the render")
    kill_worker(data_dir(env))
    client.ensure_worker()
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    attempts = {e["name"]: e["attempts"] for e in record["stages"]}
    assert attempts == {**{s: 1 for s in STAGES}, "mix": 2}
    log = runs_log(record["job_dir"])
    assert log == STAGES[:-1] + ["mix", "subtitles"]  # only the killed stage ran twice


def test_killing_the_worker_during_the_same_stage_never_fails_the_job(env, tmp_path):
    job_id = client.submit(fake_video(tmp_path, seconds={"diarize": 30.0}), "clip.mp4", ES, start_worker=False)
    for attempt in range(1, 5):
        client.ensure_worker()
        pid = worker_pid(data_dir(env))
        wait_for(lambda: client.get(job_id)["worker_pid"] == pid
                 and stage(client.get(job_id), "diarize")["attempts"] == attempt, 30, what=f"diarization #{attempt}")
        assert kill_worker(data_dir(env)) == pid
    client.ensure_worker()
    record = wait_for(lambda: stage(client.get(job_id), "diarize")["attempts"] == 5 and client.get(job_id), 30,
                      what="the fifth start")
    assert record["status"] == "running" and stage(record, "diarize").get("failures", 0) == 0


def test_a_stage_that_crashes_its_process_every_time_fails_the_job(env, tmp_path):
    job_id = submit(tmp_path, fail={"diarize": {"kind": "crash", "times": 3}})
    record = client.wait(job_id, timeout=90, poll=0.1)
    assert record["status"] == "failed", record
    assert record["error_code"] == ExitCode.CRASHED
    assert "crashed its process 3 times (killed by SIGKILL" in record["error"]
    assert stage(record, "diarize")["attempts"] == 3
    assert runs_log(record["job_dir"]).count("diarize") == 3
    assert client.worker_running()  # the worker itself survived every crash
    client.retry(job_id)  # a retry starts the count afresh
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed" and stage(record, "diarize")["failures"] == 0


def test_bad_uploads_are_refused_and_leave_nothing(env, tmp_path):
    junk = tmp_path / "notes.mp4"
    junk.write_text("not a video at all")
    with pytest.raises(NotAVideoError):
        client.submit(junk, "notes.mp4", ES)
    with pytest.raises(TooBigError):
        client.submit(fake_video(tmp_path), "clip.mp4", ES, max_bytes=10)
    with pytest.raises(UnsupportedPairError):
        client.submit(fake_video(tmp_path), "clip.mp4", DubSettings(target_language="xx"))
    with pytest.raises(NotFoundError):
        client.submit(tmp_path / "missing.mp4", "missing.mp4", ES)
    assert client.list_jobs() == []
    assert list((data_dir(env) / "jobs").iterdir()) == []
    assert not client.worker_running()


def test_status_readers_see_progress_that_never_goes_backwards(env, tmp_path):
    # Queued without a worker, which starts only once all 20 readers read: on a busy machine their
    # start-up alone can outlast the 3.6 s job.
    job_id = client.submit(fake_video(tmp_path, default_seconds=0.4), "clip.mp4", ES, start_worker=False)
    ready = tmp_path / "ready"
    ready.mkdir()
    readers = [subprocess.Popen([PYTHON, "-c", READER, job_id, str(ready / str(i))], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, text=True) for i in range(20)]
    try:
        wait_for(lambda: len(list(ready.iterdir())) == 20, 90, what="20 readers reading")
        assert client.get(job_id)["status"] == "queued"
        client.ensure_worker()
        outs = [json.loads(p.communicate(timeout=90)[0]) for p in readers]
    finally:
        for p in readers:
            p.kill()
    for out in outs:
        assert out["errors"] == [], out["errors"]
        assert out["reads"] > 10 and out["last_status"] == "completed"
        percents = out["percents"]
        assert percents == sorted(percents) and percents[-1] == 100.0
        assert len(set(percents)) > 5  # progress within stages, not only at their ends


# A status reader in a process of its own: polls until the job completes.
READER = """
import json, pathlib, sys, time
from dubbing.jobs import client
job_id, ready = sys.argv[1], pathlib.Path(sys.argv[2])
percents, errors, reads, status = [], [], 0, None
deadline = time.monotonic() + 80
while time.monotonic() < deadline:
    try:
        record = client.get(job_id)
        reads += 1
        ready.touch()
        status = record["status"]
        if record["status"] in ("running", "completed"):
            percents.append(record["percent"])
        if status in ("completed", "failed", "cancelled"):
            break
    except Exception as exc:
        errors.append(repr(exc))
    time.sleep(0.05)
print(json.dumps({"percents": percents, "errors": errors, "reads": reads, "last_status": status}))
"""


def test_cli_submit_status_list_cancel_delete(env, tmp_path):
    video = fake_video(tmp_path, seconds={"diarize": 20.0})
    result = cli(["jobs", "submit", str(video), "-t", "es", "--review"], env)
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip().splitlines()[-1]
    assert client.get(job_id)["settings"]["review"] is True

    result = cli(["jobs", "status", job_id, "--json"], env)
    status = json.loads(result.stdout)
    assert {"status", "stage", "percent", "message", "error", "stages"} <= set(status)
    assert {"name", "status", "attempts", "seconds"} <= set(status["stages"][0])
    listed = json.loads(cli(["jobs", "list", "--json"], env).stdout)
    assert [r["id"] for r in listed] == [job_id]
    assert job_id in cli(["jobs", "list"], env).stdout

    assert cli(["jobs", "approve", job_id], env).returncode == ExitCode.USAGE  # not awaiting review yet
    assert cli(["jobs", "cancel", job_id], env).returncode == 0
    assert client.wait(job_id, timeout=10, poll=0.05)["status"] == "cancelled"
    assert cli(["jobs", "delete", job_id], env).returncode == 0
    missing = cli(["jobs", "status", job_id], env)
    assert missing.returncode == ExitCode.NOT_FOUND and "no job" in missing.stderr
    assert "Traceback" not in missing.stderr

    junk = tmp_path / "junk.mp4"
    junk.write_text("junk")
    refused = cli(["jobs", "submit", str(junk), "-t", "es", "--no-start-worker"], env)
    assert refused.returncode == ExitCode.NOT_A_VIDEO and refused.stderr.startswith("error: ")
    assert len(refused.stderr.strip().splitlines()) == 1

    done = cli(["jobs", "submit", str(fake_video(tmp_path, "quick.mp4")), "-t", "es", "--wait"], env)
    assert done.returncode == 0
    assert client.get(done.stdout.strip().splitlines()[-1])["status"] == "completed"


def test_cleanup_removes_only_old_finished_jobs(env, tmp_path):
    old = client.submit(fake_video(tmp_path), "old.mp4", ES, start_worker=False)
    new = client.submit(fake_video(tmp_path), "new.mp4", ES, start_worker=False)
    waiting = client.submit(fake_video(tmp_path), "waiting.mp4", ES, start_worker=False)
    for job_id in (old, new):
        client.cancel(job_id)
    st.open_store().update(old, lambda r: r.update(finished=time.time() - 8 * 86400))
    old_dir = Path(client.get(old)["job_dir"])
    result = cli(["jobs", "cleanup", "--days", "7"], env)
    assert result.returncode == 0 and "removed 1" in result.stdout
    assert client.get(old) is None and not old_dir.exists()
    assert client.get(new)["status"] == "cancelled" and client.get(waiting)["status"] == "queued"
    assert client.cleanup(0) == 1  # `new` finished moments ago


def test_idle_spawned_worker_exits_and_frees_the_lock(env, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKER_IDLE_EXIT_SECONDS", "1")
    job_id = submit(tmp_path)
    assert client.wait(job_id, timeout=30, poll=0.1)["status"] == "completed"
    wait_for(lambda: not lock_held(data_dir(env) / "worker.lock"), 20, what="the idle worker to free the lock")
    # The worker frees the lock first (a new job may take over at once) and clears its record
    # on the way out just after, so the record is waited for rather than read at once.
    wait_for(lambda: st.open_store().worker_info() is None, 20, what="the idle worker to clear its record")


def test_a_status_read_restarts_a_worker_that_died_mid_job(env, tmp_path, monkeypatch):
    monkeypatch.setattr(st, "HEARTBEAT_STALE_SECONDS", 1.0)
    monkeypatch.setattr(client, "HEAL_EVERY_SECONDS", 0.0)
    job_id = submit(tmp_path, seconds={"diarize": 2.0})
    wait_for(lambda: client.get(job_id)["stage"] == "diarize", 30, what="diarization")
    dead = kill_worker(data_dir(env))
    time.sleep(1.2)  # the dead worker's heartbeat goes stale
    record = client.wait(job_id, timeout=60, poll=0.1)  # only reads
    assert record["status"] == "completed" and worker_pid(data_dir(env)) != dead
