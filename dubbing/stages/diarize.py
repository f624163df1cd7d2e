"""Stage 2: who speaks when."""
from __future__ import annotations

from .. import audio
from ..engines import registry
from ..fsutil import atomic_output
from ..models import stable_hash
from .context import Context


def key(ctx: Context) -> str:
    s = ctx.settings
    return stable_hash("diarize", ctx.stored_key("probe"), ctx.engine("diarization"), s.diarization_model, s.speakers)


def outputs(ctx: Context):
    return [ctx.path("diarization.json")]


def warm(ctx: Context) -> None:
    """Load the diarizer (and what its voice check needs) while the audio is being extracted."""
    engine = registry.get_engine("diarization", ctx.engine("diarization", record=False), ctx.settings.diarization_model)
    if not ctx.settings.speakers:
        engine.warm()


def run(ctx: Context) -> dict:
    name = ctx.engine("diarization")
    engine = registry.get_engine("diarization", name, ctx.settings.diarization_model)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    turns = engine.diarize(samples, sr, num_speakers=ctx.settings.speakers, progress=ctx.progress)
    if engine.state is not None:
        # Kept so that "re-detect speakers with N" re-clusters without embedding the audio again.
        save_state(ctx, engine.state)
    return write_turns(ctx, name, turns)


def write_turns(ctx: Context, name: str, turns) -> dict:
    speakers = sorted({t.speaker for t in turns})
    ctx.write_json("diarization.json", {"engine": name, "turns": [[t.start, t.end, t.speaker] for t in turns]})
    return {"engine": name, "speakers": len(speakers), "turns": len(turns)}


STATE = "diarization_state.npz"


def save_state(ctx: Context, state: dict) -> None:
    import numpy as np
    with atomic_output(ctx.path(STATE)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **state)


def load_state(ctx: Context) -> dict | None:
    import numpy as np
    path = ctx.path(STATE)
    if not path.exists():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
