"""Trying to break the runner with real worker processes (over the fast fake pipeline):
kills from outside, crashes, leftovers, cancel, delete, refused submissions.

The fake pipeline (test_jobs_support.py) holds a pid-tagged temp file open while a stage
works and can run a long child process, as the real stages do with ffmpeg.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_jobs_support import (STAGES, cli, env, fake_video, kill_worker, runs_log,  # noqa: E402,F401
                               wait_for, worker_pid)

from dubbing import procs  # noqa: E402
from dubbing.errors import ExitCode  # noqa: E402
from dubbing.jobs import client  # noqa: E402
from dubbing.models import DubSettings  # noqa: E402

pytestmark = pytest.mark.timeout(300)

ES = DubSettings(target_language="es")
# About 30 s of stages per job, so twenty kills at random moments spread over every stage (with
# 20 s, one run of the whole suite saw the jobs finish after 19 kills).
SPEC = {"seconds": {"probe": 1.5, "diarize": 6.0, "transcribe": 7.5, "translate": 3.0, "synthesize": 7.5,
                    "mix": 6.0, "subtitles": 1.5}, "default_seconds": 1.0}


def processes_of(data: Path) -> list[int]:
    """Live processes (other than this one) that work for the store in `data`: workers, hosts, their children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"DUBBING_DATA_DIR={data}".encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def temp_files(data: Path) -> list[Path]:
    return [p for p in (data / "jobs").rglob(".*.tmp*")]


def assert_no_finished_stage_ran_again(job_dir: str, record: dict) -> None:
    """Each stage's runs form one block, in pipeline order: none ran again once the next had started."""
    log = runs_log(job_dir)
    blocks = [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]
    assert blocks == [s for s in STAGES if s in log] == STAGES, log


def outputs_of(record: dict) -> dict[str, str]:
    job_dir = Path(record["job_dir"])
    return {name: (job_dir / name).read_text() for name in ("dubbed.mp4", "utterances.json")}


@pytest.mark.slow
def test_soak_twenty_kills_across_three_jobs_lose_nothing(env, tmp_path, monkeypatch):
    data = Path(env["DUBBING_DATA_DIR"])
    monkeypatch.setenv("MAX_CONCURRENT_JOBS", "3")  # every kill lands on all three jobs at once
    rng = random.Random(20)
    reference = client.submit(fake_video(tmp_path, "ref.mp4", **SPEC), "ref.mp4", ES)
    reference_out = outputs_of(client.wait(reference, timeout=60, poll=0.1))
    client.stop_worker()

    jobs = [client.submit(fake_video(tmp_path, f"clip{i}.mp4", **SPEC), f"clip{i}.mp4",
                          DubSettings(target_language="es", review=(i == 1)), start_worker=False) for i in range(3)]
    extra = iter(range(3, 100))

    def another() -> str:
        name = f"clip{next(extra)}.mp4"
        return client.submit(fake_video(tmp_path, name, **SPEC), name, ES, start_worker=False)

    records = soak(data, jobs, review_job=jobs[1], kills=20, rng=rng, another=another)
    for record in records:
        assert_no_finished_stage_ran_again(record["job_dir"], record)
        assert outputs_of(record) == reference_out


def soak(data: Path, jobs: list[str], *, review_job: str, kills: int, rng: random.Random,
         max_pause: float = 2.0, timeout: float = 120, another: Callable[[], str] | None = None) -> list[dict]:
    """SIGKILL the worker `kills` times at random moments while `jobs` run (approving `review_job` when it
    pauses, as a person would; never a retry); their final records, after checking all completed with no
    failure counted, and that no temp file or process of the store is left.

    `another` submits one more job when all finished before the kills landed. Real stages get faster and
    CPUs differ, so a fixed workload fits a different number of kills on each machine; without it the soak
    fails, as its jobs were too short."""
    jobs = list(jobs)
    done = approved = 0
    while done < kills:
        client.ensure_worker()  # what any status read does when a worker died
        pid = wait_for(lambda: worker_pid(data), 30, what="a worker")
        before = {j: client.get(j)["percent"] for j in jobs}
        # A random moment once this worker got going (its stage hosts take seconds to start on a busy
        # CPU): mid-stage, between stages, while writing a stage's output.
        wait_for(lambda: any(client.get(j)["percent"] > before[j] or client.get(j)["status"] == "awaiting_review"
                             for j in jobs), timeout, what="progress under the new worker")
        time.sleep(rng.uniform(0.0, max_pause))
        statuses = {j: client.get(j)["status"] for j in jobs}
        if statuses[review_job] == "awaiting_review" and not approved:
            client.approve(review_job, start_worker=False)
            approved = 1
        if all(s in ("completed", "failed") for s in statuses.values()):
            if another is None:
                break
            jobs.append(another())
            continue
        if worker_pid(data) == pid:
            kill_worker(data)
            done += 1
    client.ensure_worker()
    if not approved:
        client.wait(review_job, timeout=timeout, poll=0.1, until=("awaiting_review",))
        client.approve(review_job)
    records = [client.wait(j, timeout=timeout, poll=0.1, until=("completed", "failed", "cancelled")) for j in jobs]
    print(f"\n{done} SIGKILLs over {len(jobs)} jobs; restarted stages per job:",
          [{e["name"]: e["attempts"] for e in r["stages"] if e["attempts"] > 1} for r in records])
    assert done == kills, f"only {done} kills landed before the jobs finished; make the jobs longer"
    for record in records:
        assert record["status"] == "completed", record
        assert all(e.get("failures", 0) == 0 for e in record["stages"]), record["stages"]
    client.stop_worker()
    assert temp_files(data) == []
    wait_for(lambda: processes_of(data) == [], 10, what="every process of the store to end")
    return records


def test_a_killed_worker_takes_its_children_and_the_next_sweeps_its_temp_files(env, tmp_path):
    data = Path(env["DUBBING_DATA_DIR"])
    token = f"{300 + random.random():.6f}"
    job_id = client.submit(fake_video(tmp_path, child={"transcribe": token}, seconds={"diarize": 2.0}),
                           "clip.mp4", ES)
    wait_for(lambda: client.get(job_id)["stage"] == "diarize", 30, what="diarization")
    job_dir = Path(client.get(job_id)["job_dir"])
    wait_for(lambda: temp_files(data), 10, what="the stage's temp file")
    kill_worker(data)
    left = temp_files(data)
    assert [p.name.split(".")[1:3] for p in left] == [["diarize", "partial"]]  # the dead host's, pid-tagged
    client.ensure_worker()
    wait_for(lambda: not left[0].exists(), 20, what="the new worker to sweep the dead host's temp file")
    # The next stage runs a long child (like ffmpeg); killing the worker must end it too.
    sleeper = wait_for(lambda: _pids_with_cmdline(f"sleep {token}"), 60, what="the stage's child process")
    # The child's own temp file is in its host's private temp folder (procs.use_private_tmp).
    [host_tmp] = {_tmpdir_of(pid) for pid in sleeper}
    assert host_tmp.name.startswith("dubbing-host.") and any(host_tmp.glob("tmp.*"))
    kill_worker(data)
    wait_for(lambda: not any(procs.pid_alive(p) for p in sleeper), 5, what="the child to die with the worker")
    wait_for(lambda: processes_of(data) == [], 5, what="the stage host to end")
    assert job_dir.is_dir() and host_tmp.is_dir()  # killed with it, nobody removed the child's file
    client.ensure_worker()
    wait_for(lambda: not host_tmp.exists(), 20, what="the new worker to remove the dead host's temp folder")


def _tmpdir_of(pid: int) -> Path:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return Path(next(v for v in env if v.startswith(b"TMPDIR=")).decode()[len("TMPDIR="):])


def test_cancel_ends_a_running_child_at_once(env, tmp_path):
    token = f"{300 + random.random():.6f}"
    job_id = client.submit(fake_video(tmp_path, child={"transcribe": token}), "clip.mp4", ES)
    sleeper = wait_for(lambda: _pids_with_cmdline(f"sleep {token}"), 60, what="the child process")
    asked = time.monotonic()
    client.cancel(job_id)
    record = client.wait(job_id, timeout=10, poll=0.05)
    latency = time.monotonic() - asked
    assert record["status"] == "cancelled" and latency < 2.0, (record, latency)
    assert not any(procs.pid_alive(p) for p in sleeper)
    print(f"\ncancel with a child running took {latency:.2f} s")


def test_cancel_stops_a_stage_deaf_to_it_within_two_seconds_and_costs_no_try(env, tmp_path):
    job_id = client.submit(fake_video(tmp_path, deaf={"transcribe": 60}), "clip.mp4", ES)
    wait_for(lambda: client.get(job_id)["stage"] == "transcribe", 30, what="transcription")
    time.sleep(0.5)
    asked = time.monotonic()
    client.cancel(job_id)
    record = client.wait(job_id, timeout=10, poll=0.05)
    latency = time.monotonic() - asked
    assert record["status"] == "cancelled" and latency < 2.0, (record["status"], latency)
    entry = next(e for e in record["stages"] if e["name"] == "transcribe")
    assert entry["status"] == "cancelled" and entry.get("failures", 0) == 0
    assert [p for p in Path(record["job_dir"]).rglob(".*.tmp*")] == []
    print(f"\ncancel of a stage deaf to it took {latency:.2f} s")
    # The worker goes on with a fresh stage host.
    other = client.submit(fake_video(tmp_path, "next.mp4"), "next.mp4", ES)
    assert client.wait(other, timeout=60, poll=0.1)["status"] == "completed"


def test_delete_of_a_running_job_returns_at_once_and_finishes_behind(env, tmp_path):
    job_id = client.submit(fake_video(tmp_path, seconds={"transcribe": 30.0}), "clip.mp4", ES)
    wait_for(lambda: client.get(job_id)["stage"] == "transcribe", 30, what="transcription")
    job_dir = Path(client.get(job_id)["job_dir"])
    asked = time.monotonic()
    client.delete(job_id)
    assert time.monotonic() - asked < 0.5
    assert client.get(job_id) is None and client.list_jobs() == []
    wait_for(lambda: not job_dir.exists(), 5, what="the worker to remove the folder")
    other = client.submit(fake_video(tmp_path, "next.mp4"), "next.mp4", ES)
    assert client.wait(other, timeout=30, poll=0.1)["status"] == "completed"


def test_submit_wait_prints_the_error_line_and_its_code(env, tmp_path):
    video = fake_video(tmp_path, fail={"transcribe": {"kind": "permanent"}})
    result = cli(["jobs", "submit", str(video), "-t", "es", "--wait"], env)
    assert result.returncode == ExitCode.NOT_A_VIDEO, result.stderr
    assert "error: transcribe: the input is broken" in result.stderr.splitlines()


def test_the_data_folder_is_private(env, tmp_path):
    data = Path(env["DUBBING_DATA_DIR"])
    job_id = client.submit(fake_video(tmp_path), "clip.mp4", ES)
    record = client.wait(job_id, timeout=30, poll=0.1)
    assert data.stat().st_mode & 0o777 == 0o700
    for path in data.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != "input.mp4":  # a hard link of the upload
            assert path.stat().st_mode & 0o077 == 0, path
        elif path.is_dir():
            assert path.stat().st_mode & 0o077 == 0, path
    assert Path(record["outputs"]["dubbed_mp4"]).stat().st_mode & 0o777 == 0o600


def _pids_with_cmdline(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip().decode() == text:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_an_old_loose_data_folder_is_tightened(tmp_path, monkeypatch):
    data = tmp_path / "old"
    (data / "jobs" / "abc").mkdir(parents=True)
    (data / "jobs" / "abc" / "utterances.json").write_text("{}")
    os.chmod(data, 0o755)
    os.chmod(data / "jobs" / "abc" / "utterances.json", 0o644)
    from dubbing.jobs.store import Store
    Store(data).close()
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "jobs" / "abc" / "utterances.json").stat().st_mode & 0o777 == 0o600


def test_sweep_removes_only_dead_writers_temp_files(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "a").mkdir()
    gone = tmp_path / "a" / f".dubbed.{dead.pid}.tmp.mp4"
    live = tmp_path / "a" / f".dubbed.{os.getpid()}.tmp.mp4"
    fresh = tmp_path / "a" / ".utterances.json.k2j3h4g5.tmp"
    for p in (gone, live, fresh):
        p.write_text("x")
    assert procs.sweep_temp_files(tmp_path) == 1
    assert not gone.exists() and live.exists() and fresh.exists()
    os.utime(fresh, (time.time() - 120, time.time() - 120))
    assert procs.sweep_temp_files(tmp_path) == 1 and not fresh.exists()


def test_children_die_with_the_thread_that_started_them(tmp_path):
    code = ("import subprocess, sys; from dubbing.procs import die_with_parent; "
            "p = subprocess.Popen(['sleep', '300.4242'], preexec_fn=die_with_parent); print(p.pid, flush=True); "
            "import time; time.sleep(300)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    child = int(parent.stdout.readline())
    assert procs.pid_alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    wait_for(lambda: not procs.pid_alive(child), 5, what="the orphan to die")


def test_job_states_allow_only_the_moves_of_their_owner():
    from dubbing.jobs import states

    record = {"id": "x", "status": states.QUEUED}
    states.move(record, states.RUNNING, states.WORKER, message="Starting")
    assert record == {"id": "x", "status": "running", "message": "Starting"}
    with pytest.raises(states.IllegalMove):
        states.move(record, states.QUEUED, states.CLIENT)  # only the worker puts a running job back
    states.move(record, states.COMPLETED, states.WORKER)
    with pytest.raises(states.IllegalMove):
        states.move(record, states.RUNNING, states.WORKER)  # a finished job is queued again first
    assert states.allowed(states.COMPLETED, states.QUEUED, states.CLIENT)
