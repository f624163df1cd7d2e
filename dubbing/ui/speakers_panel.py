"""Speakers: name, gender and voice belong to a speaker, not to a line, so they are set here.

A gender change lets the voices stage match a voice to it at the next render (unless a
voice is chosen here too). The page never makes speech itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import streamlit as st

from ..models import GENDERS, Document, Speaker
from . import table
from .engines import voice_label

AUTO_VOICE = table.AUTO_VOICE  # no voice chosen: one matching the speaker's gender is given at render


def voice_choices(voices: dict[str, str], doc: Document) -> list[str]:
    """Automatic first, then the engine's voices by name, then any in use that the engine no longer lists."""
    in_use = {s.voice for s in doc.speakers.values() if s.voice} | {u.voice for u in doc.utterances if u.voice}
    listed = sorted(voices, key=lambda v: voice_label(voices, v).lower())
    return [AUTO_VOICE] + listed + sorted(v for v in in_use if v not in voices)


def speakers_frame(doc: Document, voices: dict[str, str]) -> pd.DataFrame:
    keys = table.speaker_keys(doc)
    counts = {k: sum(1 for u in doc.utterances if u.speaker == k) for k in keys}
    return pd.DataFrame([{
        "key": k, "name": table.speaker_label(doc, k), "lines": counts[k],
        "gender": doc.speakers[k].gender if k in doc.speakers else "unknown",
        "voice": (doc.speakers[k].voice if k in doc.speakers else "") or AUTO_VOICE,
    } for k in keys], columns=["key", "name", "lines", "gender", "voice"])


def apply_speaker_edits(doc: Document, keys: list[str], edited_rows: dict) -> tuple[Document, list[str]]:
    """Names, genders and voices from the speakers table onto `doc` (by speaker key)."""
    problems: list[str] = []
    for row, change in sorted((int(k), v) for k, v in (edited_rows or {}).items()):
        if not 0 <= row < len(keys):
            continue
        key = keys[row]
        spk = doc.speakers.setdefault(key, Speaker(name=key))
        if "name" in change:
            problems += table.rename_speaker(doc, key, str(change["name"] or ""))
        if "gender" in change:
            if change["gender"] not in GENDERS:
                problems.append(f"speaker {key}: gender must be one of {', '.join(GENDERS)}")
            else:
                spk.gender = change["gender"]
                for u in doc.utterances:
                    if u.speaker == key:
                        u.gender = spk.gender
                if "voice" not in change:
                    spk.voice = ""  # a voice of the new gender is matched at the next render
        if "voice" in change:
            voice = change["voice"]
            table.set_speaker_voice(doc, key, "" if voice in (None, AUTO_VOICE) else voice)
    return doc, problems


def add_speaker(doc: Document, name: str, gender: str) -> tuple[Document, list[str]]:
    name = name.strip()
    if not name:
        return doc, ["type a name for the new speaker"]
    if name in {table.speaker_label(doc, k) for k in table.speaker_keys(doc)}:
        return doc, [f"there is already a speaker called '{name}'"]
    doc.speakers[name] = Speaker(name=name, gender=gender)
    return doc, []


def show(job_id: str, doc: Document, voices: dict[str, str],
         change: Callable[[Callable[[Document], tuple[Document, list[str]]], str], None],
         act: Callable[[Callable[[], None], str], None], job_dir: Path | None = None) -> None:
    """`change(fn, done)` saves a changed document; `act(fn, done)` runs a job action (both save edits first)."""
    st.subheader("Speakers")
    frame = speakers_frame(doc, voices)
    keys = list(frame["key"])
    choices = voice_choices(voices, doc)
    key = f"review_speakers_{job_id}_{st.session_state.get(f'review_ver_{job_id}', 0)}"
    st.data_editor(frame, key=key, hide_index=True, num_rows="fixed", disabled=["key", "lines"],
                   column_order=["name", "lines", "gender", "voice"], width="stretch", column_config={
                       "name": st.column_config.TextColumn("Speaker", required=True),
                       "lines": st.column_config.NumberColumn("Lines", width=60),
                       "gender": st.column_config.SelectboxColumn("Gender", options=list(GENDERS), required=True,
                                                                  width=110),
                       "voice": st.column_config.SelectboxColumn(
                           "Voice", options=choices, format_func=lambda v: voice_label(voices, v), width="large"),
                   })
    edits = (st.session_state.get(key) or {}).get("edited_rows") or {}
    bar = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    if bar.button("Apply speaker changes", key="review_speakers_apply", disabled=not edits,
                  help="A new gender gets a matching voice at the next render"):
        change(lambda d: apply_speaker_edits(d, keys, edits), "Speakers updated")
    name = bar.text_input("New speaker", key=f"review_new_speaker_{job_id}", placeholder="Name",
                          label_visibility="collapsed", width=200)
    gender = bar.selectbox("Gender", list(GENDERS), key=f"review_new_speaker_gender_{job_id}",
                           label_visibility="collapsed", width=130)
    if bar.button("Add speaker", key="review_add_speaker", icon=":material/person_add:"):
        change(lambda d: add_speaker(d, name, gender), f"Speaker {name.strip()} added")
    if job_dir is not None:
        _audition(job_dir, doc, voices)
    _redetect(job_id, act)


def _audition(job_dir: Path, doc: Document, voices: dict[str, str]) -> None:
    """Hear a voice before choosing it: the worker made a short sample of each while the job waited."""
    from ..pipeline import audition_path
    heard = {v: p for v in voices if (p := audition_path(job_dir, v, doc.target_language)) is not None}
    if not heard:
        st.caption("Voice samples appear here once the worker has made them (while the job waits for review).")
        return
    c1, c2 = st.columns([2, 3], vertical_alignment="center")
    pick = c1.selectbox("Hear a voice", sorted(heard, key=lambda v: voice_label(voices, v).lower()), index=None,
                        placeholder="Choose a voice to hear it", format_func=lambda v: voice_label(voices, v),
                        key=f"review_audition_{job_dir.name}")
    if pick:  # no player until asked: the line's own players stay the only ones on the page
        c2.audio(str(heard[pick]))


def _redetect(job_id: str, act) -> None:
    from ..jobs import client
    if not hasattr(client, "redetect_speakers"):
        return  # the runner action arrives with the speaker-structure work (issue 13)
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    n = c1.number_input("Speakers", min_value=1, max_value=12, value=2, step=1, key=f"review_redetect_n_{job_id}")
    if c2.button(f"Re-detect speakers with {int(n)}", key="review_redetect",
                 help="Assign lines to this many speakers again, from the voices already measured"):
        act(lambda: client.redetect_speakers(job_id, int(n)), f"Re-detecting {int(n)} speakers")
