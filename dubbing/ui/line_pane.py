"""The selected line, in full: its texts, its status, its original and dubbed audio, the video
at its start, and the structural edits (split, merge, insert, delete, move, nudge).

Every edit goes through `change(fn, done)` from the page, which saves the table's pending
edits first and the result as one revision (so Undo puts it back).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import streamlit as st

from ..models import Document, Utterance
from . import edit_ops, languages, status, table
from .clips import dubbed_clip, original_clip

Change = Callable[[Callable[[Document], tuple[Document, list[str]]], str], None]


def _label(doc: Document, u: Utterance) -> str:
    return (f"#{u.id} · {u.start:.2f}–{u.end:.2f} s · {table.speaker_label(doc, u.speaker)}: "
            f"{table.short_text(u.text, 50)}")


def video_for(job_dir: Path, found: dict[str, Path]) -> Path | None:
    """The dubbed video once it exists, else the original (the job's own copy)."""
    if "dubbed_mp4" in found:
        return found["dubbed_mp4"]
    original = job_dir / "work" / "input.mp4"
    return original if original.is_file() else None


def show(job: dict[str, Any], job_dir: Path, doc: Document, found: dict[str, Path], statuses: dict[int, str],
         selected: int, line_key: str, change: Change) -> None:
    by_id = {u.id: u for u in doc.utterances}
    st.subheader("Selected line")
    st.selectbox("Line", list(by_id), key=line_key, format_func=lambda i: _label(doc, by_id[i]),
                 label_visibility="collapsed")
    u = by_id[st.session_state[line_key]]
    left, right = st.columns([3, 2], gap="medium")
    with left:
        state = statuses.get(u.id, "")
        st.markdown(f"**{status.label(state)}** · {table.speaker_label(doc, u.speaker)} · "
                    f"{u.start:.2f}–{u.end:.2f} s ({u.duration:.2f} s)"
                    + (f" · sped up {u.speed:.2f}×" if u.speed and u.speed > 1.005 else ""))
        t1, t2 = st.columns(2)
        t1.markdown(f"**Original** ({languages.name(doc.source_language)})")
        t1.markdown(f"<div class='line-text'>{_html(u.text)}</div>", unsafe_allow_html=True)
        t2.markdown(f"**Translation** ({languages.name(doc.target_language)})")
        t2.markdown(f"<div class='line-text'>{_html(u.translated_text) or '<i>none yet</i>'}</div>",
                    unsafe_allow_html=True)
        if state == status.OUT_OF_DATE:
            t2.caption(":violet[The original was edited after this was translated; it is translated again "
                       "when you save.]")
        a1, a2 = st.columns(2)
        orig = original_clip(job_dir, u)
        if orig:
            a1.audio(orig, format="audio/wav")
        else:
            a1.caption("The original audio is not available.")
        clip = dubbed_clip(job_dir, u)
        if clip and state not in (status.NEEDS_VOICING, status.OUT_OF_DATE):
            a2.audio(str(clip), format="audio/wav")
            if u.overrun:
                a2.caption(f":orange[Overruns its slot by {u.overrun_seconds:.2f} s even at {u.speed:.2f}×.]")
        elif clip:
            a2.audio(str(clip), format="audio/wav")
            a2.caption(":orange[This speech is from before your edit; render to hear the new one.]")
        else:
            a2.caption("No speech for this line yet: approve and render (or re-render) first.")
    with right:
        video = video_for(job_dir, found)
        if video:
            # A new start time moves the player to the line (the element is rebuilt at that point).
            st.video(str(video), start_time=max(0.0, u.start - 0.2), subtitles=_subtitles(found, doc) or None)
        else:
            st.caption("No video to show yet.")
    _operations(doc, u, change)


def _html(text: str) -> str:
    import html
    return html.escape(text or "")


def _subtitles(found: dict[str, Path], doc: Document) -> dict[str, str]:
    """The dubbed language's subtitles first: the player turns the first track on."""
    from . import outputs
    subs = outputs.subtitle_files(found, "vtt") or outputs.subtitle_files(found, "srt")
    order = sorted(subs, key=lambda lang: lang != doc.target_language)
    return {languages.name(lang): str(subs[lang]) for lang in order}


def _operations(doc: Document, u: Utterance, change: Change) -> None:
    if not edit_ops.available():
        st.caption("Split, merge, insert and delete need the editing operations (dubbing.edits), "
                   "which this installation lacks.")
        return
    keys = table.speaker_keys(doc)
    after = next((v for v in doc.utterances if v.start > u.start), None)
    split_tab, merge_tab, speaker_tab, insert_tab, times_tab = st.tabs(
        ["Split", "Merge / delete", "Speaker", "Insert", "Times"])
    with split_tab:
        words = u.text.split()
        if len(words) < 2:
            st.caption("This line has a single word; there is nothing to split.")
        else:
            at = st.segmented_control(
                "Split before the word", list(range(1, len(words))), key=f"review_split_word_{u.id}",
                format_func=lambda i: words[i], help="The second line starts at this word")
            if st.button("Split here", key="review_split", disabled=at is None, icon=":material/content_cut:"):
                change(lambda d: edit_ops.split(d, u.id, word=at),
                       f"Line {u.id} split before “{words[at]}”")
        at_time = st.number_input("…or at a time (s)", min_value=float(u.start), max_value=float(u.end),
                                  value=round((u.start + u.end) / 2, 2), step=0.1, key=f"review_split_t_{u.id}")
        if st.button("Split at this time", key="review_split_time"):
            change(lambda d: edit_ops.split(d, u.id, at=at_time), f"Line {u.id} split at {at_time:.2f} s")
    with merge_tab:
        c1, c2 = st.columns(2)
        if c1.button("Merge with the next line", key="review_merge", icon=":material/merge:", disabled=after is None,
                     help="Join this line and the one after it into one line"):
            change(lambda d: edit_ops.merge(d, u.id), f"Line {u.id} merged with the next")
        if c2.button("Delete this line", key="review_delete", icon=":material/delete:"):
            change(lambda d: edit_ops.delete(d, u.id), f"Line {u.id} deleted")
    with speaker_tab:
        names = {k: table.speaker_label(doc, k) for k in keys}
        current = u.speaker if u.speaker in names else None
        new = "__new__"
        who = st.selectbox("Move this line to", [*names, new], key=f"review_move_who_{u.id}",
                           index=list(names).index(current) if current else 0,
                           format_func=lambda k: "A new speaker…" if k == new else names[k])
        name = st.text_input("New speaker's name", key=f"review_move_name_{u.id}", disabled=who != new,
                             placeholder="e.g. Caller")
        target = name.strip() if who == new else who
        if st.button("Move", key="review_move", disabled=not target or target == u.speaker):
            change(lambda d: edit_ops.move(d, u.id, target), f"Line {u.id} now spoken by {names.get(target, target)}")
    with insert_tab:
        gap_start = u.end
        gap_end = after.start if after else max(doc.duration, u.end + 1.0)
        c1, c2, c3 = st.columns(3)
        start = c1.number_input("Start (s)", min_value=0.0, value=round(gap_start, 2), step=0.1, key="review_ins_start")
        end = c2.number_input("End (s)", min_value=0.0, value=round(min(gap_end, gap_start + 2.0), 2), step=0.1,
                              key="review_ins_end")
        spk = c3.selectbox("Speaker", keys, key="review_ins_speaker", format_func=lambda k: table.speaker_label(doc, k),
                           index=keys.index(u.speaker) if u.speaker in keys else 0)
        text = st.text_input("Original text", key="review_ins_text", placeholder="What is said there")
        if st.button("Insert line", key="review_insert", icon=":material/add:", disabled=not text.strip()):
            change(lambda d: edit_ops.add(d, start, end, spk, text.strip()), "Line inserted")
        if after:
            st.caption(f"The pause after this line runs {gap_start:.2f}–{gap_end:.2f} s.")
    with times_tab:
        c1, c2 = st.columns(2)
        ns = c1.number_input("Start (s)", min_value=0.0, value=float(u.start), step=0.05, key=f"review_nudge_s_{u.id}")
        ne = c2.number_input("End (s)", min_value=0.0, value=float(u.end), step=0.05, key=f"review_nudge_e_{u.id}")
        if st.button("Set times", key="review_nudge", disabled=(ns, ne) == (u.start, u.end)):
            change(lambda d: edit_ops.times(d, u.id, ns, ne), f"Line {u.id} now {ns:.2f}–{ne:.2f} s")
