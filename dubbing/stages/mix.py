"""Stage 9: dubbed speech over the original track, then muxed with the untouched video.

In `duck` mode the original (music, ambience, the original voice) stays, lowered
under the dubbed speech: the duck follows the dub (and the original lines' slots)
with a short attack before speech and a slow release after it, held through short
pauses so the background does not pump. `replace` drops the original track except
where a line is muted.

Level: in `duck` mode the mix is brought to the original's integrated loudness (BS.1770)
when it is more than NORMALISE_DEADBAND_LU away, then a true-peak limiter keeps it at or
below PEAK_CEILING_DB. Nothing is hard-clipped. The limiter and the duck act only
near a line, so after an edit the audio away from the changed lines stays identical.
"""
from __future__ import annotations

import numpy as np

from .. import audio, media
from ..models import MIX_REPLACE, stable_hash
from .context import Context

RAMP_S = 0.08  # fade of the original in and out around a muted line (replace mode)
FRAME_S = 0.01
ATTACK_S = 0.08  # the background goes down this long before dubbed speech starts
RELEASE_S = 0.35  # and comes back up over this long after it ends
HOLD_S = 0.4  # pauses in the dub shorter than this keep the background down
SPEECH_FLOOR_DB = -50.0  # a dub frame louder than this (dBFS RMS) counts as speech
# The WAV is limited below the -1 dBTP target so that AAC encoding, which adds a little
# overshoot between samples, keeps the MP4 at or below -1 dBTP too.
PEAK_CEILING_DB = -1.5
NORMALISE_DEADBAND_LU = 1.0
MIX_VERSION = 2
LEVEL_KEYS = ("loudness_original_lufs", "loudness_dubbed_lufs", "loudness_difference_lu", "normalise_gain_db",
              "true_peak_before_limiter_dbtp", "true_peak_dbtp", "clipped_samples")


def _voiced(ctx: Context):
    doc = ctx.load_doc()
    return doc, [u for u in doc.utterances if u.clip and not u.muted and u.translated_text.strip()
                 and (not ctx.preview_seconds or u.start < ctx.preview_seconds)]


def key(ctx: Context) -> str:
    s = ctx.settings
    doc, voiced = _voiced(ctx)
    muted = [(u.start, u.end) for u in doc.utterances if u.muted]
    return stable_hash("mix", MIX_VERSION, ctx.stored_key("probe"), [(u.clip, u.start, u.end) for u in voiced],
                       muted, s.mix_mode, s.duck_db, ctx.preview_seconds)


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


def fill_gaps(active: np.ndarray, shorter_than: int) -> np.ndarray:
    """`active` with its inner runs of False shorter than `shorter_than` made True: a morphological
    closing by a segment of that length, as scipy.ndimage's binary_closing of the mask padded at
    both ends gave (without its 0.3 s import)."""
    on = np.flatnonzero(active)
    if len(on) < 2:
        return active
    gaps = np.diff(on) - 1
    out = active.copy()
    for i in np.flatnonzero((gaps > 0) & (gaps < shorter_than)):
        out[on[i] + 1:on[i + 1]] = True
    return out


def duck_gain(dub: np.ndarray, sr: int, slots: list[tuple[float, float]], duck_db: float) -> np.ndarray:
    """Per-sample gain for the original: `duck_db` while dubbed speech sounds (or an original line
    it replaces runs), reached ATTACK_S before it, released over RELEASE_S after it."""
    hop = max(1, int(FRAME_S * sr))
    nf = -(-len(dub) // hop)
    # Mean square per frame (the last one padded with silence), without a padded or float64 copy
    # of the track (115 and 230 MB at 10 minutes).
    full = len(dub) // hop
    frames = dub[: full * hop].reshape(full, hop)
    energy = np.einsum("ij,ij->i", frames, frames)
    if nf > full:
        tail = dub[full * hop:]
        energy = np.append(energy, np.dot(tail, tail))
    active = np.sqrt(energy / hop) > audio.db_to_gain(SPEECH_FLOOR_DB)
    for start, end in slots:
        active[max(0, int(start / FRAME_S)):max(0, int(np.ceil(end / FRAME_S)))] = True
    hold = max(1, int(HOLD_S / FRAME_S))
    active = fill_gaps(active, hold)
    # One frame early: gains are interpolated between frame centres, and must be down at the onset.
    active[:-1] |= active[1:]
    target = np.where(active, duck_db, 0.0)
    rise, fall = -duck_db * FRAME_S / RELEASE_S, -duck_db * FRAME_S / ATTACK_S
    # Release: the gain may drop at once but rises at most `rise` per frame, i.e.
    # g[i] = min over j <= i of target[j] + rise * (i - j): a running minimum, without a Python loop
    # (the loops took 1.9 s on a 10-minute track).
    idx = np.arange(nf)
    g = np.minimum.accumulate(target - rise * idx) + rise * idx
    # Attack, looking ahead: already down when speech starts; the same from the other end.
    g = np.minimum.accumulate((g + fall * idx)[::-1])[::-1] - fall * idx
    return frames_to_samples(10.0 ** (g / 20.0), hop, len(dub))


def frames_to_samples(values: np.ndarray, hop: int, n: int) -> np.ndarray:
    """Per-frame values interpolated linearly between frame centres to `n` samples (float32), as
    np.interp over the sample indices would give, without its float64 index and output arrays
    (460 MB and 1.6 s on a 10-minute track)."""
    v = values.astype(np.float32)
    forward = np.append(np.diff(v), np.float32(0.0))  # past the last centre the value holds
    backward = np.insert(np.diff(v), 0, np.float32(0.0))  # before the first centre too
    offset = np.arange(hop, dtype=np.float32) / np.float32(hop) - np.float32(0.5)  # from the frame's centre
    half = int(np.searchsorted(offset, 0.0))
    out = np.empty((len(v), hop), np.float32)
    # A block of frames at a time: the products are temporaries as large as what they fill
    # (0.6 GB an hour, the peak of the mix).
    for a in range(0, len(v), 1 << 16):
        b = a + (1 << 16)
        out[a:b, :half] = v[a:b, None] + offset[None, :half] * backward[a:b, None]
        out[a:b, half:] = v[a:b, None] + offset[None, half:] * forward[a:b, None]
    return out.reshape(-1)[:n]


def dub_track(ctx: Context, voiced, n: int, sr: int) -> np.ndarray:
    """The dubbed lines at their places. Where lines overlap (two speakers starting together)
    each is lowered by 1/sqrt(count) so the sum keeps the level of one voice."""
    dub = np.zeros(n, dtype=np.float32)
    count = np.zeros(n, dtype=np.uint8)  # a quarter of a float32 track (160 MB an hour at 44.1 kHz)
    for u in voiced:
        clip, _ = audio.read(ctx.work / u.clip, mono=True)
        a = int(round(u.start * sr))
        b = min(n, a + len(clip))
        if b > a:
            dub[a:b] += clip[: b - a]
            count[a:b] += 1
    over = count > 1  # in place, only where lines overlap: no new copy of the whole track
    dub[over] /= np.sqrt(count[over].astype(np.float32))
    return dub


def master(mix: np.ndarray, target: float, sr: int, *, normalise: bool = True,
           previous_gain_db: float | None = None) -> tuple[np.ndarray, dict]:
    """The mix at the original's loudness `target` (LUFS; outside a small deadband) and under the
    peak ceiling. `mix` (float32) may be changed in place.

    The gain of the last render is kept while it still lands within the deadband: a re-render after
    an edit then leaves the audio away from the edited lines identical, sample for sample.
    """
    before = audio.loudness(mix, sr)
    gain_db = 0.0
    if normalise and target > audio.SILENCE_LUFS and before > audio.SILENCE_LUFS:
        if previous_gain_db is not None and abs(target - before - previous_gain_db) <= NORMALISE_DEADBAND_LU:
            gain_db = previous_gain_db
        elif abs(target - before) > NORMALISE_DEADBAND_LU:
            gain_db = round(target - before, 2)  # as report.json keeps it, so that the next render can reuse it
    if gain_db:
        mix *= np.float32(audio.db_to_gain(gain_db))  # in place: the mix is ours, and 230 MB a copy at 10 min
    out, peak_before, peak_after = audio.limit_measured(mix, sr, PEAK_CEILING_DB, in_place=True)
    # Untouched by gain and limiter, the mix is what was measured (a loudness pass is 0.14 s a minute).
    after = before if not gain_db and peak_before <= audio.db_to_gain(PEAK_CEILING_DB) else audio.loudness(out, sr)
    values = (round(target, 2), round(after, 2), round(after - target, 2), round(gain_db, 2),
              round(audio.gain_to_db(peak_before), 2), round(audio.gain_to_db(peak_after), 2),
              int(np.count_nonzero(np.abs(out) >= 1.0)))
    return out, dict(zip(LEVEL_KEYS, values))


def run(ctx: Context) -> dict:
    s = ctx.settings
    doc, voiced = _voiced(ctx)
    orig, sr = audio.read(ctx.path("audio_orig.wav"))
    n = len(orig)
    if ctx.preview_seconds:
        n = min(n, int(ctx.preview_seconds * sr))
        orig = orig[:n]
    dub = dub_track(ctx, voiced, n, sr)
    if s.mix_mode == MIX_REPLACE:
        muted = [(u.start, u.end) for u in doc.utterances if u.muted]
        gain = 1.0 - envelope(n, sr, muted, 0.0, 1.0)  # original only where a line is muted
    else:
        gain = duck_gain(dub, sr, [(u.start, u.end) for u in voiced], s.duck_db)
    ctx.progress(0.3, "levelling loudness and peaks")
    # In `replace` mode the original's loudness counts its music and ambience, which the mix no longer
    # has: the lines already carry the original speech's loudness, so the level is left as it is.
    last = ctx.stage_detail("mix")
    previous = last.get("normalise_gain_db")
    # The original's loudness, kept from the last render while the original is the same track (it is
    # re-made only when the probe stage is): one loudness pass less for each update after an edit.
    original = {"probe": ctx.stored_key("probe"), "samples": n}
    kept = last.get("original_track", {})
    target = kept["lufs"] if {k: kept.get(k) for k in original} == original else audio.loudness(orig, sr)
    original["lufs"] = target
    # In place: the original is ours, and a mixed copy was the peak of an hour's mix (2.9 GB).
    mixed = orig
    mixed *= gain[:, None]
    mixed += dub[:, None]
    del gain, dub, orig
    out, level = master(mixed, target, sr, normalise=s.mix_mode != MIX_REPLACE, previous_gain_db=previous)
    del mixed
    ctx.progress(0.6, "writing the dubbed video")
    if ctx.preview_seconds:
        wav = ctx.path("preview_audio.wav")
        audio.write(wav, out, sr, subtype="PCM_16")
        media.mux(ctx.input, wav, ctx.job_dir / "preview.mp4", seconds=n / sr)
        return {"preview_seconds": n / sr, "lines": len(voiced), **level, "original_track": original}
    wav = ctx.job_dir / "dubbed_audio.wav"
    audio.write(wav, out, sr, subtype="PCM_16")
    media.mux(ctx.input, wav, ctx.job_dir / "dubbed.mp4")
    return {"lines": len(voiced), "mix_mode": s.mix_mode, "duck_db": s.duck_db, **level, "original_track": original}
