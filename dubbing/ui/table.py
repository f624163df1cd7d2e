"""The utterance table: a Document as rows for `st.data_editor`, and edits back onto a Document.

Edits are applied from the editor's delta (`edited_rows`, keyed by row position)
onto a freshly loaded document, matched by utterance id. So two tabs editing
different lines of one job do not overwrite each other's saved lines.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import pandas as pd

from ..models import GENDERS, Document, Speaker, Utterance

# Row columns in display order; "pick" selects rows (the last one ticked opens below, all of them are
# re-translated together), "status" says where the line stands; neither is part of the document.
# Gender and voice belong to the speaker, so they are set in the speakers panel, not per row.
COLUMNS = ["id", "pick", "status", "muted", "speed", "start", "end", "speaker", "text", "translated_text"]
EDITABLE = {"pick", "start", "end", "speaker", "text", "translated_text", "muted"}
READ_ONLY = [c for c in COLUMNS if c not in EDITABLE]
AUTO_VOICE = "auto"  # the voice cell of a line with no voice yet: one is matched to the speaker's gender


def speaker_label(doc: Document, key: str) -> str:
    spk = doc.speakers.get(key)
    return (spk.name if spk and spk.name else key) or "?"


def speaker_keys(doc: Document) -> list[str]:
    """Speakers in order of first appearance, then any without lines."""
    keys: list[str] = []
    for u in doc.utterances:
        if u.speaker not in keys:
            keys.append(u.speaker)
    return keys + [k for k in doc.speakers if k not in keys]


def document_frame(doc: Document, statuses: dict[int, str] | None = None,
                   label=lambda s: s) -> pd.DataFrame:
    statuses = statuses or {}
    rows = [{
        "id": u.id, "pick": False, "status": label(statuses.get(u.id, "")), "start": u.start, "end": u.end,
        "speaker": u.speaker, "text": u.text, "translated_text": u.translated_text,
        "speed": round(float(u.speed or 1.0), 2), "muted": bool(u.muted),
    } for u in doc.utterances]
    return pd.DataFrame(rows, columns=COLUMNS)


def _rows(edited_rows: dict[Any, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(k): v for k, v in (edited_rows or {}).items()}


def newly_picked(row_ids: list[int], edited_rows: dict[Any, dict[str, Any]], seen: list[int]) -> int | None:
    """The utterance id ticked since `seen` (the ids ticked on the last run), if any."""
    now = picked_ids(row_ids, edited_rows)
    fresh = [i for i in now if i not in seen]
    return fresh[-1] if fresh else None


def picked_ids(row_ids: list[int], edited_rows: dict[Any, dict[str, Any]]) -> list[int]:
    """Utterance ids whose "pick" box is ticked in the editor's delta."""
    return [row_ids[i] for i, change in sorted(_rows(edited_rows).items())
            if change.get("pick") and 0 <= i < len(row_ids)]


def has_document_edits(edited_rows: dict[Any, dict[str, Any]]) -> bool:
    return any(set(change) - {"pick"} for change in _rows(edited_rows).values())


def _number(value: Any, what: str, uid: int, problems: list[str]) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        problems.append(f"utterance {uid}: {what} must be a number of seconds")
        return None
    if math.isnan(x):
        problems.append(f"utterance {uid}: {what} is empty; type a time in seconds")
        return None
    return round(x, 3)


def apply_edits(doc: Document, row_ids: list[int],
                edited_rows: dict[Any, dict[str, Any]]) -> tuple[Document, list[str]]:
    """A copy of `doc` with the editor's changes, and the problems found (empty when it can be saved).

    `row_ids` are the utterance ids of the rows the editor was built from, in row order.
    """
    out = copy.deepcopy(doc)
    by_id: dict[int, Utterance] = {u.id: u for u in out.utterances}
    problems: list[str] = []
    for row, change in sorted(_rows(edited_rows).items()):
        if not 0 <= row < len(row_ids):
            continue
        uid = row_ids[row]
        utt = by_id.get(uid)
        if utt is None:
            problems.append(f"utterance {uid} no longer exists (the job was changed elsewhere); reload the page")
            continue
        for col, value in change.items():
            if col in ("start", "end"):
                x = _number(value, col, uid, problems)
                if x is not None:
                    setattr(utt, col, x)
            elif col in ("text", "translated_text"):
                setattr(utt, col, "" if value is None else str(value).strip())
            elif col == "speaker":
                if value not in out.speakers and value not in {u.speaker for u in out.utterances}:
                    problems.append(f"utterance {uid}: unknown speaker '{value}'; pick one from the list")
                else:
                    utt.speaker = str(value)
            elif col == "gender":
                if value not in GENDERS:
                    problems.append(f"utterance {uid}: gender must be one of {', '.join(GENDERS)}")
                else:
                    utt.gender = value
            elif col == "voice":
                # The speaker's own voice means "follow the speaker", so a later
                # change of the speaker's voice still reaches this line.
                spk = out.speakers.get(utt.speaker)
                utt.voice = "" if (value in (None, "", AUTO_VOICE) or (spk and value == spk.voice)) else str(value)
            elif col == "muted":
                utt.muted = bool(value)
    problems += out.validate()
    return out, problems


def rename_speaker(doc: Document, key: str, new_name: str) -> list[str]:
    """Give a speaker a display name (the key in utterances stays, so nothing is re-made)."""
    new_name = new_name.strip()
    if not new_name:
        return ["type a name for the speaker"]
    taken = {speaker_label(doc, k) for k in speaker_keys(doc) if k != key}
    if new_name in taken:
        return [f"another speaker is already called '{new_name}'; pick a different name"]
    if key not in doc.speakers:
        doc.speakers[key] = Speaker()
    doc.speakers[key].name = new_name
    return []


def set_speaker_voice(doc: Document, key: str, voice: str) -> int:
    """Give a speaker a voice for all of their lines (clearing per-line choices), pinned so that it
    stays through re-renders and later jobs of the video ("" unpins); returns lines affected."""
    from ..stages.voices import pin_voice
    pin_voice(doc, key, voice)
    return sum(1 for u in doc.utterances if u.speaker == key)


def timeline_frame(doc: Document, statuses: dict[int, str] | None = None, selected: int | None = None) -> pd.DataFrame:
    """One bar per line; `lane` is the speaker (one lane each), `state` colours the bar."""
    statuses = statuses or {}
    return pd.DataFrame([{
        "id": u.id, "lane": speaker_label(doc, u.speaker), "start": u.start, "end": u.end,
        "text": u.text, "translation": u.translated_text, "speed": round(float(u.speed or 1.0), 2),
        "state": statuses.get(u.id) or ("overrun" if u.overrun else ("muted" if u.muted else "voiced")),
        "selected": u.id == selected,
    } for u in doc.utterances], columns=["id", "lane", "start", "end", "text", "translation", "speed", "state",
                                         "selected"])


def short_text(text: str, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


PERSON_FIELDS = ("start", "end", "speaker", "text", "translated_text", "muted")


def changed_elsewhere(base: Document, fresh: Document, row_ids: list[int],
                      edited_rows: dict[Any, dict[str, Any]]) -> list[int]:
    """Ids of lines edited here that someone else also changed (or removed) since `base` was loaded.

    Edits of other lines are applied on top of the new version; these would overwrite a change the
    person never saw, so the save is refused instead.
    """
    before = {u.id: u for u in base.utterances}
    now = {u.id: u for u in fresh.utterances}
    out = []
    for row, change in sorted(_rows(edited_rows).items()):
        if not 0 <= row < len(row_ids) or not set(change) - {"pick"}:
            continue
        uid = row_ids[row]
        a, b = before.get(uid), now.get(uid)
        if a is None or b is None or any(getattr(a, f) != getattr(b, f) for f in PERSON_FIELDS):
            out.append(uid)
    return out
