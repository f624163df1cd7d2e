"""The job runner on RQ and Redis: a real redis-server, real worker processes, the fake pipeline.

Two workers serve each test, as on two machines: one on the `cpu` queue, one on `gpu,cpu`.
DUBBING_GPU_STAGES routes transcription and synthesis to `gpu`, so the routing is real and seen
in each stage's `worker`. The same client calls as with the diskcache runner (test_jobs_runner.py).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_jobs_support import (FAKE_RUNNER, PYTHON, REPO, STAGES, RENDER_STAGES, cli, fake_video,  # noqa: E402
                               runner_env, runs_log, use_env, use_fake_pipeline, wait_for)

from dubbing.errors import DubbingError, ExitCode  # noqa: E402
from dubbing.jobs import client  # noqa: E402
from dubbing.jobs.backend import open_store  # noqa: E402
from dubbing.models import DubSettings  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")
pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed here (Debian package "
                                 "redis-server; `make setup` installs it)")]

ES = DubSettings(target_language="es")
GPU_STAGES = ("transcribe", "synthesize")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    import redis
    conn = redis.Redis(port=port)
    try:
        wait_for(lambda: _pings(conn), 20, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(conn) -> bool:
    try:
        return conn.ping()
    except Exception:  # noqa: BLE001 - not up yet
        return False


@dataclass
class Worker:
    proc: subprocess.Popen
    name: str
    log: Path


class Cluster:
    """Worker processes started by a test, each with its own log file."""

    def __init__(self, url: str, env: dict, logs: Path, *, fake: bool):
        self.url, self.env, self.logs, self.fake = url, env, logs, fake
        self.workers: list[Worker] = []

    def start(self, queues: str, **env: str) -> Worker:
        log = self.logs / f"worker{len(self.workers)}-{queues.replace(',', '+')}.log"
        with open(log, "wb") as out:
            command = ([str(FAKE_RUNNER), "redis-worker", self.url, queues] if self.fake
                       else ["-m", "dubbing", "worker", "--queue", self.url, "--queues", queues])
            proc = subprocess.Popen([PYTHON, *command], env={**self.env, **env}, cwd=REPO, stdout=out,
                                    stderr=subprocess.STDOUT)
        store = open_store()
        name = wait_for(lambda: next((w["name"] for w in store.live_workers() if w["pid"] == proc.pid), None)
                        or (proc.poll() is not None and "exited"), 30, what=f"worker {queues}")
        assert name != "exited", log.read_text()
        worker = Worker(proc, name, log)
        self.workers.append(worker)
        return worker

    def by_name(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.terminate()
        for worker in self.workers:
            try:
                worker.proc.wait(20)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait(10)


def start_cluster(redis_url: str, tmp_path: Path, monkeypatch, *, fake: bool) -> Cluster:
    """An empty Redis database, a data folder and two workers: `cpu` and `gpu,cpu`."""
    import redis
    redis.Redis.from_url(redis_url).flushdb()
    env = runner_env(tmp_path / "data", fake=fake, DUBBING_QUEUE=redis_url, DUBBING_HEARTBEAT_TTL="2")
    use_env(monkeypatch, env)
    for key in ("DUBBING_QUEUE", "DUBBING_HEARTBEAT_TTL", "PYTHONPATH"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("DUBBING_GPU_STAGES", ",".join(GPU_STAGES))  # read when a job is created: here
    logs = tmp_path / "logs"
    logs.mkdir()
    if fake:
        use_fake_pipeline(monkeypatch.setattr)
    c = Cluster(redis_url, env, logs, fake=fake)
    c.cpu = c.start("cpu")
    c.gpu = c.start("gpu,cpu")
    return c


@pytest.fixture
def cluster(redis_url, tmp_path, monkeypatch):
    c = start_cluster(redis_url, tmp_path, monkeypatch, fake=True)
    yield c
    c.stop_all()


def submit(tmp_path, name="clip.mp4", settings=ES, **spec) -> str:
    return client.submit(fake_video(tmp_path, name, **spec), name, settings)


def stage(record, name) -> dict:
    return next(e for e in record["stages"] if e["name"] == name)


def running_on(job_id: str, stage_name: str):
    def check():
        record = client.get(job_id)
        assert record["status"] not in ("failed", "cancelled", "completed"), record
        return (record["status"] == "running" and record["stage"] == stage_name and record["percent"] > 0
                and record.get("worker"))
    return check


def test_submit_progress_and_routing_by_capability(cluster, tmp_path):
    job_id = submit(tmp_path, "My Holiday.mp4", default_seconds=0.3)
    percents, seen = [], set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = client.get(job_id)
        seen.add(record["status"])
        if record["status"] == "running":
            percents.append(record["percent"])
        if record["status"] == "completed":
            break
        time.sleep(0.05)
    assert record["status"] == "completed", record
    assert percents == sorted(percents) and len(set(percents)) > 5  # progress within stages, never backwards
    assert record["percent"] == 100.0 and record["error"] is None and record["finished"] >= record["created"]
    assert record["original_name"] == "My Holiday.mp4" and record["worker_alive"] is True
    assert all(e["status"] == "done" and e["attempts"] == 1 for e in record["stages"])
    assert record["queues"] == {s: "gpu" if s in GPU_STAGES else "cpu" for s in STAGES}
    for entry in record["stages"]:  # the gpu stages ran on the gpu worker; the rest on either
        if entry["name"] in GPU_STAGES:
            assert entry["worker"] == cluster.gpu.name
        else:
            assert entry["worker"] in (cluster.cpu.name, cluster.gpu.name)
    job_dir = Path(record["job_dir"])
    assert job_dir == Path(os.environ["DUBBING_DATA_DIR"]) / "jobs" / job_id
    assert Path(record["outputs"]["dubbed_mp4"]).is_file()
    assert runs_log(job_dir) == STAGES  # one pass, though handed between workers four times
    assert [r["id"] for r in client.list_jobs()] == [job_id]
    # The command line reads the same records.
    status = json.loads(cli(["jobs", "status", job_id, "--json"], cluster.env).stdout)
    assert status["status"] == "completed" and status["stages"][2]["worker"] == cluster.gpu.name


def test_review_pause_in_redis_then_approve_and_rerender_from_the_command_line(cluster, tmp_path):
    job_id = submit(tmp_path, settings=DubSettings(target_language="es", review=True))
    paused = json.loads(cli(["jobs", "status", job_id, "--json"], cluster.env).stdout)
    while paused["status"] in ("queued", "running"):
        time.sleep(0.1)
        paused = client.get(job_id)
    assert (paused["status"], paused["stage"]) == ("awaiting_review", "")
    assert [(e["name"], e["status"]) for e in paused["stages"]] == (
        [(s, "done") for s in STAGES[:5]] + [(s, "pending") for s in STAGES[5:]])
    assert set(paused["outputs"]) == {"utterances"}
    edited = client.load_document(job_id)
    edited.utterances[1].translated_text = "una linea editada"
    client.save_document(job_id, edited)
    # Another process (the app's machine, say) approves; the pause and the decision live in Redis.
    approved = cli(["jobs", "approve", job_id], cluster.env)
    assert approved.returncode == 0, approved.stderr
    assert cli(["jobs", "approve", job_id], cluster.env).returncode == ExitCode.USAGE  # once only
    finished = cli(["jobs", "wait", job_id, "--timeout", "60"], cluster.env)
    record = client.get(job_id)
    assert finished.returncode == 0 and record["status"] == "completed" and record["percent"] == 100.0
    assert all(e["attempts"] == 1 for e in record["stages"])
    assert stage(record, "synthesize")["worker"] == cluster.gpu.name
    assert client.load_document(job_id).utterances[1].translated_text == "una linea editada"
    job_dir = Path(record["job_dir"])
    assert runs_log(job_dir) == STAGES

    for command in (["rerender", job_id, "--preview"], ["retranslate", job_id, "2"]):
        assert cli(["jobs", *command], cluster.env).returncode == 0
        assert cli(["jobs", "wait", job_id, "--timeout", "60"], cluster.env).returncode == 0
    record = client.get(job_id)
    assert record["status"] == "completed" and "preview_mp4" in record["outputs"]
    assert client.load_document(job_id).utterances[2].translated_text == "RT line 2"
    assert runs_log(job_dir) == STAGES + RENDER_STAGES[1:]  # the analysis never ran again


def test_sigkilled_worker_job_resumes_on_the_other_worker(cluster, tmp_path):
    job_id = submit(tmp_path, seconds={"mix": 3.0})
    name = wait_for(running_on(job_id, "mix"), 30, what="the mix")
    victim = cluster.by_name(name)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    assert client.get(job_id)["status"] == "running"  # left behind by the dead worker
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    assert {e["name"]: e["attempts"] for e in record["stages"]} == {**{s: 1 for s in STAGES}, "mix": 2}
    assert stage(record, "mix")["worker"] != name
    log = runs_log(record["job_dir"])
    assert log == STAGES[:-1] + ["mix", "subtitles"]  # only the killed stage ran twice
    wait_for(lambda: name not in {w["name"] for w in open_store().live_workers()}, 10, what="the dead worker")


def test_sigkilled_gpu_worker_job_waits_for_and_resumes_on_a_new_gpu_worker(cluster, tmp_path):
    job_id = submit(tmp_path, seconds={"transcribe": 3.0})
    assert wait_for(running_on(job_id, "transcribe"), 30, what="transcription") == cluster.gpu.name
    cluster.gpu.proc.send_signal(signal.SIGKILL)
    cluster.gpu.proc.wait(10)
    record = wait_for(lambda: (r := client.get(job_id))["status"] == "queued" and r, 20, what="the re-queue")
    assert "no worker serves the gpu queue" in record["message"]  # the cpu worker must not take it
    time.sleep(1.0)
    assert client.get(job_id)["status"] == "queued"
    fresh = cluster.start("gpu")
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    assert stage(record, "transcribe")["attempts"] == 2 and stage(record, "transcribe")["worker"] == fresh.name
    assert runs_log(record["job_dir"]).count("diarize") == 1


def test_cancel_running_job_within_seconds_then_retry_and_delete(cluster, tmp_path):
    job_id = submit(tmp_path, seconds={"diarize": 20.0})
    wait_for(running_on(job_id, "diarize"), 30, what="diarization")
    assert cli(["jobs", "cancel", job_id], cluster.env).returncode == 0  # from another process, as from the app
    asked = time.monotonic()
    stopped = wait_for(lambda: (r := client.get(job_id))["status"] != "running" and r, 10, what="the cancel")
    assert (stopped["status"], stage(stopped, "diarize")["status"]) == ("cancelled", "cancelled")
    assert time.monotonic() - asked < 3, "a running stage stops within seconds"
    record = stopped
    assert Path(record["job_dir"], "work", "input.mp4").exists()  # kept until deleted
    client.cancel(job_id)  # cancelling twice is fine
    client.retry(job_id)
    wait_for(running_on(job_id, "diarize"), 30, what="the retry")
    assert runs_log(client.get(job_id)["job_dir"]).count("probe") == 1
    client.delete(job_id)
    assert client.get(job_id) is None
    wait_for(lambda: not Path(record["job_dir"]).exists(), 10, what="the folder to go")  # once the stage stopped


def test_two_jobs_run_at_once_on_two_workers(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("DUBBING_GPU_STAGES", "none")  # all on cpu: either worker takes either job
    ids = [submit(tmp_path, f"clip{i}.mp4", default_seconds=0.3) for i in range(2)]
    most_running, workers = 0, set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = [client.get(i) for i in ids]
        running = [r for r in records if r["status"] == "running"]
        most_running = max(most_running, len(running))
        workers |= {r["worker"] for r in running}
        if all(r["status"] == "completed" for r in records):
            break
        time.sleep(0.02)
    assert [r["status"] for r in records] == ["completed", "completed"]
    assert most_running == 2 and workers == {cluster.cpu.name, cluster.gpu.name}
    for record in records:
        assert runs_log(record["job_dir"]) == STAGES


def test_transient_failures_retry_with_backoff_and_permanent_ones_fail(cluster, tmp_path):
    flaky = submit(tmp_path, "flaky.mp4", fail={"synthesize": {"kind": "transient", "times": 2}})
    broken = submit(tmp_path, "broken.mp4", fail={"gender": {"kind": "permanent"}})
    record = client.wait(flaky, timeout=60, poll=0.1)
    assert record["status"] == "completed" and stage(record, "synthesize")["attempts"] == 3
    record = client.wait(broken, timeout=60, poll=0.1)
    assert record["status"] == "failed" and stage(record, "gender")["attempts"] == 1
    assert "the input is broken" in record["error"] and record["error_code"] == ExitCode.NOT_A_VIDEO


def test_worker_stop_requeues_and_a_new_worker_resumes(cluster, tmp_path):
    job_id = submit(tmp_path, seconds={"diarize": 3.0})
    wait_for(running_on(job_id, "diarize"), 30, what="diarization")
    result = cli(["worker", "--stop"], cluster.env)
    assert result.returncode == 0 and "stopped" in result.stdout, result.stderr
    assert not client.worker_running()
    for worker in cluster.workers:
        assert worker.proc.wait(20) == 0
    record = client.get(job_id)
    assert record["status"] == "queued" and record["message"].startswith("Resuming: the worker stopped")
    assert "start one with `python -m dubbing worker --queue URL`" in cli(["jobs", "status", job_id], cluster.env).stdout
    cluster.start("gpu,cpu")
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed" and stage(record, "diarize")["attempts"] == 1  # a stop is no failure


def test_a_ticket_taken_by_a_worker_that_stopped_before_running_it_is_issued_again(cluster, tmp_path):
    # RQ takes a ticket off its queue before it marks it started; a worker stopped in between (a
    # `worker --stop` landing just then) leaves the ticket "queued" in no queue. That once left a
    # job queued for good.
    cluster.stop_all()
    job_id = submit(tmp_path)
    record = client.get(job_id)
    store = open_store()
    taken = store.redis.lpop(store.queue(record["unit_queue"]).key)  # what that worker did
    assert taken.decode() == record["unit"] and not store.unit_pending(record)
    cluster.start("gpu,cpu")
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "completed", record
    assert runs_log(record["job_dir"]) == STAGES


def test_a_worker_that_cannot_see_the_job_folder_says_so(cluster, tmp_path):
    cluster.gpu.proc.terminate()
    cluster.gpu.proc.wait(20)
    elsewhere = tmp_path / "not-shared"
    blind = cluster.start("gpu", DUBBING_DATA_DIR=str(elsewhere))
    job_id = submit(tmp_path)
    record = client.wait(job_id, timeout=60, poll=0.1)
    assert record["status"] == "failed"
    assert f"worker {blind.name} cannot see the job folder" in record["error"], record["error"]
    assert "mount the shared data folder" in record["error"]
    assert runs_log(record["job_dir"]) == STAGES[:2]  # what the cpu worker ran before the hand-over
    # A worker started where no job folder is visible refuses at once.
    refused = subprocess.run([PYTHON, "-m", "dubbing", "worker", "--queue", cluster.url],
                             env={**cluster.env, "DUBBING_DATA_DIR": str(elsewhere)}, cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == ExitCode.USAGE and "does not see the job folders" in refused.stderr


def test_cleanup_removes_only_old_finished_jobs(cluster, tmp_path):
    old = client.submit(fake_video(tmp_path), "old.mp4", DubSettings(target_language="es", review=True))
    new = client.submit(fake_video(tmp_path), "new.mp4", DubSettings(target_language="es", review=True))
    for job_id in (old, new):
        assert client.wait(job_id, timeout=60, poll=0.1)["status"] == "awaiting_review"
        client.cancel(job_id)
    open_store().update(old, lambda r: r.update(finished=time.time() - 8 * 86400))
    old_dir = Path(client.get(old)["job_dir"])
    result = cli(["jobs", "cleanup", "--days", "7"], cluster.env)
    assert result.returncode == 0 and "removed 1" in result.stdout
    assert client.get(old) is None and not old_dir.exists()
    assert client.get(new)["status"] == "cancelled"
    assert client.cleanup(0) == 1


def test_an_unreachable_queue_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DUBBING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DUBBING_QUEUE", f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(DubbingError, match="cannot reach the job queue at redis://127.0.0.1"):
        client.list_jobs()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    listed = cli(["jobs", "list"], env)
    assert listed.returncode == ExitCode.TRANSIENT and listed.stderr.startswith("error: cannot reach the job queue")
    assert "Traceback" not in listed.stderr
    bad = cli(["jobs", "list"], {**env, "DUBBING_QUEUE": "http://example.org"})
    assert bad.returncode == ExitCode.USAGE and "is not a Redis URL" in bad.stderr


def test_routing_sends_the_stages_of_heavy_engines_to_gpu(monkeypatch):
    from dubbing.jobs.redis_store import routing_plan
    monkeypatch.delenv("DUBBING_GPU_STAGES", raising=False)
    on_gpu = lambda settings: {s for s, q in routing_plan(settings.to_dict(), STAGES).items() if q == "gpu"}  # noqa: E731
    assert on_gpu(ES) == set()  # the offline defaults all run on cpu
    assert on_gpu(DubSettings(target_language="es", diarization="pyannote", stt_model="large-v3", translator="nllb",
                              tts="xtts")) == {"diarize", "transcribe", "translate", "synthesize"}
    assert on_gpu(DubSettings(target_language="es", stt="transformers-whisper")) == {"transcribe"}
    monkeypatch.setenv("DUBBING_GPU_STAGES", "mix")
    assert on_gpu(DubSettings(target_language="es", tts="xtts")) == {"mix"}
    monkeypatch.setenv("DUBBING_GPU_STAGES", "none")
    assert on_gpu(DubSettings(target_language="es", tts="xtts")) == set()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_real_dub_handed_between_workers_through_the_shared_folder(redis_url, tmp_path, monkeypatch, speech_mp4):
    cluster = start_cluster(redis_url, tmp_path, monkeypatch, fake=False)
    try:
        job_id = client.submit(speech_mp4, "speech.mp4", DubSettings(target_language="es", source_language="en"))
        record = client.wait(job_id, timeout=500, poll=0.2)
    finally:
        cluster.stop_all()
    assert record["status"] == "completed", record
    assert all(e["status"] == "done" and e["attempts"] == 1 for e in record["stages"])
    for name in GPU_STAGES:
        assert stage(record, name)["worker"] == cluster.gpu.name
    from dubbing import media
    info = media.probe(Path(record["outputs"]["dubbed_mp4"]))
    assert info.video_codec and info.audio_codec and abs(info.duration - media.probe(speech_mp4).duration) < 1.0
    report = json.loads(Path(record["outputs"]["report"]).read_text())
    assert report["stages_run"] == STAGES  # the last worker's report covers the stages the others ran
    assert client.load_document(job_id).utterances  # Spanish lines made from the eSpeak speech
