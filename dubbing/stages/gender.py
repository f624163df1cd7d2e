"""Stage 4: each speaker's gender from their voice (a person can override it later)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import audio
from ..engines import registry
from ..engines._util import cpu_threads
from ..models import stable_hash
from .context import Context

SECONDS_PER_SPEAKER = 60.0


def key(ctx: Context) -> str:
    return stable_hash("gender", ctx.stored_key("diarize"), ctx.engine("gender"))


def outputs(ctx: Context):
    return [ctx.path("gender.json")]


def _classify(engine, samples: np.ndarray, sr: int, spans: list[tuple[float, float]]) -> tuple[str, float | None]:
    """Gender from (up to SECONDS_PER_SPEAKER of) the audio in `spans`."""
    pieces, total = [], 0.0
    for start, end in spans:
        if total < SECONDS_PER_SPEAKER:
            pieces.append(samples[int(start * sr):int(end * sr)])
            total += end - start
    return engine.classify(np.concatenate(pieces) if pieces else samples[:0], sr)


def of_spans(ctx: Context, spans: list[tuple[float, float]]) -> tuple[str, float | None]:
    """The gender of whoever speaks in `spans` (a speaker a person created); unknown without the audio."""
    if not ctx.path("audio16k.wav").exists():
        return "unknown", None
    engine = registry.get_engine("gender", ctx.engine("gender"))
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    return _classify(engine, samples, sr, spans)


def run(ctx: Context) -> dict:
    name = ctx.engine("gender")
    engine = registry.get_engine("gender", name)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    turns = ctx.read_json("diarization.json")["turns"]
    result = {}
    speakers = sorted({t[2] for t in turns})

    def classify(spk: str) -> tuple[str, float | None]:
        return _classify(engine, samples, sr, [(s, e) for s, e, who in turns if who == spk])

    # Speakers side by side where the engine allows: the pitch tracker's FFTs let go of the GIL, and on
    # two cores ten speakers of a 10-minute video took 0.95 s instead of 1.96 (the stage ran on one core).
    workers = min(cpu_threads(), len(speakers)) if engine.concurrent else 1
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, (spk, (gender, score)) in enumerate(zip(speakers, pool.map(classify, speakers))):
            result[spk] = {"gender": gender, "median_f0": score}
            ctx.progress((i + 1) / len(speakers), f"{spk}: {gender}")
    ctx.write_json("gender.json", {"engine": name, "speakers": result})
    return {"engine": name, "speakers": result}
