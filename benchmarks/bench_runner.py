"""What the background runner costs: wall time of a dub through the runner against the plain `dub`.

    .venv/bin/python benchmarks/bench_runner.py [--input CLIP] [--repeat 2] [--json out.json]

For each repeat, in alternating order:
  plain   `python -m dubbing dub CLIP -o DIR`, from start to exit;
  runner  `python -m dubbing jobs submit CLIP` into a fresh data folder (so a fresh worker
          that loads its models, like the plain run does), from start until a status read
          shows `completed`.
Then one more job on the worker that is still running (models already loaded): the
"warm" figure the app sees from its second job on.

While the runner jobs run, this process reads the job's status every 20 ms and records how
long each read takes (plus 20 more reader processes with --readers 20).
Figures: median wall seconds, the ratio runner/plain (target <= 1.05), and read latency
percentiles. The default clip is ../shared/media/mp4_en_jordimas_selfie.mp4, else one made
with eSpeak NG.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SELFIE = REPO.parent / "shared" / "media" / "mp4_en_jordimas_selfie.mp4"
PY = sys.executable

READER = """
import sys, time
from dubbing.jobs import client
job_id, until = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < until:
    r = client.get(job_id)
    if r and r["status"] in ("completed", "failed", "cancelled"):
        break
    time.sleep(0.05)
"""


def dub_args(args) -> list[str]:
    return ["-t", args.target, "-s", args.source]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of a live process and of the children it has waited for (ffmpeg and the like)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def plain_run(args, clip: Path, out: Path) -> tuple[float, float]:
    cpu0, started = children_cpu(), time.perf_counter()
    subprocess.run([PY, "-m", "dubbing", "dub", str(clip), "-o", str(out), *dub_args(args)], cwd=REPO, check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - started, children_cpu() - cpu0


def runner_run(args, clip: Path, data: Path, latencies: list[float]) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (the submit command and the worker, if it is new) and the final record."""
    env = dict(os.environ, DUBBING_DATA_DIR=str(data))
    os.environ["DUBBING_DATA_DIR"] = str(data)
    from dubbing.jobs import client

    pid_file = data / "worker.pid"
    fresh = not pid_file.exists()
    cpu0, started = children_cpu(), time.perf_counter()
    result = subprocess.run([PY, "-m", "dubbing", "jobs", "submit", str(clip), *dub_args(args)], cwd=REPO, env=env,
                            capture_output=True, text=True)
    submit_cpu = children_cpu() - cpu0
    if result.returncode != 0:
        raise SystemExit(f"submit failed: {result.stderr.strip()}")
    job_id = result.stdout.strip().splitlines()[-1]
    readers = [subprocess.Popen([PY, "-c", READER, job_id, "600"], cwd=REPO, env=env) for _ in range(args.readers)]
    try:
        while True:
            t0 = time.perf_counter()
            record = client.get(job_id)
            latencies.append(time.perf_counter() - t0)
            if record["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        worker_cpu = process_cpu(int(pid_file.read_text())) if fresh else float("nan")
    finally:
        for proc in readers:
            proc.wait(60)
    if record["status"] != "completed":
        raise SystemExit(f"runner job {record['status']}: {record['error']}")
    return elapsed, submit_cpu + worker_cpu, record


def stop_worker(data: Path) -> None:
    subprocess.run([PY, "-m", "dubbing", "worker", "--stop"], cwd=REPO, capture_output=True,
                   env=dict(os.environ, DUBBING_DATA_DIR=str(data)))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def make_clip(tmp: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import THREE_SENTENCES, make_speech_mp4  # the suite's own eSpeak clip

    return make_speech_mp4(tmp, THREE_SENTENCES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="clip to dub (default: the shared 10 s selfie clip)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--readers", type=int, default=0, help="extra status-reader processes during runner jobs")
    parser.add_argument("--target", default="es")
    parser.add_argument("--source", default="en")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp_name:
        tmp = Path(tmp_name)
        clip = args.input or (SELFIE if SELFIE.exists() else make_clip(tmp))
        print(f"clip: {clip}")
        plain: list[float] = []
        runner: list[float] = []
        plain_cpu: list[float] = []
        runner_cpu: list[float] = []
        latencies: list[float] = []
        for i in range(args.repeat):
            order = ("plain", "runner") if i % 2 == 0 else ("runner", "plain")
            for kind in order:
                if kind == "plain":
                    wall, cpu = plain_run(args, clip, tmp / f"plain{i}")
                    plain.append(wall)
                    plain_cpu.append(cpu)
                    print(f"  plain  #{i + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)
                else:
                    data = tmp / f"data{i}"
                    try:
                        wall, cpu, record = runner_run(args, clip, data, latencies)
                    finally:
                        if i < args.repeat - 1:
                            stop_worker(data)
                    runner.append(wall)
                    runner_cpu.append(cpu)
                    print(f"  runner #{i + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU "
                          f"(stages {sum(e['seconds'] for e in record['stages']):.2f} s)", flush=True)
        # One more job on the last worker, models already in memory.
        last = tmp / f"data{args.repeat - 1}"
        warm, _, _ = runner_run(args, clip, last, latencies)
        stop_worker(last)
        print(f"  runner, warm worker: {warm:6.2f} s", flush=True)

    pair_ratios = [r / p for r, p in zip(runner, plain)]
    figures = {
        "clip": str(clip),
        "repeat": args.repeat,
        "plain_seconds_median": round(statistics.median(plain), 3),
        "runner_seconds_median": round(statistics.median(runner), 3),
        "ratio_runner_to_plain": round(statistics.median(runner) / statistics.median(plain), 3),
        "ratio_pairwise_median": round(statistics.median(pair_ratios), 3),
        "plain_cpu_seconds_median": round(statistics.median(plain_cpu), 3),
        "runner_cpu_seconds_median": round(statistics.median(runner_cpu), 3),
        "cpu_ratio_runner_to_plain": round(statistics.median(runner_cpu) / statistics.median(plain_cpu), 3),
        "runner_warm_worker_seconds": round(warm, 3),
        "ratio_warm_to_plain": round(warm / statistics.median(plain), 3),
        "status_reads": len(latencies),
        "extra_readers": args.readers,
        "status_read_ms_p50": round(1000 * pct(latencies, 0.5), 3),
        "status_read_ms_p95": round(1000 * pct(latencies, 0.95), 3),
        "status_read_ms_p99": round(1000 * pct(latencies, 0.99), 3),
        "status_read_ms_max": round(1000 * max(latencies), 3),
    }
    print(f"plain dub        median {figures['plain_seconds_median']:.2f} s")
    print(f"runner (cold)    median {figures['runner_seconds_median']:.2f} s   "
          f"ratio {figures['ratio_runner_to_plain']:.3f} (target <= 1.05)")
    print(f"                 pairwise ratio median {figures['ratio_pairwise_median']:.3f}; CPU seconds "
          f"{figures['runner_cpu_seconds_median']:.2f} vs {figures['plain_cpu_seconds_median']:.2f}, "
          f"ratio {figures['cpu_ratio_runner_to_plain']:.3f}")
    print(f"runner (warm)           {figures['runner_warm_worker_seconds']:.2f} s   "
          f"ratio {figures['ratio_warm_to_plain']:.3f}")
    print(f"status read while a job runs ({len(latencies)} reads, {args.readers} extra readers): "
          f"p50 {figures['status_read_ms_p50']:.2f} ms, p95 {figures['status_read_ms_p95']:.2f} ms, "
          f"p99 {figures['status_read_ms_p99']:.2f} ms, max {figures['status_read_ms_max']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
