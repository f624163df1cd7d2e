"""Stage 9: dubbed speech over the original track, then muxed with the untouched video.

In `duck` mode the original (music, ambience, the original voice) stays, lowered
under each dubbed line with short ramps; `replace` drops the original track except
where a line is muted. Every change is local to a line's slot, so after an edit
the audio outside the changed lines comes out identical, sample for sample.
"""
from __future__ import annotations

import numpy as np

from .. import audio, media
from ..models import MIX_REPLACE, stable_hash
from .context import Context

RAMP_S = 0.08


def _voiced(ctx: Context):
    doc = ctx.load_doc()
    return doc, [u for u in doc.utterances if u.clip and not u.muted and u.translated_text.strip()
                 and (not ctx.preview_seconds or u.start < ctx.preview_seconds)]


def key(ctx: Context) -> str:
    s = ctx.settings
    doc, voiced = _voiced(ctx)
    muted = [(u.start, u.end) for u in doc.utterances if u.muted]
    return stable_hash("mix", ctx.stored_key("probe"), [(u.clip, u.start) for u in voiced], muted,
                       s.mix_mode, s.duck_db, ctx.preview_seconds)


def outputs(ctx: Context):
    if ctx.preview_seconds:
        return [ctx.job_dir / "preview.mp4"]
    return [ctx.job_dir / "dubbed_audio.wav", ctx.job_dir / "dubbed.mp4"]


def envelope(n: int, sr: int, regions: list[tuple[float, float]], low: float, high: float) -> np.ndarray:
    """Gain `high` everywhere, `low` inside the regions, with linear ramps just outside them."""
    gain = np.full(n, high, dtype=np.float32)
    ramp = max(1, int(RAMP_S * sr))
    for start, end in regions:
        a, b = max(0, int(start * sr)), min(n, int(end * sr))
        if b <= a:
            continue
        gain[a:b] = np.minimum(gain[a:b], low)
        r0 = max(0, a - ramp)
        gain[r0:a] = np.minimum(gain[r0:a], np.linspace(high, low, ramp, dtype=np.float32)[ramp - (a - r0):])
        r1 = min(n, b + ramp)
        gain[b:r1] = np.minimum(gain[b:r1], np.linspace(low, high, ramp, dtype=np.float32)[: r1 - b])
    return gain


def run(ctx: Context) -> dict:
    s = ctx.settings
    doc, voiced = _voiced(ctx)
    orig, sr = audio.read(ctx.path("audio_orig.wav"))
    n = len(orig)
    if ctx.preview_seconds:
        n = min(n, int(ctx.preview_seconds * sr))
        orig = orig[:n]
    dub = np.zeros(n, dtype=np.float32)
    regions = []
    for u in voiced:
        clip, _ = audio.read(ctx.work / u.clip, mono=True)
        a = int(round(u.start * sr))
        b = min(n, a + len(clip))
        if b > a:
            dub[a:b] += clip[: b - a]
        regions.append((u.start, max(u.end, u.start + len(clip) / sr)))
    if s.mix_mode == MIX_REPLACE:
        muted = [(u.start, u.end) for u in doc.utterances if u.muted]
        gain = 1.0 - envelope(n, sr, muted, 0.0, 1.0)  # original only where a line is muted
    else:
        gain = envelope(n, sr, regions, audio.db_to_gain(s.duck_db), 1.0)
    out = np.clip(orig * gain[:, None] + dub[:, None], -1.0, 1.0)
    ctx.progress(0.6, "writing the dubbed video")
    if ctx.preview_seconds:
        wav = ctx.path("preview_audio.wav")
        audio.write(wav, out, sr, subtype="PCM_16")
        media.mux(ctx.input, wav, ctx.job_dir / "preview.mp4", seconds=n / sr)
        return {"preview_seconds": n / sr, "lines": len(voiced)}
    wav = ctx.job_dir / "dubbed_audio.wav"
    audio.write(wav, out, sr, subtype="PCM_16")
    media.mux(ctx.input, wav, ctx.job_dir / "dubbed.mp4")
    return {"lines": len(voiced), "mix_mode": s.mix_mode, "duck_db": s.duck_db}
