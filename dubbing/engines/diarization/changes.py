"""Speaker changes with no pause between them, placed where the voice changes.

The sliding windows (1.5 s, 0.5 s apart) put a change that no pause marks up to half a second off,
on their grid: a quick reply's line began over the last 0.3-0.5 s of the speaker before, whose
last word Whisper then heard in the reply's window. Each such change moves, by at most MOVE_S, to
the frame where ECAPA's frame features pooled over the LISTEN_S before it are most like the left
speaker's voice and over the LISTEN_S after it most like the right's (one pass of the network over
the stretch, then a pooling per candidate frame).

Measured on the 96 conversations with short replies of `tests/conversations.digit_replies_conversation`,
diarized alone: of their 170 changes that no pause marks, those at a true change with no pause (61) were
0.268 s from it on average before, 0.183 s after (over 0.2 s off: 29 -> 12); at true pauses under 0.2 s
(55), 0.172 -> 0.084 s (22 -> 6); under 0.5 s (44), 0.139 -> 0.032 s (11 -> 1). Changes at a pause a
listener hears (a gap between `tight` regions within PAUSE_NEAR_S) stay: moving those too, in a first
trial, put some off their pauses and cost three times as much.
"""
from __future__ import annotations

import numpy as np

from .strangers import unit_rows

LISTEN_S = 0.8  # the voice heard on each side of a candidate change
MOVE_S = 0.5
PAUSE_NEAR_S = 0.1
# A change moves only where that raises its score (four cosine differences, see `best_frame`) by this
# much. On 170 changes of the 96 conversations with replies, moves that raised it less came out better
# in 23 and worse in 21 (a coin toss); of those that raised it more, 76 better and 14 worse.
MIN_GAIN = 0.1
EDGE_S = 0.2  # a moved change leaves each of its two turns at least this much
ECAPA_FPS = 100  # ecapa.EcapaEncoder.frames


def quick_changes(frame: np.ndarray, tight: list[tuple[float, float]], fps: int) -> list[int]:
    """The frames where one speaker's label follows another's with no pause a listener hears near."""
    gaps = [(a[1], b[0]) for a, b in zip(tight, tight[1:])]
    out = []
    for i in np.flatnonzero((frame[1:] != frame[:-1]) & (frame[1:] >= 0) & (frame[:-1] >= 0)) + 1:
        t = i / fps
        if not any(g0 < t + PAUSE_NEAR_S and g1 > t - PAUSE_NEAR_S for g0, g1 in gaps):
            out.append(int(i))
    return out


def _run(frame: np.ndarray, i: int, step: int) -> int:
    """The frame where the run of frame[i]'s label that holds i ends (step 1) or begins (step -1)."""
    j = i
    while 0 <= j + step < len(frame) and frame[j + step] == frame[i]:
        j += step
    return j


def best_frame(encoder, audio: np.ndarray, sr: int, frame: np.ndarray, i: int, centres: dict[int, np.ndarray],
               fps: int) -> int:
    """Where the change at frame `i` (from frame[i - 1]'s speaker to frame[i]'s) is likeliest."""
    left, right = int(frame[i - 1]), int(frame[i])
    first, last = _run(frame, i - 1, -1), _run(frame, i, 1)
    edge, move = int(round(EDGE_S * fps)), int(round(MOVE_S * fps))
    candidates = np.arange(max(i - move, first + edge), min(i + move, last + 1 - edge) + 1)
    if len(candidates) < 2 or i not in candidates:  # a turn too short to be placed anew
        return i
    listen = int(round(LISTEN_S * fps))
    start, end = max(first, candidates[0] - listen) / fps, min(last + 1, candidates[-1] + listen) / fps
    x = encoder.frames(audio[int(start * sr):int(end * sr)][None].astype(np.float32))
    projected = encoder.attention.project(x)

    def heard(a: int, b: int) -> np.ndarray:  # label frames a..b, as the ECAPA frames of the pass
        lo = max(0, int(round((a / fps - start) * ECAPA_FPS)))
        hi = min(x.shape[1], int(round((b / fps - start) * ECAPA_FPS)))
        return unit_rows(encoder.pool(x[:, lo:hi], projected[:, lo:hi]))[0]

    scores = []
    for c in candidates:
        before, after = heard(c - listen, c), heard(c, c + listen)
        scores.append(before @ centres[left] - before @ centres[right] + after @ centres[right] - after @ centres[left])
    best = int(np.argmax(scores))
    return int(candidates[best]) if scores[best] - scores[int(i - candidates[0])] >= MIN_GAIN else i


def moved(frame: np.ndarray, moves: np.ndarray | None) -> np.ndarray:
    """`frame` with each stored move (change frame, new frame) made where that change still is, between
    the same two runs: a re-detection with another count keeps the moves of the changes it kept."""
    if moves is None or not len(moves):
        return frame
    out = frame.copy()
    for i, j in np.asarray(moves, dtype=int).reshape(-1, 2):
        if not 0 < i < len(out) or out[i - 1] == out[i] or min(out[i - 1], out[i]) < 0:
            continue
        span = out[j:i] if j < i else out[i:j]
        if j < i and (span == out[i - 1]).all():
            out[j:i] = out[i]
        elif j > i and (span == out[i]).all():
            out[i:j] = out[i - 1]
    return out
