"""Audio arrays: read, write atomically, resample, measure loudness."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .fsutil import atomic_output


def read(path: Path, *, mono: bool = False, span: tuple[float, float] | None = None) -> tuple[np.ndarray, int]:
    """float32 samples (frames, channels) or (frames,) when mono, and the sample rate; only the
    seconds in `span` when given (a line's original, without holding the whole track)."""
    with sf.SoundFile(str(path)) as f:
        sr = f.samplerate
        if span is None:
            data = f.read(dtype="float32", always_2d=True)
        else:
            start = min(int(span[0] * sr), f.frames)
            f.seek(start)
            data = f.read(max(0, min(int(span[1] * sr), f.frames) - start), dtype="float32", always_2d=True)
    if mono:
        data = data.mean(axis=1)
    return data, sr


def samplerate(path: Path) -> int:
    return sf.info(str(path)).samplerate


def write(path: Path, data: np.ndarray, sr: int, *, subtype: str = "FLOAT") -> None:
    with atomic_output(path) as tmp:
        sf.write(str(tmp), data, sr, subtype=subtype, format="WAV")


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    if sr_from == sr_to:
        return x.astype(np.float32, copy=False)
    import soxr
    return soxr.resample(x, sr_from, sr_to).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


# --- loudness (ITU-R BS.1770) and true peak ---------------------------------
SILENCE_LUFS = -70.0  # BS.1770's absolute gate: anything quieter counts as silence
GATE_BLOCK_S = 0.4  # BS.1770 measures in 400 ms blocks


def loudness(x: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS (gated BS.1770-4, as pyloudnorm measures it); SILENCE_LUFS for silence.

    Measured a few seconds at a time, so memory stays small however long the track (pyloudnorm
    holds float64 copies of the whole track: 2 GB in the mix of a 10-minute video). A stretch
    shorter than one 400 ms block is measured repeated end to end, which keeps its power: a
    short line has a loudness like any other, instead of none.
    """
    if x.size == 0:
        return SILENCE_LUFS
    if x.ndim > 1 and x.shape[1] > 5:
        # BS.1770 weighs at most 5 channels: a 5.1 (or wider) track is measured channel by channel
        # and the powers summed (the LFE, the 4th of 5.1, does not count).
        channels = [c for c in range(x.shape[1]) if not (x.shape[1] == 6 and c == 3)]
        power = sum(10 ** (loudness(x[:, c], sr) / 10) for c in channels)
        return max(SILENCE_LUFS, float(10 * np.log10(power))) if power > 0 else SILENCE_LUFS
    need = int(GATE_BLOCK_S * sr) + 1
    if len(x) < need:
        x = np.concatenate([x] * (need // len(x) + 1))
    energy = _block_energy(x if x.ndim == 2 else x[:, None], sr)  # (blocks, channels)
    weights = np.array([1.0, 1.0, 1.0, 1.41, 1.41])[: energy.shape[1]]
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(energy @ weights)
        above = block_lufs >= SILENCE_LUFS
        if not above.any():
            return SILENCE_LUFS
        relative = -0.691 + 10 * np.log10(energy[above].mean(axis=0) @ weights) - 10.0
        gated = (block_lufs > relative) & above
        value = -0.691 + 10 * np.log10(energy[gated].mean(axis=0) @ weights) if gated.any() else -np.inf
    return float(value) if np.isfinite(value) and value > SILENCE_LUFS else SILENCE_LUFS


def _k_weighting():
    """BS.1770's K-weighting: the RBJ high shelf (+4 dB from 1500 Hz, Q 1/sqrt 2), then the RBJ second-order
    high pass at 38 Hz with Q 0.5, as pyloudnorm builds them. Pedalboard's shelf is the same cookbook
    formula, and a Q 0.5 high pass is exactly two first-order bilinear high passes (its HighpassFilter):
    the same filter as scipy's sosfilt to 1e-6, without importing scipy.signal, which takes 0.7-1.3 s
    (it parses every docstring), as long as a whole `update` after one edit otherwise."""
    import pedalboard
    return pedalboard.Pedalboard([pedalboard.HighShelfFilter(1500.0, 4.0, 1 / np.sqrt(2)),
                                  pedalboard.HighpassFilter(38.0), pedalboard.HighpassFilter(38.0)])


def _block_energy(x: np.ndarray, sr: int, chunk: int = 1 << 18) -> np.ndarray:
    """Mean square of the K-weighted signal in 400 ms blocks every 100 ms, per channel."""
    n, channels = x.shape
    blocks = int(np.round((n / sr - GATE_BLOCK_S) / (GATE_BLOCK_S * 0.25))) + 1
    edges = np.minimum((GATE_BLOCK_S * 0.25 * np.arange(blocks + 4) * sr).astype(np.int64), n)
    hops = np.zeros((blocks + 3, channels))
    weighting = _k_weighting()
    for s in range(0, n, chunk):
        # The filters keep their state from one chunk to the next (reset=False).
        y = weighting(np.ascontiguousarray(x[s:s + chunk].T, dtype=np.float32), float(sr), reset=False).T
        y = y.astype(np.float64)
        total = np.vstack([np.zeros((1, channels)), np.cumsum(y * y, axis=0)])
        lo, hi = np.clip(edges[:-1] - s, 0, len(y)), np.clip(edges[1:] - s, 0, len(y))
        hops += total[hi] - total[lo]
    return (hops[:blocks] + hops[1:blocks + 1] + hops[2:blocks + 2] + hops[3:blocks + 3]) / (GATE_BLOCK_S * sr)


OVERSAMPLE = 4


def _interpolators(up: int = OVERSAMPLE, half: int = 10) -> list[tuple[np.ndarray, int]]:
    """The polyphase parts of scipy's `resample_poly(x, up, 1)` filter (a Kaiser-windowed sinc,
    beta 5, `half` input samples each side): for each phase k, the taps and the offset that give the
    samples at m + k/up. Built here in numpy so that true peak needs no scipy.signal import."""
    n = np.arange(-half * up, half * up + 1)
    h = np.sinc(n / up) * np.kaiser(len(n), 5.0)
    h *= up / h.sum()
    phases = []
    for k in range(up):
        js = [j for j in range(-half, half + 1) if abs(up * j + k) <= half * up]
        phases.append((np.array([h[up * j + k + half * up] for j in js], np.float32), -js[0]))
    return phases


def _oversampled_peak(chans: np.ndarray) -> np.ndarray:
    """Per input sample, the largest absolute value at it and at the `OVERSAMPLE - 1` points after it,
    over all channels (what resample_poly, |.| and a max over each group gave, to 1e-6)."""
    n = len(chans)
    env = np.zeros(n, np.float32)
    for taps, offset in _INTERPOLATORS:
        for c in range(chans.shape[1]):
            np.maximum(env, np.abs(np.convolve(chans[:, c], taps)[offset:offset + n]), out=env)
    return env


_INTERPOLATORS = _interpolators()


def peak_envelope(x: np.ndarray, *, above: float = 0.0, block: int = 1 << 15) -> np.ndarray:
    """Per sample, the largest absolute value over all channels, between samples too (oversampled).

    Only blocks whose samples reach `above` are oversampled (elsewhere the sample values stand):
    peaks between samples of real audio exceed the samples by far less than 6 dB, so a caller that
    cares about peaks over P may pass P / 2. Blocks (with a margin for the filter) keep memory small.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .engines._util import cpu_threads
    chans = x if x.ndim == 2 else x[:, None]
    n, pad = len(chans), 64
    out = np.empty(n, np.float32)
    for start in range(0, n, block):  # block by block: no copy of the whole track
        out[start:start + block] = np.abs(chans[start:start + block]).max(axis=1)

    def oversample(start: int) -> None:
        end = min(n, start + block)
        a, b = max(0, start - pad), min(n, end + pad)
        env = _oversampled_peak(np.asarray(chans[a:b], dtype=np.float32))
        out[start:end] = np.maximum(out[start:end], env[start - a: end - a])

    loud = [start for start in range(0, n, block) if out[start:start + block].max(initial=0.0) >= above]
    # The blocks are independent and numpy's convolution lets go of the GIL: on two cores two threads
    # took 1.7 s where one took 2.8 on five minutes of stereo (the limiter of a 10-minute mix, twice).
    with ThreadPoolExecutor(max_workers=max(1, min(cpu_threads(), len(loud)))) as pool:
        list(pool.map(oversample, loud))
    return out


def true_peak(x: np.ndarray) -> float:
    """Largest absolute value of the signal, between its samples too (4x oversampled), linear."""
    top = float(np.max(np.abs(x), initial=0.0))
    return float(np.max(peak_envelope(x, above=top / 2), initial=0.0))


def gain_to_db(g: float) -> float:
    return float(20.0 * np.log10(max(g, 1e-10)))


def limit(x: np.ndarray, sr: int, ceiling_db: float = -1.0, window_s: float = 0.05) -> np.ndarray:
    """True-peak limiter: a smooth gain that dips only around peaks so that the true peak stays at or
    below `ceiling_db`. Never clips; farther than `window_s` from a peak the signal is untouched."""
    return limit_measured(x, sr, ceiling_db, window_s)[0]


def limit_measured(x: np.ndarray, sr: int, ceiling_db: float = -1.0, window_s: float = 0.05, *,
                   in_place: bool = False) -> tuple[np.ndarray, float, float]:
    """`limit`, and the true peak before and after it (linear): the limiter measures both on its way,
    and measuring them again took a quarter of the mix stage. `in_place` lets it change a float32 `x`."""
    ceiling = db_to_gain(ceiling_db)
    out = np.asarray(x, dtype=np.float32)
    hold = max(3, int(window_s * sr)) | 1
    before = None
    for _ in range(4):  # a gain change can itself add a hair of overshoot between samples: re-check
        top = max(float(out.max(initial=0.0)), -float(out.min(initial=0.0)))  # no |out| copy of the track
        # Blocks under half of min(ceiling, top) can hold neither a peak over the ceiling nor the
        # true peak: the envelope's maximum is the true peak, as `true_peak` measures it.
        peak = peak_envelope(out, above=min(ceiling, top) / 2)
        highest = float(np.max(peak, initial=0.0))
        before = highest if before is None else before
        if highest <= ceiling:
            return out, before, highest
        # The gain each sample needs, computed in the envelope's own array (memory: two arrays of
        # the track's length here, not five; 1.1 GB at the peak of a 10-minute mix before).
        need = np.maximum(peak, np.float32(1e-9), out=peak)
        np.divide(np.float32(ceiling * 0.98), need, out=need)
        np.minimum(need, np.float32(1.0), out=need)
        # Hold the lowest gain over the window, then smooth over half of it: the smoothed gain is
        # never above what any peak needs, and it moves without steps.
        held = _in_blocks(running_min, need, hold)
        gain = _in_blocks(moving_mean, held, hold // 2 | 1, out=need)
        if in_place and out.dtype == np.float32:
            out *= gain if out.ndim == 1 else gain[:, None]
        else:
            out = out * (gain if out.ndim == 1 else gain[:, None])
        # Gone before the next round's envelope: with them it held four tracks' worth (2.5 GB an hour).
        del peak, need, held, gain
    return out, before, true_peak(out)


def _in_blocks(filt, x: np.ndarray, size: int, *, out: np.ndarray | None = None, block: int = 1 << 20) -> np.ndarray:
    """A centred 1-D filter of odd `size` applied a block at a time, with margins, so the result is the
    same as on the whole array, and no float64 copy of the whole track is made (230 MB at 10 minutes)."""
    out = np.empty_like(x) if out is None else out
    margin = size // 2 + 1
    for s in range(0, len(x), block):
        a, b = max(0, s - margin), min(len(x), s + block + margin)
        e = min(len(x), s + block)
        out[s:e] = filt(x[a:b], size)[s - a:e - a]
    return out


def running_min(x: np.ndarray, size: int) -> np.ndarray:
    """The minimum over a centred window of odd `size` (the ends repeated beyond the edges), in O(n):
    the minimum of a block's suffix and the next block's prefix (van Herk / Gil-Werman). Same as
    scipy.ndimage.minimum_filter1d, whose import (0.3 s) was most of fitting one line after an edit."""
    half, n = size // 2, len(x)
    y = np.pad(np.asarray(x, dtype=np.float32), half, mode="edge")
    blocks = -(-len(y) // size)
    z = np.pad(y, (0, blocks * size - len(y)), constant_values=np.inf).reshape(blocks, size)
    prefix = np.minimum.accumulate(z, axis=1).ravel()
    suffix = np.minimum.accumulate(z[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:n], prefix[size - 1:size - 1 + n])


def moving_mean(x: np.ndarray, size: int) -> np.ndarray:
    """The mean over a centred window of odd `size`, mirrored at the edges (scipy.ndimage's
    uniform_filter1d in its default mode), summed in float64."""
    half, n = size // 2, len(x)
    total = np.concatenate([[0.0], np.cumsum(np.pad(x, half, mode="symmetric"), dtype=np.float64)])
    return ((total[size:size + n] - total[:n]) / size).astype(np.float32)


def stretch(x: np.ndarray, sr: int, speed: float) -> np.ndarray:
    """Mono speech `speed` times as fast (< 1 slows it down), pitch kept: Rubber Band in memory (pedalboard).

    Measured on eSpeak Spanish, faster-whisper read-back WER at 1.3x: Rubber Band 0.31, ffmpeg atempo 0.46,
    WSOLA (audiotsm) 0.76; at 0.9x 0.29 / 0.38 / 0.49; and 7x faster than atempo through temp WAVs.
    """
    if abs(speed - 1.0) < 1e-3 or x.size == 0:
        return x.astype(np.float32, copy=False)
    import pedalboard
    return pedalboard.time_stretch(x[None, :].astype(np.float32), float(sr), float(speed))[0]


def lengthen_pauses(x: np.ndarray, sr: int, extra_s: float, *, min_pause_s: float = 0.08,
                    max_factor: float = 3.0, floor_db: float = -35.0) -> np.ndarray:
    """Speech with its inner pauses (at commas, between sentences) lengthened by up to `extra_s` in
    all, each pause at most `max_factor` times as long: the words themselves are not slowed."""
    hop = max(1, int(0.01 * sr))
    n = len(x) // hop
    if extra_s <= 0 or n < 3:
        return x
    level = np.sqrt(np.mean(np.square(x[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))
    quiet = level < np.max(level) * db_to_gain(floor_db)
    runs, i = [], 0
    while i < n:
        if quiet[i]:
            j = i
            while j < n and quiet[j]:
                j += 1
            if i > 0 and j < n and (j - i) * hop >= min_pause_s * sr:  # inner pauses only
                runs.append((i * hop, j * hop))
            i = j
        else:
            i += 1
    total = sum(b - a for a, b in runs)
    if not total:
        return x
    parts, last = [], 0
    for a, b in runs:
        grow = int(min(extra_s * sr * (b - a) / total, (b - a) * (max_factor - 1)))
        mid = (a + b) // 2
        parts += [x[last:mid], np.zeros(grow, dtype=np.float32)]
        last = mid
    parts.append(x[last:])
    return np.concatenate(parts).astype(np.float32)
