"""Shared helpers for the job runner's tests, and a fake pipeline for the fast ones.

The fake follows the pipeline contract (docs/CONTRACTS.md) but does no media work:
its "video" is a small JSON file saying how long each stage takes and which stage
fails how. The tests inject it: `use_fake_pipeline` hands it to this process's client,
and the workers the client spawns are tests/fake_runner.py, which gives it to the
worker (and so to its stage hosts). Every stage run that is not skipped appends its
name to work/runs.log, so tests can tell whether a finished stage ever ran again.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from dubbing.errors import CancelledError, NotAVideoError, TooBigError, TransientError, UnsupportedPairError
from dubbing.fsutil import atomic_output, atomic_write_text
from dubbing.models import Document, DubSettings, Speaker, Utterance

REPO = Path(__file__).resolve().parents[1]
FAKE_RUNNER = Path(__file__).resolve().with_name("fake_runner.py")
SHARED = Path(__file__).resolve().parents[2] / "shared"
SELFIE = SHARED / "media" / "mp4_en_jordimas_selfie.mp4"
PYTHON = sys.executable

# -- the fake pipeline ---------------------------------------------------------------------------

# The real pipeline's stage names and result type: the fake differs only in what a stage does.
from dubbing.pipeline import (ANALYSIS_STAGES, PREVIEW_SECONDS, RENDER_STAGES, REVIEW_AFTER, STAGES,  # noqa: E402,F401
                              StageResult)

STEPS = 10


@dataclass
class MediaInfo:
    duration: float


def validate_input(path, *, max_bytes=None, track=0):
    data = Path(path).read_bytes()
    if max_bytes is not None and len(data) > max_bytes:
        raise TooBigError("too big")
    try:
        spec = json.loads(data)
    except ValueError:
        raise NotAVideoError(f"{Path(path).name} is not a video") from None
    if not isinstance(spec, dict) or not spec.get("fake_video"):
        raise NotAVideoError(f"{Path(path).name} is not a video")
    return MediaInfo(duration=10.0)


def validate_settings(settings):
    if settings.target_language == "xx":
        raise UnsupportedPairError("cannot translate to xx")


def prepare(input_path, job_dir, settings, *, max_bytes=None):
    validate_input(input_path)
    work = Path(job_dir) / "work"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(input_path, work / "input.mp4")
    atomic_write_text(work / "settings.json", json.dumps(settings.to_dict()))


def _spec(job_dir: Path) -> dict:
    return json.loads((job_dir / "work" / "input.mp4").read_text())


def _render_key(job_dir: Path, preview_seconds) -> str:
    doc = job_dir / "utterances.json"
    return json.dumps([doc.read_text() if doc.exists() else "", preview_seconds])


def run_stage(job_dir, stage, *, progress=lambda *a: None, should_cancel=lambda: False, preview_seconds=None):
    job_dir = Path(job_dir)
    work = job_dir / "work"
    spec = _spec(job_dir)
    marker = work / f"{stage}.done"
    # Like the real pipeline, the translate stage that opens a render skips itself (the fake
    # never edits source texts); the stages after it depend on the edited document.
    key = _render_key(job_dir, preview_seconds) if stage in RENDER_STAGES and stage != REVIEW_AFTER else "done"
    if marker.exists() and marker.read_text() == key:
        return StageResult(stage, 0.0, 0.0, True)
    with open(work / "runs.log", "a") as fh:
        fh.write(stage + "\n")
    with open(work / "host_env.log", "a") as fh:  # how the worker set up its stage hosts
        fh.write(os.environ.get("OMP_WAIT_POLICY", "-") + "\n")
    fail = spec.get("fail", {}).get(stage)
    if fail:
        count_file = work / f"fail_{stage}.count"
        count = int(count_file.read_text()) if count_file.exists() else 0
        if count < fail.get("times", 99):
            count_file.write_text(str(count + 1))
            if fail["kind"] == "crash":  # the stage brings its own process down, as the OOM killer would
                os.kill(os.getpid(), signal.SIGKILL)
            if fail["kind"] == "transient":
                raise TransientError(f"{stage}: a subprocess was killed")
            if fail["kind"] == "permanent":
                raise NotAVideoError(f"{stage}: the input is broken")
            raise RuntimeError(f"{stage}: a bug")
    seconds = spec.get("seconds", {}).get(stage, spec.get("default_seconds", 0.05))
    t0 = time.monotonic()
    if stage in spec.get("deaf", {}):  # one long native call that never looks at cancel (a model's forward pass)
        time.sleep(spec["deaf"][stage])
    if stage in spec.get("child", {}):  # a tool that runs long (like ffmpeg); cancel must end it
        from dubbing import media
        with media.cancellable(should_cancel):
            # Like apertium's script, it leaves a file in $TMPDIR that only its own clean-up would remove.
            media.run_tool(["sh", "-c", f"mktemp >/dev/null && exec sleep {spec['child'][stage]}"],
                           what="running a child")
    # Like ffmpeg writing the mix: a temp file is open while the stage works, renamed at its end.
    with atomic_output(work / f"{stage}.partial.wav") as tmp:
        tmp.write_text("partial")
        for step in range(STEPS):
            if should_cancel():
                raise CancelledError("cancelled")
            time.sleep(seconds / STEPS)
            progress(stage, (step + 1) / STEPS, f"{stage} {step + 1}/{STEPS}")
    if stage == "translate":
        doc = Document(source_language="en", target_language="es", settings=DubSettings(target_language="es"),
                       speakers={"SPEAKER_00": Speaker(gender="male")},
                       utterances=[Utterance(id=i, start=i * 2.0, end=i * 2.0 + 1.5, speaker="SPEAKER_00",
                                             text=f"line {i}", translated_text=f"linea {i}",
                                             translation_source=f"line {i}", machine_translation=f"linea {i}")
                                   for i in range(3)],
                       duration=10.0)
        doc.save(job_dir / "utterances.json")
    if stage == "subtitles":
        name = "preview.mp4" if preview_seconds else "dubbed.mp4"
        atomic_write_text(job_dir / name, "fake video " + key)
        key = _render_key(job_dir, preview_seconds)
    atomic_write_text(marker, key)
    return StageResult(stage, time.monotonic() - t0, 42.0, False)


def retranslate(job_dir, ids):
    path = Path(job_dir) / "utterances.json"
    doc = Document.load(path)
    for utt in doc.utterances:
        if utt.id in ids:
            utt.translated_text = utt.machine_translation = "RT " + utt.text
            utt.translation_source = utt.text
    doc.save(path)
    return doc


def make_auditions(job_dir, *, should_cancel=lambda: False):
    """The fake has no voices to sample; it takes the spec's seconds["auditions"] in ten steps (the
    real one checks between voices), as real samples take a while after the pause for review, and
    notes when it began and how many steps it made."""
    job_dir = Path(job_dir)
    seconds = _spec(job_dir).get("seconds", {}).get("auditions", 0.0)
    if seconds:
        with open(job_dir / "work" / "auditions.log", "a") as fh:
            fh.write("began\n")
        steps = 0
        while steps < 10 and not should_cancel():
            time.sleep(seconds / 10)
            steps += 1
        with open(job_dir / "work" / "auditions.log", "a") as fh:
            fh.write(f"ended after {steps} of 10\n")
    return 0


def clean_intermediate(job_dir):
    pass  # the fake's stages leave nothing that is cheap to make again


def write_report(job_dir, results, *, wall_seconds=None):
    report = {"stages_run": [r.stage for r in results if not r.skipped]}
    atomic_write_text(Path(job_dir) / "report.json", json.dumps(report))
    return report


def outputs(job_dir):
    job_dir = Path(job_dir)
    names = {"dubbed_mp4": "dubbed.mp4", "preview_mp4": "preview.mp4", "utterances": "utterances.json"}
    return {k: job_dir / v for k, v in names.items() if (job_dir / v).exists()}


def fake_video(tmp: Path, name: str = "clip.mp4", **spec) -> Path:
    path = tmp / name
    path.write_text(json.dumps({"fake_video": True, **spec}))
    return path


# -- process helpers -------------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path, monkeypatch):
    """A store of its own for the test, served by workers over the fake pipeline; stopped afterwards."""
    data = tmp_path / "data"
    env = runner_env(data, fake=True)
    use_env(monkeypatch, env)
    use_fake_pipeline(monkeypatch.setattr)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    yield env
    stop_all_workers(data)


def use_fake_pipeline(set_attr=setattr) -> None:
    """This process's client checks and prepares uploads with the fake pipeline, and the workers it
    spawns run it (pass monkeypatch.setattr to undo both after a test)."""
    from dubbing.jobs import client, lock

    set_attr(client, "pipeline", sys.modules[__name__])
    set_attr(lock, "WORKER_COMMAND", [str(FAKE_RUNNER), "local-worker"])


def runner_env(data_dir: Path, *, fake: bool, **extra: str) -> dict:
    env = dict(os.environ)
    env["DUBBING_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(Path(__file__).resolve().parent)])
    if fake:
        env["DUBBING_RETRY_BACKOFF"] = "0.1"
    env.update(extra)
    return env


@contextmanager
def real_runner(data_dir: Path) -> Iterator[dict]:
    """This process and the workers it starts on a store in `data_dir`, over the real pipeline;
    the workers are stopped at the end."""
    import pytest

    env = runner_env(data_dir, fake=False)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("DUBBING_DATA_DIR", "PYTHONPATH"):
            mp.setenv(key, env[key])
        for key in ("DUBBING_RETRY_BACKOFF", "MAX_CONCURRENT_JOBS", "MAX_UPLOAD_MB",
                    "WORKER_IDLE_EXIT_SECONDS"):
            mp.delenv(key, raising=False)
        try:
            yield env
        finally:
            stop_all_workers(data_dir)


def use_env(monkeypatch, env: dict) -> None:
    """Point this test process at the same store and settings as the workers it starts."""
    for key in ("DUBBING_DATA_DIR", "DUBBING_RETRY_BACKOFF", "MAX_CONCURRENT_JOBS",
                "MAX_UPLOAD_MB", "WORKER_IDLE_EXIT_SECONDS"):
        if key in env:
            monkeypatch.setenv(key, env[key])
        else:
            monkeypatch.delenv(key, raising=False)


def worker_pid(data_dir: Path) -> int:
    try:
        return int((Path(data_dir) / "worker.pid").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def kill_worker(data_dir: Path) -> int:
    """SIGKILL the store's worker (a crash), wait until the kernel freed its lock; its pid."""
    from dubbing.jobs.worker import lock_held

    pid = wait_for(lambda: worker_pid(data_dir), 30, what="a worker pid")
    assert pid > 0
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not lock_held(Path(data_dir) / "worker.lock"), 30, what="the dead worker's lock")
    return pid


def stop_all_workers(data_dir: Path, extra: list[subprocess.Popen] = ()) -> None:
    """Teardown: stop the store's worker, and kill whatever we started that still lives."""
    from dubbing.jobs.worker import stop_worker

    try:
        stop_worker(Path(data_dir), timeout=15)
    finally:
        pid = worker_pid(data_dir)
        if pid > 0:
            try:
                os.killpg(pid, signal.SIGKILL)  # a spawned worker leads its own group (with its ffmpegs)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in extra:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def runs_log(job_dir: Path) -> list[str]:
    path = Path(job_dir) / "work" / "runs.log"
    return path.read_text().split() if path.exists() else []


def cli(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m dubbing ARGS` over the fake pipeline (through tests/fake_runner.py)."""
    return subprocess.run([PYTHON, str(FAKE_RUNNER), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
