"""Each job's own log file (work/job.log): what ran, how long, which engine, and why it failed."""
from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the fake pipeline module, as the runner's tests do

from test_jobs_support import runner_env, stop_all_workers, use_env  # noqa: E402

from dubbing import joblog, pipeline  # noqa: E402
from dubbing.engines import registry  # noqa: E402
from dubbing.jobs import client  # noqa: E402
from dubbing.models import DubSettings  # noqa: E402
from dubbing.stages.context import Context  # noqa: E402

log = logging.getLogger("dubbing.test")


def test_two_jobs_at_once_each_log_only_their_own_thread(tmp_path):
    barrier = threading.Barrier(2)
    handlers = list(logging.getLogger().handlers)

    def job(name: str) -> None:
        with joblog.job_log(tmp_path / name):
            barrier.wait()  # both files open at once
            for i in range(30):
                log.info("%s line %d", name, i)
            logging.getLogger("some.library").warning("%s: a library warns", name)

    threads = [threading.Thread(target=job, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.info("after the jobs: in no job's log")
    for name, other in (("a", "b"), ("b", "a")):
        text = joblog.log_path(tmp_path / name).read_text()
        assert text.count(f"{name} line") == 30 and f"{other} line" not in text
        assert f"WARNING some.library: {name}: a library warns" in text and "after the jobs" not in text
    tail = joblog.tail(tmp_path / "a", 3)
    assert len(tail) == 3 and tail[0].endswith("a line 28") and tail[1].endswith("a line 29") and tail[-1].endswith("a library warns")
    assert joblog.tail(tmp_path / "nothing", 5) == []
    assert logging.getLogger().handlers == handlers  # each job's handler is gone with its job


def test_stages_log_what_ran_how_long_and_which_engine(speech_mp4, tmp_path):
    job = tmp_path / "job"
    pipeline.prepare(speech_mp4, job, DubSettings(target_language="es"))
    with joblog.job_log(job):
        pipeline.run_stage(job, "probe")
        pipeline.run_stage(job, "probe")  # now current
        ctx = Context(job, pipeline.load_settings(job))
        name = ctx.engine("tts", target="es")
        for _ in range(3):  # as synthesize asks once per line
            registry.get_engine("tts", name)
    lines = joblog.tail(job, 50)
    text = "\n".join(lines)
    assert "dubbing.pipeline: probe: started" in text
    done = next(ln for ln in lines if "probe: done in" in ln)
    assert " s, peak " in done and "MB" in done
    assert "probe: up to date, skipped" in text
    assert f"tts engine: {name} (best available tts engine for es" in text
    assert sum(f"tts engine {name} (model" in ln for ln in lines) == 1  # once per job, not once per line


@pytest.fixture
def fake_runner(tmp_path, monkeypatch):
    data = tmp_path / "data"
    env = runner_env(data, fake=True)
    use_env(monkeypatch, env)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    yield env
    stop_all_workers(data)


@pytest.mark.timeout(120)
def test_a_failed_jobs_log_tail_says_why(fake_runner, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_text(json.dumps({"fake_video": True, "fail": {"gender": {"kind": "bug"}}}))
    job_id = client.submit(video, video.name, DubSettings(target_language="es"))
    assert client.wait(job_id, timeout=60, poll=0.1)["status"] == "failed"
    tail = client.log_tail(job_id, 20)
    assert 0 < len(tail) <= 20
    assert any("gender failed" in ln for ln in tail)
    assert "RuntimeError: gender: a bug" in tail  # the traceback's last line
    assert client.log_tail(job_id, 2) == tail[-2:]
