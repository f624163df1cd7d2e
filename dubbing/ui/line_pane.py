"""The selected line, in full: its texts, its status, its original and dubbed audio, the video
at its start, and the structural edits (split, merge, insert, delete, move, nudge).

Every edit goes through `edit(op, done, **args)` from the page (dubbing.edits through the
runner's client), which saves the table's pending edits first (so Undo can put it back).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from ..engines.langcodes import LANGUAGES
from ..models import Document, Utterance
from . import languages, status, table
from .clips import dubbed_clip, original_clip

Edit = Callable[..., None]  # edit(op, done, **args)


def _label(doc: Document, u: Utterance) -> str:
    return (f"#{u.id} · {u.start:.2f}–{u.end:.2f} s · {table.speaker_label(doc, u.speaker)}: "
            f"{table.short_text(u.text, 50)}")


def video_for(job_dir: Path, found: dict[str, Path]) -> Path | None:
    """The dubbed video once it exists, else the original (the job's own copy)."""
    if "dubbed_mp4" in found:
        return found["dubbed_mp4"]
    original = job_dir / "work" / "input.mp4"
    return original if original.is_file() else None


def show(job_dir: Path, doc: Document, found: dict[str, Path], statuses: dict[int, str], line_key: str,
         edit: Edit) -> None:
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
        t1.markdown(f"**Original** ({languages.name(u.language or doc.source_language)})")
        t1.markdown(f"<div class='line-text'>{_html(u.text)}</div>", unsafe_allow_html=True)
        t2.markdown(f"**Translation** ({languages.name(doc.target_language)})")
        t2.markdown(f"<div class='line-text'>{_html(u.translated_text) or '<i>none yet</i>'}</div>",
                    unsafe_allow_html=True)
        if u.note:  # e.g. no translator for this line's language: the original audio stays until one is written
            st.caption(u.note)
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
            st.video(str(video), start_time=max(0.0, u.start - 0.2), subtitles=_subtitles(found, doc) or None,
                     width=480)  # compact: the table and the texts are what the reviewer works on
        else:
            st.caption("No video to show yet.")
    _operations(doc, u, edit)


def _html(text: str) -> str:
    import html
    return html.escape(text or "")


def _subtitles(found: dict[str, Path], doc: Document) -> dict[str, str]:
    """The dubbed language's subtitles first: the player turns the first track on."""
    from . import outputs
    subs = outputs.subtitle_files(found, "vtt") or outputs.subtitle_files(found, "srt")
    order = sorted(subs, key=lambda lang: lang != doc.target_language)
    return {languages.name(lang): str(subs[lang]) for lang in order}


def word_split_time(u: Utterance, word: int) -> float:
    """Where to cut a line with no word timings so that the text is cut before word `word`: the same
    share of its time as of its characters (the edit cuts its text at the space nearest that share)."""
    text = u.text.strip()
    spaces = [i for i, ch in enumerate(text) if ch.isspace() and (i == 0 or not text[i - 1].isspace())]
    pos = spaces[word - 1]
    return round(u.start + u.duration * pos / max(1, len(text)), 3)


def words_of(u: Utterance) -> list[str]:
    return [w["text"].strip() for w in u.words] if len(u.words) > 1 else u.text.split()


def _operations(doc: Document, u: Utterance, edit: Edit) -> None:
    keys = table.speaker_keys(doc)
    after = next((v for v in doc.utterances if v.start > u.start), None)
    split_tab, merge_tab, speaker_tab, language_tab, insert_tab, times_tab = st.tabs(
        ["Split", "Merge or delete", "Speaker", "Language", "Insert a line", "Times"])
    with split_tab:
        words = words_of(u)
        if len(words) < 2:
            st.caption("This line has a single word; there is nothing to split.")
        else:
            at = st.pills("Split before the word", list(range(1, len(words))), key=f"review_split_word_{u.id}",
                          format_func=lambda i: words[i], help="The second line starts at this word")
            if st.button("Split here", key="review_split", disabled=at is None, icon=":material/content_cut:"):
                if len(u.words) > 1:
                    edit("split", f"Line {u.id} split before “{words[at]}”", utt_id=u.id, word=at)
                else:
                    edit("split", f"Line {u.id} split before “{words[at]}”", utt_id=u.id, at=word_split_time(u, at))
        c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
        at_time = c1.number_input("…or at a time (s)", min_value=float(u.start), max_value=float(u.end),
                                  value=round((u.start + u.end) / 2, 2), step=0.1, key=f"review_split_t_{u.id}")
        if c2.button("Split at this time", key="review_split_time"):
            edit("split", f"Line {u.id} split at {at_time:.2f} s", utt_id=u.id, at=at_time)
    with merge_tab:
        c1, c2 = st.columns(2)
        # Callbacks run before the page is drawn: one page run per click instead of two.
        c1.button("Merge with the next line", key="review_merge", icon=":material/merge:", disabled=after is None,
                  help="Join this line and the one after it into one line", on_click=edit,
                  args=("merge", f"Line {u.id} merged with the next"), kwargs={"utt_id": u.id, "in_callback": True})
        c2.button("Delete this line", key="review_delete", icon=":material/delete:", on_click=edit,
                  args=("delete", f"Line {u.id} deleted"), kwargs={"utt_id": u.id, "in_callback": True})
    with speaker_tab:
        names = {k: table.speaker_label(doc, k) for k in keys}
        new = "__new__"
        c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        who = c1.selectbox("Move this line to", [*names, new], key=f"review_move_who_{u.id}_{u.speaker}",
                           index=list(names).index(u.speaker) if u.speaker in names else 0,
                           format_func=lambda k: "A new speaker…" if k == new else names[k])
        name = c2.text_input("New speaker's name", key=f"review_move_name_{u.id}_{u.speaker}", disabled=who != new,
                             placeholder="e.g. Caller")
        target = name.strip() if who == new else who
        if c3.button("Move", key="review_move"):
            if not target:
                st.error("Type the new speaker's name first.", icon=":material/error:")
            elif target == u.speaker:
                st.info("This line is already theirs.", icon=":material/info:")
            else:
                edit("speaker", f"Line {u.id} now spoken by {names.get(target, target)}", utt_id=u.id, speaker=target)
    with language_tab:
        _language(doc, u, edit)
    with insert_tab:
        gap_start = u.end
        gap_end = after.start if after else max(doc.duration, u.end)
        c1, c2, c3 = st.columns(3)
        start = c1.number_input("New line starts at (s)", min_value=0.0, value=round(gap_start, 2), step=0.1,
                                key=f"review_ins_start_{u.id}")
        end = c2.number_input("New line ends at (s)", min_value=0.0, value=round(min(gap_end, gap_start + 2.0), 2), step=0.1,
                              key=f"review_ins_end_{u.id}")
        spk = c3.selectbox("Spoken by", keys, key=f"review_ins_speaker_{u.id}",
                           format_func=lambda k: table.speaker_label(doc, k),
                           index=keys.index(u.speaker) if u.speaker in keys else 0)
        c4, c5 = st.columns([4, 1], vertical_alignment="bottom")
        text = c4.text_input("Original text", key=f"review_ins_text_{u.id}", placeholder="What is said there")
        if c5.button("Insert line", key="review_insert", icon=":material/add:"):
            if not text.strip():
                st.error("Type what is said in the new line first.", icon=":material/error:")
            else:
                edit("add", "Line inserted", start=start, end=end, speaker=spk, text=text.strip())
        st.caption(f"The pause after this line runs {gap_start:.2f}–{gap_end:.2f} s.")
    with times_tab:
        c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        ns = c1.number_input("Start (s)", min_value=0.0, value=float(u.start), step=0.05, key=f"review_nudge_s_{u.id}")
        ne = c2.number_input("End (s)", min_value=0.0, value=float(u.end), step=0.05, key=f"review_nudge_e_{u.id}")
        if c3.button("Set times", key="review_nudge", disabled=(ns, ne) == (u.start, u.end)):
            edit("times", f"Line {u.id} now {ns:.2f}–{ne:.2f} s", utt_id=u.id, start=ns, end=ne)


def _language(doc: Document, u: Utterance, edit: Edit) -> None:
    """The line's spoken language, for when the machine heard it wrong (Czech as Polish): the line is
    then translated again from the language chosen."""
    current = u.language or doc.source_language
    codes = languages.sorted_codes(set(LANGUAGES) | {current})
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    code = c1.selectbox("Spoken in", codes, index=codes.index(current), format_func=languages.label,
                        key=f"review_language_{u.id}_{current}")
    if c2.button("Set language", key="review_language", disabled=code == current, icon=":material/translate:"):
        edit("language", f"Line {u.id} is now in {languages.name(code)}; its translation is made again from it",
             utt_id=u.id, language=code)
    st.caption("The machine's translation is made again from the language you choose; a translation you wrote "
               "stays. A line no translator here takes keeps the original audio until you write its translation.")
