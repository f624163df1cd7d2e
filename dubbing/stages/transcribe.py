"""Stage 3: speech to text, with word times, in the detected or given language."""
from __future__ import annotations

from dataclasses import asdict

from .. import audio
from ..engines import registry
from ..errors import SilentInputError
from ..models import stable_hash
from .context import Context


def key(ctx: Context) -> str:
    s = ctx.settings
    return stable_hash("transcribe", ctx.stored_key("probe"), ctx.engine("stt"), s.stt_model, s.source_language)


def outputs(ctx: Context):
    return [ctx.path("transcript.json")]


def run(ctx: Context) -> dict:
    s = ctx.settings
    name = ctx.engine("stt")
    engine = registry.get_engine("stt", name, s.stt_model)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    language = None if s.source_language in ("", "auto") else s.source_language
    transcript = engine.transcribe(samples, sr, language=language, progress=ctx.progress)
    if not any(seg.text.strip() for seg in transcript.segments):
        raise SilentInputError("no speech was recognised in the audio; nothing to dub")
    ctx.write_json("transcript.json", {"engine": name, "model": engine.model, "language": transcript.language,
                                       "language_probability": transcript.language_probability,
                                       "segments": [asdict(seg) for seg in transcript.segments]})
    # Fail now, not after the costly stages, when the detected language cannot be translated.
    if language is None:
        registry.check_pair(s.translator, transcript.language, s.target_language)
    return {"engine": name, "model": engine.model, "language": transcript.language,
            "language_probability": round(transcript.language_probability, 3),
            "segments": len(transcript.segments)}
