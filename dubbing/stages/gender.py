"""Stage 4: each speaker's gender from their voice (a person can override it later)."""
from __future__ import annotations

import numpy as np

from .. import audio
from ..engines import registry
from ..models import stable_hash
from .context import Context

SECONDS_PER_SPEAKER = 60.0


def key(ctx: Context) -> str:
    return stable_hash("gender", ctx.stored_key("diarize"), ctx.engine("gender"))


def outputs(ctx: Context):
    return [ctx.path("gender.json")]


def run(ctx: Context) -> dict:
    name = ctx.engine("gender")
    engine = registry.get_engine("gender", name)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    turns = ctx.read_json("diarization.json")["turns"]
    result = {}
    speakers = sorted({t[2] for t in turns})
    for i, spk in enumerate(speakers):
        pieces, total = [], 0.0
        for start, end, who in turns:
            if who == spk and total < SECONDS_PER_SPEAKER:
                pieces.append(samples[int(start * sr):int(end * sr)])
                total += end - start
        gender, score = engine.classify(np.concatenate(pieces) if pieces else samples[:0], sr)
        result[spk] = {"gender": gender, "median_f0": score}
        ctx.progress((i + 1) / len(speakers), f"{spk}: {gender}")
    ctx.write_json("gender.json", {"engine": name, "speakers": result})
    return {"engine": name, "speakers": result}
