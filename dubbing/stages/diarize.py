"""Stage 2: who speaks when."""
from __future__ import annotations

from .. import audio
from ..engines import registry
from ..models import stable_hash
from .context import Context


def key(ctx: Context) -> str:
    s = ctx.settings
    return stable_hash("diarize", ctx.stored_key("probe"), ctx.engine("diarization"), s.diarization_model, s.speakers)


def outputs(ctx: Context):
    return [ctx.path("diarization.json")]


def run(ctx: Context) -> dict:
    name = ctx.engine("diarization")
    engine = registry.get_engine("diarization", name, ctx.settings.diarization_model)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    turns = engine.diarize(samples, sr, num_speakers=ctx.settings.speakers, progress=ctx.progress)
    speakers = sorted({t.speaker for t in turns})
    ctx.write_json("diarization.json", {"engine": name, "turns": [[t.start, t.end, t.speaker] for t in turns]})
    return {"engine": name, "speakers": len(speakers), "turns": len(turns)}
