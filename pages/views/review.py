"""Review: one job's progress, its utterance table, edits, listening, rendering and downloads.

The job id lives in the URL (?job=<id>), so a reload, a second tab or a server
restart finds the same job. Edits in the table are applied by utterance id onto
the document as it is on disk when saved, and are saved before any action that
needs them (re-translate, approve, re-render), so nothing typed is lost.
"""
from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dubbing.errors import DubbingError
from dubbing.jobs import client
from dubbing.models import GENDERS, Document, stable_hash
from dubbing.ui import common, languages, outputs, table
from dubbing.ui.clips import dubbed_clip, original_clip
from dubbing.ui.engines import AUTO, speech_engine, voice_label, voice_options

st.title("Review")


# --- Which job ------------------------------------------------------------------------------------
def choose_job() -> None:
    jobs = client.list_jobs()
    if not jobs:
        st.info("There are no jobs yet.", icon=":material/inbox:")
        st.page_link(common.NEW_PAGE, label="Start a new dub", icon=":material/add_circle:")
        st.stop()
    labels = {j["id"]: f"{j.get('original_name')} · {common.status_label(j.get('status'))} · "
                       f"{common.fmt_when(j.get('created'))}" for j in jobs}
    jid = st.selectbox("Pick a job to review", list(labels), format_func=labels.get, key="review_pick")
    if st.button("Open", type="primary", key="review_open"):
        st.query_params["job"] = jid
        st.rerun()
    st.stop()


job_id = common.job_id_from_url()
if job_id is None:
    choose_job()
job = client.get(job_id)
if job is None:
    st.error(f"There is no job '{job_id}': it may have been deleted, or the link is mistyped. "
             "Open the Jobs page to pick one.", icon=":material/error:")
    st.page_link(common.JOBS_PAGE, label="Go to Jobs", icon=":material/list_alt:")
    st.stop()

settings = job.get("settings") or {}
doc = client.load_document(job_id)
source = doc.source_language if doc else settings.get("source_language")
st.markdown(f"### {job.get('original_name')}")
st.caption(f"{languages.pair_label(source, settings.get('target_language'))} · "
           f"{common.status_badge(job.get('status'))} · created {common.fmt_when(job.get('created'))} · job {job_id}")


def refresh_job(status: str) -> None:
    """While the job is queued or running: its progress, polled once a second without rerunning the page."""
    current = client.get(job_id)
    if current is None or current.get("status") != status:
        st.rerun()  # finished, paused for review, failed or deleted: redraw the whole page once
    common.progress_block(current)
    if st.button("Cancel this job", key="review_cancel"):
        try:
            client.cancel(job_id)
        except DubbingError as exc:
            common.show_error(exc)
        else:
            st.toast("Cancel requested; the job stops at the next safe point.")
    stages = common.stage_table(current)
    if stages:
        with st.expander("Stages"):
            st.dataframe(pd.DataFrame(stages), hide_index=True)


# The table is built from a snapshot of the document, so that row positions in the
# editor's delta keep meaning the same utterances while the file on disk changes.
VER, SNAP, STASH = f"review_ver_{job_id}", f"review_snap_{job_id}", f"review_stash_{job_id}"
ver = st.session_state.setdefault(VER, 0)
editor_key = f"review_editor_{job_id}_{ver}"


def edited_rows() -> dict:
    return (st.session_state.get(editor_key) or {}).get("edited_rows") or {}


def reload_table() -> None:
    """Start the table afresh from the file (after a save or an action)."""
    st.session_state[VER] = st.session_state.get(VER, 0) + 1
    st.session_state.pop(SNAP, None)


status = job.get("status")
if status in common.ACTIVE:
    if table.has_document_edits(edited_rows()) and SNAP in st.session_state:
        # Another tab started a render under unsaved edits: keep them until the job is editable again.
        st.session_state[STASH] = {"row_ids": [u["id"] for u in st.session_state[SNAP]["doc"]["utterances"]],
                                   "edited_rows": edited_rows()}
        reload_table()
    st.fragment(run_every=common.POLL_SECONDS)(refresh_job)(status)
    st.stop()


def retry_button(label: str) -> None:
    if st.button(label, key="review_retry", type="primary",
                 help="Run the job again from its last finished stage"):
        try:
            client.retry(job_id)
        except DubbingError as exc:
            common.show_error(exc)
        else:
            st.rerun()


if status == "failed":
    st.error(f"This job failed at “{common.stage_label(job.get('stage')) or 'start'}”: "
             f"{common.md_escape(job.get('error') or 'no reason was recorded')}", icon=":material/error:")
    st.markdown("If the message names something to fix (an engine, a model, disk space), fix it and retry: "
                "finished stages are kept. If the video itself is the problem, start a new dub with another file.")
    retry_button("Retry from the failed stage")
    if job.get("stages"):
        st.dataframe(pd.DataFrame(common.stage_table(job)), hide_index=True)
    st.page_link(common.NEW_PAGE, label="Start a new dub", icon=":material/add_circle:")
    st.stop()
if status == "cancelled":
    st.warning("This job was cancelled. Resume it, delete it on the Jobs page, or start a new dub.",
               icon=":material/cancel:")
    retry_button("Resume")
    st.page_link(common.NEW_PAGE, label="Start a new dub", icon=":material/add_circle:")
    st.stop()

if doc is None:
    st.warning("This job has no utterance list yet. Reload the page in a moment.",
               icon=":material/hourglass_top:")
    st.stop()

found = outputs.job_outputs(job)
job_dir = Path(job["job_dir"])

# --- The editor's snapshot --------------------------------------------------------------------------
disk_hash = stable_hash(doc.to_dict())
snap = st.session_state.get(SNAP)
if snap is None or (snap["hash"] != disk_hash and not table.has_document_edits(edited_rows())):
    if snap is not None:  # changed elsewhere, nothing unsaved here: show the new version
        reload_table()
        st.rerun()
    snap = st.session_state[SNAP] = {"hash": disk_hash, "doc": doc.to_dict()}
base = Document.from_dict(snap["doc"])
row_ids = [u.id for u in base.utterances]


def job_busy() -> bool:
    """Another tab may have started a render since this page was drawn."""
    now = client.get(job_id)
    if now and now.get("status") in common.ACTIVE:
        st.warning("This job is being processed (perhaps from another tab). Your edits are kept here; "
                   "save them when it has finished.", icon=":material/hourglass_top:")
        return True
    return False


def save_pending() -> bool:
    """Save the table's edits onto the current file; False (with the reasons shown) when they cannot be saved."""
    rows = edited_rows()
    if not table.has_document_edits(rows):
        return True
    if job_busy():
        return False
    fresh = client.load_document(job_id) or base
    new_doc, problems = table.apply_edits(fresh, row_ids, rows)
    if problems:
        st.error("Not saved; fix these in the table and save again:\n\n"
                 + "\n".join(f"- {common.md_escape(p)}" for p in problems),
                 icon=":material/error:")
        return False
    try:
        client.save_document(job_id, new_doc)
    except DubbingError as exc:
        common.show_error(exc)
        return False
    return True


def change_document(change, done: str) -> None:
    """Save the table's edits, then `change(doc) -> (doc, problems)` on the current file, and save that."""
    def apply() -> None:
        new_doc, problems = change(client.load_document(job_id))
        if problems:
            raise DubbingError("; ".join(problems))
        client.save_document(job_id, new_doc)
    run_action(apply, done)


def run_action(fn, done: str) -> None:
    """Save edits, then run `fn` (queue an action on the job, or change the document); errors are shown."""
    if not save_pending() or job_busy():
        return
    try:
        fn()
    except DubbingError as exc:
        common.show_error(exc)
        return
    reload_table()
    st.toast(done)
    st.rerun()


# --- Video and downloads ----------------------------------------------------------------------------
def show_result() -> None:
    st.subheader("Result")
    subtitles = outputs.subtitle_files(found, "vtt") or outputs.subtitle_files(found, "srt")
    subs = {languages.name(lang): str(path) for lang, path in subtitles.items()}
    v1, v2 = st.columns(2)
    if "dubbed_mp4" in found:
        v1.markdown("**Dubbed video**")
        v1.video(str(found["dubbed_mp4"]), subtitles=subs or None)
    else:
        v1.info("The dubbed video appears here once it is rendered.", icon=":material/movie:")
    if "preview_mp4" in found:
        v2.markdown("**Preview (first 30 s)**")
        v2.video(str(found["preview_mp4"]))

    names = [n for n in ("dubbed_mp4", "dubbed_audio") if n in found]
    names += sorted(n for n in found if n.startswith("subtitles_"))
    names += [n for n in ("preview_mp4", "utterances", "report") if n in found]
    if names:
        st.markdown("**Downloads**")
        cols = st.columns(4)
        for i, name in enumerate(names):
            path = found[name]
            # A callable: the file is read only when someone clicks, not on every rerun.
            cols[i % 4].download_button(
                outputs.download_label(name, base.source_language, base.target_language),
                data=lambda p=path: p.read_bytes(), file_name=outputs.download_name(job, name, path),
                mime=outputs.mime(path), key=f"review_dl_{name}", on_click="ignore", width="stretch")


# --- The utterance table --------------------------------------------------------------------------
tts_engine = speech_engine(base.engines, settings.get("tts") or AUTO, base.target_language)
voices = voice_options(tts_engine, base.target_language)
in_use = {base.voice_of(u) for u in base.utterances} | {s.voice for s in base.speakers.values()}
voice_values = list(voices) + sorted(v for v in in_use if v and v not in voices)
speaker_keys = table.speaker_keys(base)

stash = st.session_state.get(STASH)
if stash:
    c1, c2, c3 = st.columns([5, 1, 1], vertical_alignment="center")
    c1.warning(f"You had unsaved edits on {len(stash['edited_rows'])} line(s) when this job started processing "
               "(from another tab). Apply them to the current version?", icon=":material/history:")
    if c2.button("Apply them", key="review_stash_apply", type="primary"):
        st.session_state.pop(STASH, None)
        change_document(lambda d: table.apply_edits(d, stash["row_ids"], stash["edited_rows"]), "Edits applied")
        st.session_state[STASH] = stash  # still here when they could not be applied
    if c3.button("Discard them", key="review_stash_discard"):
        st.session_state.pop(STASH, None)
        st.rerun()

if snap["hash"] != disk_hash:
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.warning("This job changed since you started editing (another tab, a re-translation or a render). "
               "Saving applies your edits, line by line, on top of the new version.", icon=":material/merge:")
    if c2.button("Discard my edits", key="review_discard"):
        reload_table()
        st.rerun()

if job.get("error"):  # the last action (a re-translation, a render) failed; the job itself is still usable
    st.warning(f"The last action did not finish: {common.md_escape(job['error'])}", icon=":material/warning:")
if status == "awaiting_review":
    st.info("Check the transcript and translation, then **Approve and render** to make the voices.",
            icon=":material/rate_review:")
elif status == "completed" and outputs.is_stale(found):
    st.warning("Edits were saved after the video was made: **Re-render changes** to update it.",
               icon=":material/autorenew:")
if status == "completed":
    show_result()

st.subheader(f"Utterances ({len(base.utterances)})")
st.caption("Double-click a cell to edit. Tick rows in the first column to re-translate them. "
           "Overrun marks lines that did not fit their slot even when sped up.")
frame = table.document_frame(base)
st.data_editor(
    frame, key=editor_key, num_rows="fixed", hide_index=True, disabled=table.READ_ONLY, width="stretch",
    column_order=table.COLUMNS,
    column_config={
        "id": st.column_config.NumberColumn("#", width=40, pinned=True),
        "pick": st.column_config.CheckboxColumn("✓", width=46, pinned=True,
                                                help="Pick rows for “Re-translate picked rows”"),
        "start": st.column_config.NumberColumn("Start", format="%.2f", min_value=0.0, step=0.01, width=72),
        "end": st.column_config.NumberColumn("End", format="%.2f", min_value=0.0, step=0.01, width=72),
        "speaker": st.column_config.SelectboxColumn(
            "Speaker", options=speaker_keys, required=True, width=115,
            format_func=lambda k: table.speaker_label(base, k)),
        "gender": st.column_config.SelectboxColumn("Gender", options=list(GENDERS), required=True, width=90),
        "text": st.column_config.TextColumn("Original", width=220),
        "translated_text": st.column_config.TextColumn("Translation", width=250),
        "voice": st.column_config.SelectboxColumn(
            "Voice", options=[table.AUTO_VOICE] + voice_values, width=140,
            format_func=lambda v: voice_label(voices, v)),
        "speed": st.column_config.NumberColumn("Speed", format="%.2f×", width=70,
                                               help="How much the speech was sped up to fit"),
        "overrun": st.column_config.CheckboxColumn("Overrun", width=80,
                                                   help="Still too long for its slot at the fastest speed"),
        "muted": st.column_config.CheckboxColumn("Mute", width=64, help="Keep the original audio for this line"),
    },
)

dirty = table.has_document_edits(edited_rows())
picked = table.picked_ids(row_ids, edited_rows())
bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
if bar.button("Save edits", key="review_save", disabled=not dirty, type="primary" if dirty else "secondary"):
    if save_pending():
        reload_table()
        st.toast("Edits saved")
        st.rerun()
if bar.button(f"Re-translate picked ({len(picked)})", key="review_retranslate", disabled=not picked,
              help="Machine-translate the picked lines again from their original text"):
    run_action(lambda: client.retranslate(job_id, picked), f"Re-translating {len(picked)} line(s)")
if status == "awaiting_review":
    if bar.button("Approve and render", key="review_approve", type="primary"):
        run_action(lambda: client.approve(job_id), "Rendering the dub")
else:
    stale = dirty or outputs.is_stale(found) or "dubbed_mp4" not in found
    if bar.button("Re-render changes", key="review_rerender", type="primary" if stale else "secondary",
                  help="Re-make only the lines that changed, then the mix, video and subtitles"):
        run_action(lambda: client.rerender(job_id), "Re-rendering what changed")
if bar.button("Preview first 30 s", key="review_preview",
              help="Render only the first ~30 seconds to preview.mp4, for a quick look"):
    run_action(lambda: client.rerender(job_id, preview=True), "Rendering a 30 s preview")
bar.caption(":orange[Unsaved edits: they are saved before any action.]" if dirty else "No unsaved edits.")

# --- Speakers ---------------------------------------------------------------------------------------
with st.expander("Speakers: rename, or set a voice for all of a speaker's lines"):
    counts = {k: sum(1 for u in base.utterances if u.speaker == k) for k in speaker_keys}
    st.dataframe(pd.DataFrame([{
        "Speaker": table.speaker_label(base, k), "Id": k, "Lines": counts[k],
        "Gender": base.speakers[k].gender if k in base.speakers else "",
        "Voice": voice_label(voices, base.speakers[k].voice) if k in base.speakers else "",
    } for k in speaker_keys]), hide_index=True)
    s1, s2, s3 = st.columns([1, 1, 1])
    who = s1.selectbox("Speaker", speaker_keys, key=f"review_spk_{job_id}",
                       format_func=lambda k: table.speaker_label(base, k))
    new_name = s2.text_input("New name", key=f"review_spk_name_{job_id}", placeholder="e.g. Narrator")
    if s2.button("Rename", key="review_rename", disabled=not who):
        change_document(lambda d: (d, table.rename_speaker(d, who, new_name)), f"Renamed to {new_name.strip()}")
    current_voice = base.speakers[who].voice if who in base.speakers else ""
    voice_choices = [""] + voice_values  # "": matched to the speaker's gender when voices are made
    new_voice = s3.selectbox("Voice for all their lines", voice_choices, key=f"review_spk_voice_{job_id}_{who}",
                             index=voice_choices.index(current_voice) if current_voice in voice_choices else 0,
                             format_func=lambda v: voice_label(voices, v))
    if s3.button("Use this voice", key="review_set_voice", disabled=not who):
        def use_voice(d: Document) -> tuple[Document, list[str]]:
            table.set_speaker_voice(d, who, new_voice)
            return d, []
        change_document(use_voice, f"{table.speaker_label(base, who)} now speaks in {voice_label(voices, new_voice)}")

# --- Listen -----------------------------------------------------------------------------------------
with st.expander("Listen to one utterance", expanded=False):
    if base.utterances:
        by_id = {u.id: u for u in base.utterances}
        uid = st.selectbox(
            "Utterance", row_ids, key=f"review_listen_{job_id}",
            format_func=lambda i: f"#{i} · {by_id[i].start:.2f}–{by_id[i].end:.2f} s · "
                                  f"{table.speaker_label(base, by_id[i].speaker)}: {table.short_text(by_id[i].text)}")
        utt = by_id[uid]
        l1, l2 = st.columns(2)
        l1.markdown(f"**Original** ({languages.name(base.source_language)})  \n{utt.text}")
        orig = original_clip(job_dir, utt)
        if orig:
            l1.audio(orig, format="audio/wav")
        else:
            l1.caption("The original audio is not available.")
        l2.markdown(f"**Dubbed** ({languages.name(base.target_language)})  \n{utt.translated_text}")
        clip = dubbed_clip(job_dir, utt)
        if clip:
            l2.audio(str(clip), format="audio/wav")
            if utt.overrun:
                l2.caption(f":orange[Overruns its slot by {utt.overrun_seconds:.2f} s even at {utt.speed:.2f}×.]")
        else:
            l2.caption("No speech made for this line yet: approve and render (or re-render) first.")

# --- Timeline ---------------------------------------------------------------------------------------
st.subheader("Timeline")
tl = table.timeline_frame(base)
if not tl.empty:
    chart = alt.Chart(tl).mark_bar(cornerRadius=3, height=18).encode(
        x=alt.X("start:Q", title="seconds", scale=alt.Scale(domain=[0, max(base.duration, float(tl["end"].max()))])),
        x2="end:Q",
        y=alt.Y("speaker:N", title=None),
        color=alt.Color("overrun:N", title=None, scale=alt.Scale(
            domain=["fits", "overrun", "muted"], range=["#4c78a8", "#e45756", "#bab0ac"])),
        tooltip=["id", "speaker", alt.Tooltip("start:Q", format=".2f"), alt.Tooltip("end:Q", format=".2f"),
                 "text", "translation", "speed"],
    ).properties(height=max(90, 45 * tl["speaker"].nunique()))
    st.altair_chart(chart, width="stretch")

if status != "completed":
    show_result()

with st.expander("Import an edited utterances JSON"):
    st.caption("Upload an utterances.json downloaded from this job and edited elsewhere; it replaces the current "
               "lines. Then re-render (or approve).")
    gen = st.session_state.setdefault(f"review_import_gen_{job_id}", 0)
    up = st.file_uploader("utterances.json", key=f"review_import_{job_id}_{gen}", type=["json"])
    if up is not None:
        try:
            imported = Document.from_dict(json.loads(up.getvalue().decode("utf-8")))
        except UnicodeDecodeError:
            st.error("That file is not text: upload the utterances.json you downloaded from this page.",
                     icon=":material/error:")
        except json.JSONDecodeError as exc:
            st.error(f"That file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                     "fix it or download the utterances again.", icon=":material/error:")
        except (ValueError, KeyError, TypeError) as exc:
            st.error(f"That file is not an utterances document ({common.md_escape(str(exc))}); "
                     "upload the utterances.json downloaded from this page.", icon=":material/error:")
        else:
            problems = imported.validate()
            if imported.target_language != base.target_language:
                problems.append(f"it is for {languages.name(imported.target_language)}, but this job dubs into "
                                f"{languages.name(base.target_language)}")
            if problems:
                st.error("Not imported: " + common.md_escape("; ".join(problems)), icon=":material/error:")
            elif st.button(f"Replace {len(base.utterances)} lines with the {len(imported.utterances)} imported",
                           key="review_import_apply", type="primary") and not job_busy():
                try:
                    client.save_document(job_id, imported, base_revision=base.revision)
                except DubbingError as exc:
                    common.show_error(exc)
                else:
                    st.session_state[f"review_import_gen_{job_id}"] = gen + 1
                    reload_table()
                    st.toast("Imported")
                    st.rerun()

report = outputs.read_report(found)
with st.expander("Timing per stage"):
    rows = outputs.timing_rows(report, common.stage_label) if report else common.stage_table(job)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        if report:
            rtf = report.get("real_time_factor")
            st.caption(f"Last run: {common.fmt_seconds(report.get('total_seconds'))}"
                       + (f", {rtf}× real time" if rtf else "")
                       + f"; {report.get('utterances_remade', 0)} line(s) re-made; "
                       f"peak memory {report.get('peak_rss_mb', 0):.0f} MB.")
    else:
        st.caption("No timings yet.")
