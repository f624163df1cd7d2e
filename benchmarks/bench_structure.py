#!/usr/bin/env python3
"""The structure of conversations: speaker count, utterance-level DER, mixed lines, coverage, languages.

    .venv/bin/python benchmarks/bench_structure.py [NAME ...]

Runs the analysis stages (probe .. translate, the offline defaults) on the development
conversations assembled from distinct real people (tests/conversations.py) and on the
multi-speaker clips of ../shared/media, and scores the lines of utterances.json against
the true turns. Then re-detects speakers with a given count on the longest conversation
and prints its time against the analysis time (target < 10%).
Targets (issue 13): count right, DER <= 0.10 (0.25 s collar), at most one line holding
>= 0.2 s of a second speaker, lines cover >= 90% of the true speech.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dubbing import pipeline  # noqa: E402
from dubbing.models import Document, DubSettings  # noqa: E402
from tests import conversations as conv  # noqa: E402


def analyse(mp4: Path, job: Path) -> tuple[Document, float, dict]:
    pipeline.prepare(mp4, job, DubSettings(target_language="es"))
    t = time.perf_counter()
    results = pipeline.run(job, stages=pipeline.ANALYSIS_STAGES)
    return Document.load(job / "utterances.json"), time.perf_counter() - t, {r.stage: r.seconds for r in results}


def shared_clip(name: str, folder: Path) -> tuple[Path, list]:
    wav = conv.MEDIA / f"{name}.wav"
    mp4 = folder / f"{name}.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=160x120:r=10", "-i", str(wav), "-shortest", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(mp4)], check=True)
    return mp4, conv.rttm_turns(conv.MEDIA / f"{name}.rttm")


def main() -> None:
    wanted = set(sys.argv[1:])
    tmp = Path(tempfile.mkdtemp(prefix="bench_structure_"))
    cases = [(c.name, lambda c=c: (c.mp4(tmp / "media"), c.turns)) for c in conv.dev_set() + [conv.mixed_language()]]
    cases += [(n, lambda n=n: shared_clip(n, tmp)) for n in ("multi2_ami_dev00", "multi4_ami_tst00")]
    print(f"{'conversation':22} {'true':>4} {'found':>5} {'DER':>6} {'miss':>5} {'confus':>6} {'mixed':>5} "
          f"{'cover':>6} {'langs':14} {'diarize':>7} {'transcr':>7} {'total':>6}")
    rows, longest = [], None
    for name, make in cases:
        if wanted and name not in wanted:
            continue
        mp4, turns = make()
        job = tmp / "jobs" / name
        doc, seconds, stages = analyse(mp4, job)
        f = conv.line_figures(doc, turns)
        langs = ",".join(sorted(json.loads((job / "work" / "transcript.json").read_text())["languages"]))
        true = len({t[2] for t in turns})
        rows.append((name, true, f))
        print(f"{name:22} {true:4d} {f['speakers']:5d} {f['der']:6.3f} {f['miss']:5.3f} {f['confusion']:6.3f} "
              f"{f['mixed']:5d} {f['coverage']:6.3f} "
              f"{langs:14} {stages['diarize']:7.1f} {stages['transcribe']:7.1f} {seconds:6.1f}", flush=True)
        if longest is None or seconds > longest[1]:
            longest = (job, seconds, true)
    right = sum(1 for _, true, f in rows if f["speakers"] == true)
    print(f"count right on {right}/{len(rows)}; DER <= 0.10 on {sum(f['der'] <= 0.10 for _, _, f in rows)}; "
          f"coverage >= 0.90 on {sum(f['coverage'] >= 0.90 for _, _, f in rows)}")
    if longest:
        job, seconds, true = longest
        t = time.perf_counter()
        pipeline.redetect_speakers(job, true + 1)
        redo = time.perf_counter() - t
        print(f"re-detect with N={true + 1} on {job.name}: {redo:.2f} s against {seconds:.1f} s of analysis "
              f"= {redo / seconds:.1%} (target < 10%)")


if __name__ == "__main__":
    main()
