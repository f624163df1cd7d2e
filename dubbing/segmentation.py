"""The structure of a conversation: transcription windows from speaker turns, and lines from timed words.

Whisper's word times swallow pauses (a new turn's first word starts where the last
speaker stopped), so words are first fitted into the regions where the voice detector
heard speech. Lines then break where people change, where the language changes, at
pauses (0.5 s by default, a setting), and at sentence ends; no line spans two speakers,
none is shorter than MIN_LINE_S or longer than MAX_SECONDS.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .engines.base import Piece

MAX_SECONDS = 15.0
PAUSE_SPLIT_S = 0.5  # default: a silence this long starts a new line (DubSettings.pause_split)
SENTENCE_MIN_S = 1.5  # split at a sentence end once the line is this long
MIN_LINE_S = 0.3
WORDLESS_MAX_S = 1.5  # a line takes at most this much wordless speech next to it, each side
# ... and only speech its speaker's turns hold almost all of: the diarization puts a turn change up
# to half a second off, and the other person's last syllable sits right there (quick replies).
WORDLESS_OWN_SHARE = 0.8
FAR_FROM_SPEECH_S = 0.5  # a word this far from any detected speech was not said: it is dropped
SENTENCE_END = (".", "?", "!", "。", "？", "！")
WINDOW_S = 28.0  # a transcription window holds at most this much (Whisper hears 30 s)
PIECE_PAD_S = 0.15

Turns = list[tuple[float, float, str]]
Regions = list[tuple[float, float]]


@dataclass
class TimedWord:
    start: float
    end: float
    text: str
    speaker: str = ""
    language: str = ""
    probability: float = 1.0


@dataclass
class Line:
    start: float
    end: float
    speaker: str
    language: str
    words: list[TimedWord] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()


def speaker_at(start: float, end: float, turns: Turns) -> str:
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


# --- transcription windows ----------------------------------------------------------

def plan_windows(turns: Turns, duration: float) -> list[tuple[str, list[Piece]]]:
    """Each speaker's turns, slightly padded, packed in time order into windows of at most WINDOW_S.

    One window holds one person, so its detected language is that person's, and a window
    costs one encoder pass however many short turns it holds.
    """
    turns = sorted(turns)
    pieces: list[tuple[str, Piece]] = []
    for i, (start, end, spk) in enumerate(turns):
        lo = max(0.0, start - PIECE_PAD_S)
        hi = min(duration, end + PIECE_PAD_S)
        # Padding never reaches into another speaker's turn.
        if i and turns[i - 1][2] != spk:
            lo = max(lo, min(start, (turns[i - 1][1] + start) / 2))
        if i + 1 < len(turns) and turns[i + 1][2] != spk:
            hi = min(hi, max(end, (end + turns[i + 1][0]) / 2))
        while hi - lo > WINDOW_S:
            pieces.append((spk, Piece(round(lo, 3), round(lo + WINDOW_S, 3))))
            lo += WINDOW_S
        pieces.append((spk, Piece(round(lo, 3), round(hi, 3))))
    windows: dict[str, list[list[Piece]]] = {}
    for spk, p in pieces:
        own = windows.setdefault(spk, [[]])
        used = sum(q.end - q.start + 0.4 for q in own[-1])
        if own[-1] and used + (p.end - p.start) > WINDOW_S:
            own.append([])
        own[-1].append(p)
    out = [(spk, w) for spk, ws in windows.items() for w in ws if w]
    return sorted(out, key=lambda item: item[1][0].start)


# --- words ----------------------------------------------------------------------------

def words_from_transcript(transcript: dict) -> list[TimedWord]:
    """Timed words of transcript.json, in time order (or whole segments where an engine gave no words).

    A decoding loop inside one word is cut back to what it repeats, and a word that two windows
    both heard (a retried stretch that overlaps its window) is kept once. A segment without words
    where words were heard is dropped: Whisper could not place its words (one such segment spread
    a five-character phrase over 6.4 s of a packed window), and the speech there was heard again
    on its own (transcribe._retry_missed counts only words as heard).
    """
    out, wordless = [], []
    for seg in transcript.get("segments", []):
        lang, prob = seg.get("language", transcript.get("language", "")), seg.get("language_probability", 1.0)
        words = seg.get("words") or []
        if words:
            out += [TimedWord(w["start"], w["end"], unloop(w["text"], w["end"] - w["start"]), language=lang,
                              probability=prob) for w in words if w["text"].strip()]
        elif seg["text"].strip():
            wordless.append(TimedWord(seg["start"], seg["end"], " " + unloop(seg["text"].strip(), seg["end"] - seg["start"]),
                                      language=lang, probability=prob))
    out += [w for w in wordless if not any(min(w.end, x.end) > max(w.start, x.start) for x in out)]
    return _once(sorted(out, key=lambda w: (w.start, w.end)))


MAX_CHARS_PER_S = 25.0  # faster than anyone speaks (about 15 letters a second in fast English)
_LOOP = re.compile(r"(.{1,40}?)(?:[\s,、，]*\1){2,}", re.S)


def unloop(text: str, seconds: float) -> str:
    """`text` with a decoding loop ("扎自己的腳扎自己的腳扎自己的腳...", 65 characters in 1.2 s) cut to
    one round. Only where the text is too fast to have been said: "no, no, no" in a second stays."""
    if len(text.strip()) <= MAX_CHARS_PER_S * max(seconds, 0.1):
        return text
    return _LOOP.sub(lambda m: m.group(1) if len(m.group(0)) >= 10 else m.group(0), text)  # "Zzz" stays


def _once(words: list[TimedWord]) -> list[TimedWord]:
    """Words in time order without repeats: the same text over mostly the same time is one word."""
    out: list[TimedWord] = []
    for w in words:
        twin = next((o for o in reversed(out[-4:]) if o.text.strip() == w.text.strip()
                     and min(o.end, w.end) - max(o.start, w.start) > 0.5 * min(o.end - o.start, w.end - w.start)),
                    None)
        if twin is None:
            out.append(w)
    return out


def refine(words: list[TimedWord], regions: Regions, turns: Turns | None = None) -> list[TimedWord]:
    """Fit each word into the speech region that holds most of it (a word never spans a detected pause).

    With `turns`, a word spanning regions goes to one its own speaker speaks most in: a window
    that begins at a turn change early puts its first word there too ("unless" at 8.50-9.34 s, where
    the last speaker's region ran to 9.00 and the word's own began at 9.05).
    A word heard where the detector heard nothing moves to the nearest edge of speech, or is
    dropped when no speech is near (a decoding slip).
    Returns the words in time order.
    """
    if not regions:
        return words
    owners: list[str | None] = [None] * len(regions)
    for w in words:
        overlaps = [(min(w.end, r1) - max(w.start, r0), r0, r1) for r0, r1 in regions]
        best = max(overlaps)
        spanned = [i for i, o in enumerate(overlaps) if o[0] > 0]
        if turns and len(spanned) > 1:
            for i in spanned:
                owners[i] = owners[i] or speaker_at(*regions[i], turns)
            own = speaker_at(w.start, w.end, turns)
            best = max((overlaps[i] for i in spanned if owners[i] == own), default=best)
        mid = (w.start + w.end) / 2
        inside = next(((r0, r1) for r0, r1 in regions if r0 <= mid <= r1), None)
        if best[0] > 0:
            _, r0, r1 = best
            w.start, w.end = max(w.start, r0), min(w.end, r1)
        elif inside is None:  # heard in silence: the nearest region, if it is near
            r0, r1 = min(regions, key=lambda r: r[0] - w.end if r[0] >= w.end else w.start - r[1])
            if (r0 - w.end if r0 >= w.end else w.start - r1) > FAR_FROM_SPEECH_S:
                w.text = ""  # nothing was said there: a decoding slip, dropped below
                continue
            length = min(max(w.end - w.start, 0.02), r1 - r0)
            if r0 >= w.end:
                w.start, w.end = r0, r0 + length
            else:
                w.start, w.end = r1 - length, r1
        w.end = max(w.end, w.start + 0.02)
        w.start, w.end = round(w.start, 3), round(w.end, 3)
    words[:] = [w for w in words if w.text.strip()]
    # By start alone (a stable sort): words moved to one region's edge share their start, and sorted by
    # their ends too, "T'es l'autre." read "'es'autre. l T".
    words.sort(key=lambda w: w.start)
    return words


# --- lines ------------------------------------------------------------------------------

def build(words: list[TimedWord], turns: Turns, regions: Regions | None = None, *,
          pause_split: float = PAUSE_SPLIT_S, duration: float | None = None) -> list[Line]:
    """Lines from timed words: one speaker and one language each, broken at pauses and sentence ends."""
    if not words:
        return []
    regions = regions or []
    words = refine(words, regions, turns)
    for w in words:
        w.speaker = speaker_at(w.start, w.end, turns) if turns else "SPEAKER_00"
    groups: list[list[TimedWord]] = [[words[0]]]
    for prev, w in zip(words, words[1:]):
        cur = groups[-1]
        length = prev.end - cur[0].start
        if (w.speaker != prev.speaker or w.language != prev.language or _pause(prev, w, regions) >= pause_split
                or (prev.text.strip().endswith(SENTENCE_END) and length >= SENTENCE_MIN_S)):
            groups.append([w])
        else:
            cur.append(w)
    groups = [g for group in groups for g in _split_long(group)]
    lines = [Line(g[0].start, g[-1].end, g[0].speaker, g[0].language, g) for g in groups]
    lines = _merge_fragments(lines, pause_split)
    _snap_edges(lines, regions, duration)
    _take_wordless_speech(lines, regions, turns, pause_split)
    return _no_overlaps(lines)


def _pause(prev: TimedWord, w: TimedWord, regions: Regions) -> float:
    """The silence between two words as the voice detector heard it: the gap between their speech
    regions (none within one region), since Whisper ends words early and would invent pauses."""
    a, b = region_index(prev, regions), region_index(w, regions)
    if a is None or b is None:
        return w.start - prev.end
    return 0.0 if a == b else regions[b][0] - regions[a][1]


def region_index(w: TimedWord, regions: Regions) -> int | None:
    mid = (w.start + w.end) / 2
    return next((i for i, (r0, r1) in enumerate(regions) if r0 <= mid <= r1), None)


def _split_long(group: list[TimedWord]) -> list[list[TimedWord]]:
    """Split a group longer than MAX_SECONDS at its longest pause (recursively)."""
    if len(group) < 2 or group[-1].end - group[0].start <= MAX_SECONDS:
        return [group]
    gaps = [(group[i + 1].start - group[i].end, i) for i in range(len(group) - 1)]
    _, i = max(gaps)
    return _split_long(group[: i + 1]) + _split_long(group[i + 1:])


def _merge_fragments(lines: list[Line], pause_split: float) -> list[Line]:
    """A line shorter than MIN_LINE_S joins a same-speaker neighbour it nearly touches."""
    out: list[Line] = []
    for line in lines:
        prev = out[-1] if out else None
        if (prev and prev.speaker == line.speaker and prev.language == line.language
                and (line.end - line.start < MIN_LINE_S or prev.end - prev.start < MIN_LINE_S)
                and line.start - prev.end < pause_split):
            prev.words += line.words
            prev.end = line.end
            continue
        out.append(line)
    return out


def _snap_edges(lines: list[Line], regions: Regions, duration: float | None) -> None:
    """Lines take the whole of their speech: a line's edge moves to the edge of its speech region when
    no other line has words in that region. Every line is at least MIN_LINE_S long.

    Whisper ends words early (about 0.25 s on real conversations, 0.4 s at the end of the selfie's
    first sentence), and the dubbed speech is fitted to the line.
    """
    for i, line in enumerate(lines):
        lo = lines[i - 1].end if i else 0.0
        hi = lines[i + 1].start if i + 1 < len(lines) else (duration or float("inf"))
        first = region_index(line.words[0], regions) if line.words else None
        last = region_index(line.words[-1], regions) if line.words else None
        if first is not None and (i == 0 or region_index(lines[i - 1].words[-1], regions) != first):
            line.start = max(lo, min(line.start, regions[first][0]))
        if last is not None and (i + 1 == len(lines) or region_index(lines[i + 1].words[0], regions) != last):
            line.end = min(hi, max(line.end, regions[last][1]))
        if line.end - line.start < MIN_LINE_S:
            grow = MIN_LINE_S - (line.end - line.start)
            line.end = min(hi, line.end + grow)
            line.start = max(lo, line.end - MIN_LINE_S)
        line.start, line.end = round(line.start, 3), round(line.end, 3)


def _take_wordless_speech(lines: list[Line], regions: Regions, turns: Turns, pause_split: float) -> None:
    """A line takes the speech next to it in which Whisper placed no word, when less than a pause
    lies between and the diarization gives it to the line's speaker (WORDLESS_OWN_SHARE of it).

    Such speech is the end of the line's last word (Whisper ends words early), or a sound it does not
    write down (a trailing syllable, a hesitation): 0.45 s of each 2.5 s turn on one assembled
    conversation. Without it the dub's slot is short and that speech is in no line. At most
    WORDLESS_MAX_S on each side: more is something else (music, laughter, a stretch Whisper missed).
    """
    worded = {region_index(w, regions) for line in lines for w in line.words}
    for i, line in enumerate(lines):
        if not line.words:
            continue
        lo = lines[i - 1].end if i else 0.0
        hi = lines[i + 1].start if i + 1 < len(lines) else float("inf")

        def takes(j: int, k: int, edge: float) -> bool:  # region j, next to k, which the line already holds
            r0, r1 = regions[j]
            return (j not in worded and lo <= r0 and r1 <= hi and max(r0, regions[k][0]) - min(r1, regions[k][1])
                    < pause_split and max(r1, line.end) - min(r0, line.start) <= MAX_SECONDS
                    and max(r1 - edge, edge - r0) <= WORDLESS_MAX_S
                    and (not turns or _share_of(line.speaker, r0, r1, turns) >= WORDLESS_OWN_SHARE))
        last = region_index(line.words[-1], regions)
        if last is not None:
            j, edge = last + 1, max(line.end, regions[last][1])
            while j < len(regions) and takes(j, j - 1, edge):
                line.end = round(regions[j][1], 3)
                j += 1
        first = region_index(line.words[0], regions)
        if first is not None:
            j, edge = first - 1, min(line.start, regions[first][0])
            while j >= 0 and takes(j, j + 1, edge):
                line.start = round(regions[j][0], 3)
                j -= 1


def _share_of(speaker: str, start: float, end: float, turns: Turns) -> float:
    """The share of [start, end] that `speaker`'s turns cover."""
    own = sum(max(0.0, min(end, t1) - max(start, t0)) for t0, t1, spk in turns if spk == speaker)
    return own / max(end - start, 1e-9)


def _no_overlaps(lines: list[Line]) -> list[Line]:
    """Lines never overlap (the document refuses it, and one slot holds one voice).

    Two windows can put words at the same time: overlapping speech, or a decoding slip of one
    window landing in another speaker's turn. Overlapping lines of one speaker and language join;
    otherwise the line with fewer words gives way: it is cut where the other begins, or goes when
    too little is left (overlapping speech is given to one speaker).
    """
    out: list[Line] = []
    for line in sorted(lines, key=lambda x: (x.start, -x.end)):
        prev = out[-1] if out else None
        if prev is None or line.start >= prev.end:
            out.append(line)
            continue
        if prev.speaker == line.speaker and prev.language == line.language:
            prev.words = sorted(prev.words + line.words, key=lambda w: w.start)
            prev.end = max(prev.end, line.end)
            continue
        # The line with fewer words gives way (a slip is a word or two: "噢" over a whole sentence).
        if len(prev.words) < len(line.words) and line.start - prev.start >= MIN_LINE_S:
            prev.end = line.start
            out.append(line)
        elif len(prev.words) < len(line.words):
            out[-1] = line
        elif line.end - prev.end >= MIN_LINE_S:
            line.start = prev.end
            out.append(line)
    return out


def coverage(lines: list[Line], regions: Regions) -> float:
    """Share of detected speech that lies inside some line."""
    total = sum(r1 - r0 for r0, r1 in regions)
    if total <= 0:
        return 1.0
    covered = 0.0
    for r0, r1 in regions:
        for line in lines:
            covered += max(0.0, min(r1, line.end) - max(r0, line.start))
    return min(1.0, covered / total)
