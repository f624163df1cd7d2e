"""Turning speaker turns and timed words into utterances.

No utterance spans two speakers; long turns are split at sentence ends, then at
pauses, so that each utterance is at most MAX_SECONDS long.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_SECONDS = 15.0
PAUSE_SPLIT_S = 1.0  # a silence this long always starts a new utterance
SENTENCE_MIN_S = 1.5  # split at a sentence end once the utterance is this long
SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass
class TimedWord:
    start: float
    end: float
    text: str
    speaker: str = ""


def speaker_at(start: float, end: float, turns: list[tuple[float, float, str]]) -> str:
    """The speaker whose turns overlap [start, end] most; the nearest turn when none overlaps."""
    best, best_overlap = None, 0.0
    for t0, t1, spk in turns:
        overlap = min(end, t1) - max(start, t0)
        if overlap > best_overlap:
            best, best_overlap = spk, overlap
    if best is not None:
        return best
    mid = (start + end) / 2
    return min(turns, key=lambda t: min(abs(mid - t[0]), abs(mid - t[1])))[2]


def words_from_segments(segments: list[dict]) -> list[TimedWord]:
    """Word timestamps, or whole segments where the engine gave no words."""
    out = []
    for seg in segments:
        words = seg.get("words") or []
        if words:
            out += [TimedWord(w["start"], w["end"], w["text"]) for w in words if w["text"].strip()]
        elif seg["text"].strip():
            out.append(TimedWord(seg["start"], seg["end"], " " + seg["text"].strip()))
    return out


def build(words: list[TimedWord], turns: list[tuple[float, float, str]]) -> list[tuple[float, float, str, str]]:
    """(start, end, speaker, text) utterances."""
    if not words:
        return []
    for w in words:
        w.speaker = speaker_at(w.start, w.end, turns) if turns else "SPEAKER_00"
    groups: list[list[TimedWord]] = [[words[0]]]
    for prev, w in zip(words, words[1:]):
        cur = groups[-1]
        length = prev.end - cur[0].start
        if (w.speaker != prev.speaker or w.start - prev.end >= PAUSE_SPLIT_S
                or (prev.text.strip().endswith(SENTENCE_END) and length >= SENTENCE_MIN_S)):
            groups.append([w])
        else:
            cur.append(w)
    groups = [g for group in groups for g in _split_long(group)]
    return [(round(g[0].start, 3), round(g[-1].end, 3), g[0].speaker, "".join(w.text for w in g).strip())
            for g in groups]


def _split_long(group: list[TimedWord]) -> list[list[TimedWord]]:
    """Split a group longer than MAX_SECONDS at its longest pause (recursively)."""
    if len(group) < 2 or group[-1].end - group[0].start <= MAX_SECONDS:
        return [group]
    gaps = [(group[i + 1].start - group[i].end, i) for i in range(len(group) - 1)]
    _, i = max(gaps)
    return _split_long(group[: i + 1]) + _split_long(group[i + 1:])
