"""What the background runner costs: wall time of a dub through the runner against the plain `dub`.

    .venv/bin/python benchmarks/bench_runner.py [--input CLIP] [--repeat 2] [--backend both] [--json out.json]

For each repeat, in alternating order:
  plain   `python -m dubbing dub CLIP -o DIR`, from start to exit;
  runner  `python -m dubbing jobs submit CLIP` into a fresh data folder (so a fresh worker
          that loads its models, like the plain run does), from start until a status read
          shows `completed`. Backend `diskcache`: the submit starts the local worker.
          Backend `redis`: a redis-server on a free port, and one `python -m dubbing worker
          --queue URL --queues gpu,cpu` started with the clock already running.
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
import shutil
import socket
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


class Backend:
    """How the benchmark starts, finds and stops a worker of one backend."""

    def __init__(self, name: str, url: str | None = None):
        self.name, self.url = name, url
        self.workers: dict[Path, subprocess.Popen] = {}
        self.started: set[Path] = set()

    def env(self, data: Path) -> dict:
        env = dict(os.environ, DUBBING_DATA_DIR=str(data))
        env.pop("DUBBING_QUEUE", None)
        if self.url:
            env["DUBBING_QUEUE"] = self.url
        return env

    def use(self, data: Path) -> None:
        """Point this process's client at the same store."""
        os.environ.clear()
        os.environ.update(self.env(data))

    def start_worker(self, data: Path) -> None:
        self.started.add(data)
        if self.url and data not in self.workers:  # the diskcache worker is started by `jobs submit`
            import redis
            redis.Redis.from_url(self.url).flushdb()  # a fresh store, like the fresh diskcache folder
            self.workers[data] = subprocess.Popen(
                [PY, "-m", "dubbing", "worker", "--queue", self.url, "--queues", "gpu,cpu"], cwd=REPO,
                env=self.env(data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def worker_pid(self, data: Path) -> int:
        if self.url:
            return self.workers[data].pid
        return int((data / "worker.pid").read_text())

    def stop_worker(self, data: Path) -> None:
        self.started.discard(data)
        if self.url:
            proc = self.workers.pop(data)
            proc.terminate()
            proc.wait(60)
            return
        subprocess.run([PY, "-m", "dubbing", "worker", "--stop"], cwd=REPO, capture_output=True, env=self.env(data))


def runner_run(args, backend: Backend, clip: Path, data: Path, latencies: list[float]) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (the submit command and the worker, if it is new) and the final record."""
    env = backend.env(data)
    backend.use(data)
    from dubbing.jobs import client

    fresh = not (data / "jobs").exists()
    cpu0, started = children_cpu(), time.perf_counter()
    backend.start_worker(data)
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
        worker_cpu = process_cpu(backend.worker_pid(data)) if fresh else float("nan")
    finally:
        for proc in readers:
            proc.wait(60)
    if record["status"] != "completed":
        raise SystemExit(f"runner job {record['status']}: {record['error']}")
    return elapsed, submit_cpu + worker_cpu, record


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (make setup installs it); or use --backend diskcache")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    import redis
    conn = redis.Redis(port=port)
    for _ in range(100):
        try:
            conn.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    return proc, f"redis://127.0.0.1:{port}/0"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def make_clip(tmp: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import THREE_SENTENCES, make_speech_mp4  # the suite's own eSpeak clip

    return make_speech_mp4(tmp, THREE_SENTENCES)


def backend_figures(name: str, run: dict, plain: list[float], plain_cpu: list[float]) -> dict:
    wall, cpu, latencies = run["wall"], run["cpu"], run["latencies"]
    return {
        "backend": name,
        "runner_seconds_median": round(statistics.median(wall), 3),
        "ratio_runner_to_plain": round(statistics.median(wall) / statistics.median(plain), 3),
        "ratio_pairwise_median": round(statistics.median([r / p for r, p in zip(wall, plain)]), 3),
        "runner_cpu_seconds_median": round(statistics.median(cpu), 3),
        "cpu_ratio_runner_to_plain": round(statistics.median(cpu) / statistics.median(plain_cpu), 3),
        "runner_warm_worker_seconds": round(run["warm"], 3),
        "ratio_warm_to_plain": round(run["warm"] / statistics.median(plain), 3),
        "status_reads": len(latencies),
        "status_read_ms_p50": round(1000 * pct(latencies, 0.5), 3),
        "status_read_ms_p95": round(1000 * pct(latencies, 0.95), 3),
        "status_read_ms_p99": round(1000 * pct(latencies, 0.99), 3),
        "status_read_ms_max": round(1000 * max(latencies), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="clip to dub (default: the shared 10 s selfie clip)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--backend", choices=("diskcache", "redis", "both"), default="both")
    parser.add_argument("--readers", type=int, default=0, help="extra status-reader processes during runner jobs")
    parser.add_argument("--target", default="es")
    parser.add_argument("--source", default="en")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp_name:
        tmp = Path(tmp_name)
        clip = args.input or (SELFIE if SELFIE.exists() else make_clip(tmp))
        print(f"clip: {clip}")
        backends: list[Backend] = []
        redis_server = None
        if args.backend in ("diskcache", "both"):
            backends.append(Backend("diskcache"))
        if args.backend in ("redis", "both"):
            redis_server, url = start_redis(tmp)
            backends.append(Backend("redis", url))
        plain: list[float] = []
        plain_cpu: list[float] = []
        runs = {b.name: {"wall": [], "cpu": [], "latencies": []} for b in backends}
        try:
            for i in range(args.repeat):
                order = [None, *backends] if i % 2 == 0 else [*backends, None]
                for backend in order:
                    if backend is None:
                        wall, cpu = plain_run(args, clip, tmp / f"plain{i}")
                        plain.append(wall)
                        plain_cpu.append(cpu)
                        print(f"  plain            #{i + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)
                        continue
                    data = tmp / f"{backend.name}{i}"
                    run = runs[backend.name]
                    try:
                        wall, cpu, record = runner_run(args, backend, clip, data, run["latencies"])
                    finally:
                        if i < args.repeat - 1:
                            backend.stop_worker(data)
                    run["wall"].append(wall)
                    run["cpu"].append(cpu)
                    print(f"  runner {backend.name:9} #{i + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU "
                          f"(stages {sum(e['seconds'] for e in record['stages']):.2f} s)", flush=True)
            for backend in backends:  # one more job on the last worker, models already in memory
                last = tmp / f"{backend.name}{args.repeat - 1}"
                runs[backend.name]["warm"], _, _ = runner_run(args, backend, clip, last, runs[backend.name]["latencies"])
                backend.stop_worker(last)
                print(f"  runner {backend.name:9}, warm worker: {runs[backend.name]['warm']:6.2f} s", flush=True)
        finally:
            for backend in backends:
                for data in list(backend.started):
                    backend.stop_worker(data)
            if redis_server is not None:
                redis_server.terminate()
                redis_server.wait(10)

    figures = {
        "clip": str(clip),
        "repeat": args.repeat,
        "extra_readers": args.readers,
        "plain_seconds_median": round(statistics.median(plain), 3),
        "plain_cpu_seconds_median": round(statistics.median(plain_cpu), 3),
        "backends": {b.name: backend_figures(b.name, runs[b.name], plain, plain_cpu) for b in backends},
    }
    print(f"plain dub                  median {figures['plain_seconds_median']:.2f} s, "
          f"CPU {figures['plain_cpu_seconds_median']:.2f} s")
    for f in figures["backends"].values():
        print(f"{f['backend']:9} runner (cold) median {f['runner_seconds_median']:.2f} s   "
              f"ratio {f['ratio_runner_to_plain']:.3f} (target <= 1.05); pairwise {f['ratio_pairwise_median']:.3f}; "
              f"CPU {f['runner_cpu_seconds_median']:.2f} s, ratio {f['cpu_ratio_runner_to_plain']:.3f}")
        print(f"{f['backend']:9} runner (warm)        {f['runner_warm_worker_seconds']:.2f} s   "
              f"ratio {f['ratio_warm_to_plain']:.3f}")
        print(f"{f['backend']:9} status read while a job runs ({f['status_reads']} reads, {args.readers} extra "
              f"readers): p50 {f['status_read_ms_p50']:.2f} ms, p95 {f['status_read_ms_p95']:.2f} ms, "
              f"p99 {f['status_read_ms_p99']:.2f} ms, max {f['status_read_ms_max']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
