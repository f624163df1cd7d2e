"""Cancel latency per stage on a ~160 s clip of real speech (recordings from ../shared/media end to end).

For each stage in order: start it, ask it to cancel after a moment, and time how long it
takes to stop (CancelledError); then run it to the end so the next stage has its inputs.
The cancel check is the same as in the runner's stage host (the progress callback and
ffmpeg termination, pipeline.run_stage); the host reads the store for a request at most
every 0.2 s, which comes on top of these figures.

    .venv/bin/python benchmarks/bench_cancel.py [--seconds 160] [--after 2.0]
"""
from __future__ import annotations

import argparse
import json
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=160.0)
    parser.add_argument("--after", type=float, default=2.0, help="seconds into each stage to ask for the cancel")
    parser.add_argument("--target-language", default="es")
    args = parser.parse_args()
    if not have_media():
        print("../shared/media is absent: nothing to measure")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        clip = long_mp4(Path(tmp) / "long.mp4", args.seconds)
        job_dir = Path(tmp) / "job"
        pipeline.prepare(clip, job_dir, DubSettings(target_language=args.target_language))
        rows = []
        for stage in pipeline.STAGES:
            # Short stages get their cancel sooner, so it lands while they run.
            row = cancel_latency(job_dir, stage, args.after if stage in ("diarize", "transcribe", "synthesize", "mix")
                                 else 0.2)
            started = time.monotonic()
            pipeline.run_stage(job_dir, stage)
            row["full_run_s"] = round(time.monotonic() - started, 2)
            rows.append(row)
            shown = "-" if row["latency_s"] is None else f"{row['latency_s']:.2f} s"
            print(f"{stage:11} cancel latency {shown:>8}  ({row['note']}; the whole stage takes {row['full_run_s']} s)",
                  flush=True)
        worst = max((r["latency_s"] for r in rows if r["latency_s"] is not None), default=0.0)
        print(json.dumps({"clip_seconds": args.seconds, "worst_latency_s": worst, "stages": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
