"""Each job's own log file (work/job.log): what ran, how long, which engine (a runner job's failure:
test_jobs_runner.py)."""
from __future__ import annotations

import logging
import threading

from dubbing import joblog, pipeline
from dubbing.engines import registry
from dubbing.models import DubSettings
from dubbing.stages.context import Context

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
