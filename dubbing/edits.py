"""Structural edits of a document: split, merge, add, delete, move to a speaker, nudge times, and
the spoken language of a line.

Pure functions over a `Document` (no files, no engines): the command line
(`python -m dubbing edit`), the job runner's client and the pages all call them,
then save through `dubbing.revisions`. Each returns an `EditResult` naming the
lines it created and removed. Lines an edit did not touch keep their ids; new
lines get ids never used before in the document.

Translation bookkeeping after an edit: a line whose translation a person wrote
keeps it (split: cut at the matching place; merge of two such lines: joined);
otherwise the line gets the old machine text as a placeholder and is marked for
translation, so the next render (or the runner's re-translation) translates it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .engines import langcodes
from .errors import DubbingError, ExitCode
from .models import GENDERS, UNKNOWN, Document, Speaker, Utterance, Word

MIN_LINE_S = 0.1  # a half shorter than this is a slip of the hand, not a line


class EditError(DubbingError):
    """An edit that cannot be made as asked (unknown line, time outside the line, overlap)."""

    code = ExitCode.USAGE


@dataclass
class EditResult:
    created: list[int] = field(default_factory=list)  # ids of new lines, in time order
    removed: list[int] = field(default_factory=list)  # ids that no longer exist
    changed: list[int] = field(default_factory=list)  # ids kept but edited
    new_speaker: str | None = None  # key of a speaker this edit created


OPERATIONS = ("split", "merge", "add", "delete", "speaker", "times", "language")


def apply(doc: Document, op: str, **args) -> EditResult:
    """Run one operation by name (as the command line and the runner's client name them)."""
    funcs = {"split": split, "merge": merge, "add": add, "delete": delete, "speaker": move_to_speaker,
             "times": nudge, "language": set_language}
    if op not in funcs:
        raise EditError(f"unknown edit '{op}'; use one of {', '.join(OPERATIONS)}")
    try:
        return funcs[op](doc, **args)
    except TypeError as exc:
        raise EditError(f"edit '{op}': {exc}") from None


# -- split ---------------------------------------------------------------------------------------

def split(doc: Document, utt_id: int, *, at: float | None = None, word: int | None = None) -> EditResult:
    """Split a line before word index `word`, or at time `at` (snapped to the nearest word boundary
    when the line has word timings; otherwise the text is cut at the whitespace nearest that time)."""
    u = _line(doc, utt_id)
    if (at is None) == (word is None):
        raise EditError("split needs either a time (--at) or a word index (--word)")
    words = list(u.words)
    if word is not None:
        if len(words) < 2:
            raise EditError(f"utterance {u.id} has {len(words)} timed word(s), too few to split at a word; "
                            "give a time with --at")
        if not 1 <= word <= len(words) - 1:
            raise EditError(f"utterance {u.id}: word index {word} is out of range; split before word "
                            f"1..{len(words) - 1} (0 is its first word)")
        cut = word
    else:
        _inside(u, at)
        cut = _nearest_boundary(words, at) if len(words) > 1 else None
    if cut is not None:
        first_words, second_words = words[:cut], words[cut:]
        first_end, second_start = first_words[-1]["end"], second_words[0]["start"]
        split_time = (first_end + second_start) / 2
        first_text, second_text = _split_text_by_words(u.text, first_words, second_words)
    else:
        split_time = float(at)
        first_end = second_start = split_time
        first_words = [w for w in words if w["end"] <= split_time]
        second_words = [w for w in words if w["end"] > split_time]
        first_text, second_text = _cut_text(u.text, (split_time - u.start) / u.duration)
    if first_end - u.start < MIN_LINE_S or u.end - second_start < MIN_LINE_S or second_start < first_end:
        raise EditError(f"utterance {u.id}: a split at {split_time:.2f} s leaves a half shorter than "
                        f"{MIN_LINE_S} s; pick a time further inside {u.start:.2f}..{u.end:.2f}")
    if not first_text or not second_text:
        raise EditError(f"utterance {u.id}: a split at {split_time:.2f} s leaves one half without words")
    share = len(first_text) / max(1, len(first_text) + len(second_text))
    a = _derived(doc, u, start=u.start, end=round(first_end, 3), text=first_text, words=first_words)
    b = _derived(doc, u, start=round(second_start, 3), end=u.end, text=second_text, words=second_words)
    if u.translation_edited:  # a person's translation: cut it at the matching place and keep both halves
        _keep_persons_translation(a, b, *_cut_text(u.translated_text, share))
    else:
        _placeholder(a, b, *_cut_text(u.translated_text, share))
    _replace(doc, [u], [a, b])
    return EditResult(created=[a.id, b.id], removed=[u.id])


def _nearest_boundary(words: list[Word], at: float) -> int:
    """Index of the word that starts the second half: the gap between words nearest `at`."""
    gaps = [((words[i - 1]["end"] + words[i]["start"]) / 2, i) for i in range(1, len(words))]
    return min(gaps, key=lambda g: (abs(g[0] - at), g[1]))[1]


def _split_text_by_words(text: str, first: list[Word], second: list[Word]) -> tuple[str, str]:
    """The two texts. The word texts when they still spell the line; otherwise (a person edited the
    text) the text is cut at the whitespace nearest the same share of characters."""
    joined = "".join(w["text"] for w in first + second)
    if " ".join(joined.split()) == " ".join(text.split()):
        return "".join(w["text"] for w in first).strip(), "".join(w["text"] for w in second).strip()
    share = len("".join(w["text"] for w in first)) / max(1, len(joined))
    return _cut_text(text, share)


def _cut_text(text: str, share: float) -> tuple[str, str]:
    """Cut at the whitespace nearest `share` of the way through (no whitespace: at that character)."""
    text = text.strip()
    if not text:
        return "", ""
    target = share * len(text)
    spaces = [i for i, ch in enumerate(text) if ch.isspace()]
    pos = min(spaces, key=lambda i: abs(i - target)) if spaces else int(round(target))
    return text[:pos].strip(), text[pos:].strip()


# -- merge ---------------------------------------------------------------------------------------

def merge(doc: Document, utt_id: int) -> EditResult:
    """Merge a line with the one after it (texts and word lists joined; the first line's speaker)."""
    u = _line(doc, utt_id)
    order = _ordered(doc)
    i = order.index(u)
    if i + 1 >= len(order):
        raise EditError(f"utterance {u.id} is the last line; there is no line after it to merge with")
    v = order[i + 1]
    text = f"{u.text.strip()} {v.text.strip()}".strip()
    m = _derived(doc, u, start=u.start, end=max(u.end, v.end), text=text, words=list(u.words) + list(v.words))
    m.muted = u.muted and v.muted
    translated = f"{u.translated_text.strip()} {v.translated_text.strip()}".strip()
    if u.translation_edited and v.translation_edited:
        _keep_persons_translation(m, None, translated, "")
    else:
        _placeholder(m, None, translated, "")
    _replace(doc, [u, v], [m])
    return EditResult(created=[m.id], removed=[u.id, v.id])


# -- add / delete --------------------------------------------------------------------------------

def add(doc: Document, *, start: float, end: float, speaker: str, text: str, translated_text: str = "",
        gender: str | None = None) -> EditResult:
    """A new line; a speaker name not in the document creates that speaker."""
    text = (text or "").strip()
    if not text:
        raise EditError("a new line needs its text")
    start, end = _times(doc, start, end, what="the new line")
    key, created = _speaker_key(doc, speaker, gender)
    u = Utterance(id=doc.new_id(), start=start, end=end, speaker=key, text=text,
                  gender=doc.speakers[key].gender, translated_text=(translated_text or "").strip())
    _check_neighbours(doc, u, ignore=())
    doc.utterances.append(u)
    doc.utterances.sort(key=lambda x: (x.start, x.id))
    return EditResult(created=[u.id], new_speaker=key if created else None)


def delete(doc: Document, utt_id: int) -> EditResult:
    u = _line(doc, utt_id)
    doc.reserve_ids()
    doc.utterances.remove(u)
    return EditResult(removed=[u.id])


# -- speaker / times -----------------------------------------------------------------------------

def move_to_speaker(doc: Document, utt_id: int, speaker: str, *, gender: str | None = None) -> EditResult:
    """Give a line to another speaker (by key or display name); a new name creates that speaker,
    with `gender` when given. The new speaker has no voice yet: `dubbing.stages.voices.assign`
    gives it its own (the command line and the runner do that right after this edit)."""
    u = _line(doc, utt_id)
    key, created = _speaker_key(doc, speaker, gender)
    old = doc.speakers.get(u.speaker)
    if old is not None and u.voice == old.voice:
        u.voice = ""  # it followed its speaker's voice: now it follows the new one
    u.speaker = key
    u.gender = doc.speakers[key].gender
    return EditResult(changed=[u.id], new_speaker=key if created else None)


def nudge(doc: Document, utt_id: int, *, start: float | None = None, end: float | None = None) -> EditResult:
    """Move a line's start and/or end, within the video and without overlapping its neighbours."""
    u = _line(doc, utt_id)
    new_start, new_end = _times(doc, u.start if start is None else start, u.end if end is None else end,
                                what=f"utterance {u.id}")
    probe = copy.copy(u)
    probe.start, probe.end = new_start, new_end
    _check_neighbours(doc, probe, ignore=(u.id,))
    u.start, u.end = new_start, new_end
    doc.utterances.sort(key=lambda x: (x.start, x.id))
    return EditResult(changed=[u.id])


def set_language(doc: Document, utt_id: int, language: str) -> EditResult:
    """Say which language a line is spoken in: Whisper base can hear a whole speaker in the wrong one of
    two close languages (a Czech voice actor all as Polish, a Dutch one all as German).

    The machine's translation is made again from the new language at the next translation; a
    person's stays. A line the machine muted and flagged because no translator takes its language
    is unmuted and its flag cleared: translated again, it is flagged again if the new pair has none
    either."""
    u = _line(doc, utt_id)
    code = (language or "").strip().lower()
    if code not in langcodes.LANGUAGES:
        raise EditError(f"unknown language '{language}': give a code Whisper knows, such as en, es, fr, cs or pl")
    if (u.language or doc.source_language) == code:
        return EditResult()
    u.language = "" if code == doc.source_language else code
    if not u.translation_edited:
        u.translation_source = None  # translated again, from the new language
    if u.note and u.muted:
        u.muted, u.note = False, ""
    return EditResult(changed=[u.id])


# -- helpers -------------------------------------------------------------------------------------

def _line(doc: Document, utt_id: int) -> Utterance:
    try:
        return doc.get(int(utt_id))
    except (KeyError, TypeError, ValueError):
        raise EditError(f"no utterance with id {utt_id!r}; `python -m dubbing edit DIR list` shows them") from None


def _ordered(doc: Document) -> list[Utterance]:
    return sorted(doc.utterances, key=lambda x: (x.start, x.id))


def _inside(u: Utterance, at: float) -> None:
    if not isinstance(at, (int, float)) or not u.start < at < u.end:
        raise EditError(f"utterance {u.id}: split time {at} s is not inside the line ({u.start:.2f}..{u.end:.2f} s)")


def _times(doc: Document, start: float, end: float, *, what: str) -> tuple[float, float]:
    try:
        start, end = round(float(start), 3), round(float(end), 3)
    except (TypeError, ValueError):
        raise EditError(f"{what}: start and end must be numbers of seconds") from None
    if not (start == start and end == end):  # NaN
        raise EditError(f"{what}: start and end must be numbers of seconds")
    if start < 0 or (doc.duration and end > doc.duration + 0.05):
        raise EditError(f"{what}: {start:.2f}..{end:.2f} s is outside the video (0..{doc.duration:.2f} s)")
    if end - start < MIN_LINE_S:
        raise EditError(f"{what}: end ({end:.2f}) must be at least {MIN_LINE_S} s after start ({start:.2f})")
    return start, end


def _check_neighbours(doc: Document, u: Utterance, *, ignore: tuple[int, ...]) -> None:
    for other in doc.utterances:
        if other.id in ignore:
            continue
        if u.start < other.end - 1e-3 and other.start < u.end - 1e-3:
            raise EditError(f"{'utterance ' + str(u.id) if u.id in ignore else 'the new line'} "
                            f"({u.start:.2f}..{u.end:.2f} s) would overlap utterance {other.id} "
                            f"({other.start:.2f}..{other.end:.2f} s); move that one first")


def _speaker_key(doc: Document, name: str, gender: str | None) -> tuple[str, bool]:
    """The key of the speaker called `name` (its key or its display name); a new one when none is."""
    name = (name or "").strip()
    if not name:
        raise EditError("give the speaker's name")
    if gender is not None and gender not in GENDERS:
        raise EditError(f"gender must be one of {', '.join(GENDERS)}")
    if name in doc.speakers:
        return name, False
    for key, spk in doc.speakers.items():
        if spk.name == name:
            return key, False
    doc.speakers[name] = Speaker(gender=gender or UNKNOWN, name=name)
    return name, True


def _derived(doc: Document, src: Utterance, *, start: float, end: float, text: str,
             words: list[Word]) -> Utterance:
    """A new line made from `src`: same speaker, voice, gender, language and muting; nothing rendered."""
    return Utterance(id=doc.new_id(), start=start, end=end, speaker=src.speaker, text=text, gender=src.gender,
                     voice=src.voice, muted=src.muted, words=[dict(w) for w in words], language=src.language)


def _keep_persons_translation(a: Utterance, b: Utterance | None, ta: str, tb: str) -> None:
    """A person's translation stays theirs: no machine text, so it is never replaced."""
    for u, t in ((a, ta), (b, tb)):
        if u is not None:
            u.translated_text, u.machine_translation, u.translation_source = t, None, u.text


def _placeholder(a: Utterance, b: Utterance | None, ta: str, tb: str) -> None:
    """The old machine text shown until the line is translated again (it counts as the machine's)."""
    for u, t in ((a, ta), (b, tb)):
        if u is not None:
            u.translated_text, u.machine_translation, u.translation_source = t, t, None


def _replace(doc: Document, old: list[Utterance], new: list[Utterance]) -> None:
    doc.reserve_ids()
    for u in old:
        doc.utterances.remove(u)
    doc.utterances.extend(new)
    doc.utterances.sort(key=lambda x: (x.start, x.id))
