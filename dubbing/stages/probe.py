"""Stage 1: check the input is a real MP4 with picture and sound; split out its audio."""
from __future__ import annotations

import numpy as np

from .. import audio, media
from ..errors import CorruptInputError, SilentInputError
from ..models import stable_hash
from .context import Context

ANALYSIS_SR = 16000


def key(ctx: Context) -> str:
    track = ctx.settings.audio_track
    return stable_hash("probe", ctx.input_digest(), *([track] if track else []))


def outputs(ctx: Context):
    return [ctx.path("media.json"), ctx.path("audio16k.wav"), ctx.path("audio_orig.wav")]


def run(ctx: Context) -> dict:
    track = ctx.settings.audio_track
    info = media.probe(ctx.input, track=track)
    ctx.progress(0.1, "extracting audio" + (f" of {media.describe_track(info.audio_tracks[track])}"
                                            if len(info.audio_tracks) > 1 else ""))
    media.split_audio(ctx.input, ctx.path("audio16k.wav"), ctx.path("audio_orig.wav"), sample_rate=ANALYSIS_SR,
                      track=track)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    decoded = len(samples) / sr
    # A truncated file can still probe (index at the front) but decodes short.
    if decoded < info.audio_duration - max(1.0, 0.05 * info.audio_duration):
        raise CorruptInputError(f"the audio decodes to {decoded:.1f} s of {info.audio_duration:.1f} s: "
                                "the file looks truncated; export or download it again")
    if samples.size == 0 or float(np.max(np.abs(samples))) < 1e-4:
        raise SilentInputError("the audio track is silent; there is no speech to dub")
    data = info.to_dict() | {"decoded_seconds": decoded}
    ctx.write_json("media.json", data)
    detail = {"duration": info.duration, "video_codec": info.video_codec, "audio_codec": info.audio_codec}
    if len(info.audio_tracks) > 1:  # say which one was dubbed (report.json, the job's page)
        detail["dubbed_track"] = media.describe_track(info.audio_tracks[track])
    return detail
