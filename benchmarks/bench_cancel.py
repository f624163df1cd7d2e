"""Cancel latency per stage on a ~160 s clip of real speech (recordings from ../shared/media end to end).

Default: through the job runner (a real worker and stage host). For each stage in order,
once it has run `--after` seconds, `client.cancel` the job and time until the record says
cancelled; then `client.retry` resumes it and the next stage is measured.

`--in-process`: the pipeline's own cooperative cancel only (the progress callback and
ffmpeg termination in pipeline.run_stage), without the runner's fallback of stopping a
stage host that does not stop by itself within a second.

    .venv/bin/python benchmarks/bench_cancel.py [--seconds 160] [--after 2.0] [--in-process]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from dubbing import pipeline  # noqa: E402
from dubbing.errors import CancelledError  # noqa: E402
from dubbing.models import DubSettings  # noqa: E402
from reliability_media import have_media, long_mp4  # noqa: E402


def cancel_latency(job_dir: Path, stage: str, after: float) -> dict:
    """Run `stage`, ask it to cancel `after` seconds in; seconds from the request to its stop."""
    asked = threading.Event()
    outcome: dict = {}

    def work() -> None:
        started = time.monotonic()
        try:
            pipeline.run_stage(job_dir, stage, should_cancel=asked.is_set)
            outcome["finished"] = time.monotonic() - started
        except CancelledError:
            outcome["stopped"] = time.monotonic()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(after)
    if not thread.is_alive():
        return {"stage": stage, "latency_s": None, "note": f"finished in {outcome['finished']:.2f} s, before the cancel"}
    at = time.monotonic()
    asked.set()
    thread.join()
    if "stopped" not in outcome:
        return {"stage": stage, "latency_s": None, "note": "ran to the end despite the cancel"}
    return {"stage": stage, "latency_s": round(outcome["stopped"] - at, 3), "note": f"cancelled {after:.1f} s in"}


def in_process_latencies(clip: Path, job_dir: Path, after: float, target: str) -> list[dict]:
    pipeline.prepare(clip, job_dir, DubSettings(target_language=target))
    rows = []
    for stage in pipeline.STAGES:
        # Short stages get their cancel sooner, so it lands while they run.
        row = cancel_latency(job_dir, stage, after if _long(stage) else 0.2)
        started = time.monotonic()
        pipeline.run_stage(job_dir, stage)
        row["full_run_s"] = round(time.monotonic() - started, 2)
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def runner_latencies(clip: Path, data: Path, after: float, target: str) -> list[dict]:
    os.environ["DUBBING_DATA_DIR"] = str(data)
    from dubbing.jobs import client

    job_id = client.submit(clip, clip.name, DubSettings(target_language=target))
    rows = []
    try:
        for stage in pipeline.STAGES:
            seen = None
            while True:
                record = client.get(job_id)
                if record["status"] == "completed" or pipeline.STAGES.index(record["stage"] or "probe") > \
                        pipeline.STAGES.index(stage) or _done(record, stage):
                    rows.append({"stage": stage, "latency_s": None, "note": "finished before the cancel point"})
                    break
                if record["status"] == "running" and record["stage"] == stage and seen is None:
                    seen = time.monotonic()
                if seen is not None and time.monotonic() - seen >= (after if _long(stage) else 0.1):
                    asked = time.monotonic()
                    client.cancel(job_id)
                    record = client.wait(job_id, timeout=60, poll=0.02)
                    rows.append({"stage": stage, "latency_s": round(time.monotonic() - asked, 3),
                                 "note": f"{record['status']}; asked {asked - seen:.1f} s into the stage"})
                    client.retry(job_id)
                    break
                if record["status"] == "failed":
                    raise RuntimeError(record["error"])
                time.sleep(0.02)
            print(_line(rows[-1]), flush=True)
        client.wait(job_id, timeout=1800, poll=0.5)
    finally:
        client.stop_worker()
    return rows


def _done(record: dict, stage: str) -> bool:
    return any(e["name"] == stage and e["status"] == "done" for e in record["stages"])


def _long(stage: str) -> bool:
    return stage in ("diarize", "transcribe", "synthesize", "mix")


def _line(row: dict) -> str:
    shown = "-" if row["latency_s"] is None else f"{row['latency_s']:.2f} s"
    extra = f"; the whole stage takes {row['full_run_s']} s" if "full_run_s" in row else ""
    return f"{row['stage']:11} cancel latency {shown:>8}  ({row['note']}{extra})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=160.0)
    parser.add_argument("--after", type=float, default=2.0, help="seconds into each stage to ask for the cancel")
    parser.add_argument("--target-language", default="es")
    parser.add_argument("--in-process", action="store_true", help="the pipeline's cooperative cancel only")
    args = parser.parse_args()
    if not have_media():
        print("../shared/media is absent: nothing to measure")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        clip = long_mp4(Path(tmp) / "long.mp4", args.seconds)
        if args.in_process:
            rows = in_process_latencies(clip, Path(tmp) / "job", args.after, args.target_language)
        else:
            rows = runner_latencies(clip, Path(tmp) / "data", args.after, args.target_language)
        worst = max((r["latency_s"] for r in rows if r["latency_s"] is not None), default=0.0)
        print(json.dumps({"clip_seconds": args.seconds, "worst_latency_s": worst, "stages": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
