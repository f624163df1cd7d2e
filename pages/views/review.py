"""Review: one job's progress, and the reviewer's workbench for its lines.

The job id lives in the URL (?job=<id>), so a reload, a second tab or a server
restart finds the same job. Edits in the table are applied by utterance id onto
the document as it is on disk when saved, and are saved before any action that
needs them (re-translate, approve, re-render, a structural edit), so nothing typed
is lost. A copy of unsaved edits outlives the table (leaving the page drops a
widget's state), so coming back offers them again.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dubbing.errors import DubbingError, RevisionConflict
from dubbing.jobs import client
from dubbing.models import Document, stable_hash
from dubbing.ui import common, languages, line_pane, outputs, speakers_panel, status, table, timeline
from dubbing.ui.engines import AUTO, speech_engine, voice_options



# --- Which job ------------------------------------------------------------------------------------
def choose_job() -> None:
    st.title("Review")
    jobs = client.list_jobs()
    if not jobs:
        st.info("There are no jobs yet.", icon=":material/inbox:")
        st.page_link(common.NEW_PAGE, label="Start a new dub", icon=":material/add_circle:")
        st.stop()
    # The job waiting for a person comes first: that is the one a reviewer is here for.
    jobs = sorted(jobs, key=lambda j: j.get("status") != "awaiting_review")
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
    st.title("Review")
    st.error(f"There is no job '{job_id}': it may have been deleted, or the link is mistyped. "
             "Open the Jobs page to pick one.", icon=":material/error:")
    st.page_link(common.JOBS_PAGE, label="Go to Jobs", icon=":material/list_alt:")
    st.stop()

settings = job.get("settings") or {}
doc = client.load_document(job_id)
source = doc.source_language if doc else settings.get("source_language")
st.markdown(f"## Review · {common.md_escape(job.get('original_name') or '')}")
st.caption(f"{languages.pair_label(source, settings.get('target_language'))} · "
           f"{common.status_badge(job.get('status'))} · created {common.fmt_when(job.get('created'))} · job {job_id}")


def refresh_job(status_now: str) -> None:
    """While the job is queued or running: its progress, polled once a second without rerunning the page."""
    current = client.get(job_id)
    if current is None or current.get("status") != status_now:
        st.rerun()  # finished, paused for review, failed or deleted: redraw the whole page once
    common.progress_block(current)
    if st.button("Cancel this job", key="review_cancel", disabled=common.cancelling(current)):
        try:
            client.cancel(job_id)
        except DubbingError as exc:
            common.show_error(exc)
        else:
            st.rerun(scope="fragment")  # show "Cancelling…" at once
    stages = common.stage_table(current)
    if stages:
        with st.expander("Stages"):
            st.dataframe(pd.DataFrame(stages), hide_index=True)


# The table is built from a snapshot of the document, so that row positions in the
# editor's delta keep meaning the same utterances while the file on disk changes.
VER, SNAP, STASH = f"review_ver_{job_id}", f"review_snap_{job_id}", f"review_stash_{job_id}"
UNDO, SEEN, LINE = f"review_undo_{job_id}", f"review_seen_{job_id}", f"review_line_{job_id}"
CONFLICT, GOTO = f"review_conflict_{job_id}", f"review_goto_{job_id}"
ver = st.session_state.setdefault(VER, 0)
editor_key = f"review_editor_{job_id}_{ver}"


def edited_rows() -> dict:
    return (st.session_state.get(editor_key) or {}).get("edited_rows") or {}


def reload_table() -> None:
    """Start the table afresh from the file (after a save or an action)."""
    st.session_state[VER] = st.session_state.get(VER, 0) + 1
    st.session_state.pop(SNAP, None)
    st.session_state.pop(SEEN, None)


def stash_edits() -> None:
    """Keep a copy of the unsaved edits outside the table's widget state, which dies when the page is left.

    The copy goes only when they are saved or discarded, never because the table came back empty.
    """
    rows = edited_rows()
    snap_now = st.session_state.get(SNAP)
    if table.has_document_edits(rows) and snap_now:
        st.session_state[STASH] = {"row_ids": [u["id"] for u in snap_now["doc"]["utterances"]],
                                   "edited_rows": {k: {c: v for c, v in ch.items() if c != "pick"}
                                                   for k, ch in rows.items() if set(ch) - {"pick"}}}


status_now = job.get("status")
if status_now in common.ACTIVE:
    if table.has_document_edits(edited_rows()):
        # Another tab started a render under unsaved edits: keep them until the job is editable again.
        stash_edits()
        reload_table()
    st.fragment(run_every=common.POLL_SECONDS)(refresh_job)(status_now)
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


if status_now == "failed":
    st.error(f"This job failed at “{common.stage_label(job.get('stage')) or 'start'}”: "
             f"{common.md_escape(job.get('error') or 'no reason was recorded')}", icon=":material/error:")
    if common.retry_helps(job):
        st.markdown("If the message names something to fix (an engine, a model, disk space), fix it and retry: "
                    "finished stages are kept.")
        retry_button("Retry from the failed stage")
    else:
        st.markdown("The video itself is the problem, so running it again would fail the same way: "
                    "start a new dub with another file.")
    if job.get("stages"):
        st.dataframe(pd.DataFrame(common.stage_table(job)), hide_index=True)
    st.page_link(common.NEW_PAGE, label="Start a new dub", icon=":material/add_circle:")
    st.stop()
if status_now == "cancelled":
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
statuses = status.line_statuses(job_dir, doc)


def job_busy() -> bool:
    """Another tab may have started a render since this page was drawn."""
    now = client.get(job_id)
    if now and now.get("status") in common.ACTIVE:
        st.warning("This job is being processed (perhaps from another tab). Your edits are kept here; "
                   "save them when it has finished.", icon=":material/hourglass_top:")
        return True
    return False


def show_save_error(exc: Exception, *, rerun: bool = True) -> None:
    if isinstance(exc, RevisionConflict):
        st.session_state[CONFLICT] = str(getattr(exc, "message", exc))
        if rerun:
            st.rerun()  # the message sits above the table
    else:
        common.show_error(exc)


def remember(before: Document | None) -> None:
    """Keep the document as it was before an edit, for Undo (the last 20 in this session)."""
    if before is not None:
        stack = st.session_state.setdefault(UNDO, [])
        stack.append(before.to_dict())
        del stack[:-20]


def save(new_doc: Document) -> None:
    """Save a whole document (on the revision it was loaded at), remembering the one it replaces for Undo."""
    before = client.load_document(job_id)
    client.save_document(job_id, new_doc)
    remember(before)


def structural(op: str, done: str, *, in_callback: bool = False, **args) -> None:
    """One edit from dubbing.edits through the runner (which gives a new speaker a gender and a voice, and
    queues the translation of new lines), based on the revision this page shows."""
    had_edits = table.has_document_edits(edited_rows())

    def apply() -> None:
        before = client.load_document(job_id)
        base_revision = before.revision if had_edits else snap["doc"].get("revision", before.revision)
        result = client.edit(job_id, op, base_revision=base_revision, **args)
        remember(before)
        if result.created:
            st.session_state[GOTO] = result.created[0]
    run_action(apply, done, in_callback=in_callback)


def retranslate_edited() -> int:
    """Queue the re-translation of lines whose original was edited (so the reviewer sees it before voicing)."""
    current = client.load_document(job_id)
    ids = status.out_of_date(status.line_statuses(job_dir, current)) if current else []
    if ids:
        client.retranslate(job_id, ids)
    return len(ids)


def save_pending(*, in_callback: bool = False) -> bool:
    """Save the table's edits onto the current file; False (with the reasons shown) when they cannot be saved."""
    rows = edited_rows()
    if not table.has_document_edits(rows):
        return True
    if job_busy():
        return False
    fresh = client.load_document(job_id) or base
    clashes = table.changed_elsewhere(base, fresh, row_ids, rows)
    if clashes:
        st.session_state[CONFLICT] = (f"line(s) {', '.join(map(str, clashes))} changed since you opened them; "
                                      "your edits are kept until you reload")
        if not in_callback:
            st.rerun()  # the message sits above the table
        return False
    new_doc, problems = table.apply_edits(fresh, row_ids, rows)
    if problems:
        st.error("Not saved; fix these in the table and save again:\n\n"
                 + "\n".join(f"- {common.md_escape(p)}" for p in problems),
                 icon=":material/error:")
        return False
    try:
        save(new_doc)
    except DubbingError as exc:
        show_save_error(exc, rerun=not in_callback)
        return False
    st.session_state.pop(STASH, None)
    return True


def run_action(fn, done: str, *, in_callback: bool = False) -> None:
    """Save edits, then run `fn` (queue an action on the job, or change the document); errors are shown.

    From a button's callback (which runs before the page is drawn) the page needs no second run.
    """
    if not save_pending(in_callback=in_callback) or job_busy():
        return
    try:
        fn()
    except DubbingError as exc:
        show_save_error(exc, rerun=not in_callback)
        return
    reload_table()
    st.toast(done)
    if not in_callback:
        st.rerun()


def change_document(change, done: str) -> None:
    """Save the table's edits, then `change(doc) -> (doc, problems)` on the current file, and save that.

    A change that leaves an edited original is re-translated at once, so the new translation is on
    screen before anything is voiced.
    """
    def apply() -> None:
        new_doc, problems = change(client.load_document(job_id))
        if problems:
            raise DubbingError("; ".join(problems))
        save(new_doc)
        retranslate_edited()
    run_action(apply, done)


def undo() -> None:
    stack = st.session_state.get(UNDO) or []
    if not stack:
        return
    previous = Document.from_dict(stack[-1])

    def apply() -> None:
        current = client.load_document(job_id)
        client.save_document(job_id, _on_current_revision(previous, current))
        stack.pop()
    run_action(apply, "Undone")


def _on_current_revision(old: Document, current: Document | None) -> Document:
    """The old content, saved as a new revision on top of the current file (a save must name its base)."""
    if current is not None:
        old.revision = current.revision
    return old


# --- Messages about the job as a whole -------------------------------------------------------------
conflict = st.session_state.get(CONFLICT)
if conflict:
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.error(f"Someone else changed this job: reload. ({common.md_escape(conflict.removeprefix('someone else changed this job: reload '))})",
             icon=":material/sync_problem:")
    if c2.button("Reload", key="review_conflict_reload", type="primary"):
        st.session_state.pop(CONFLICT, None)
        st.session_state.pop(STASH, None)
        reload_table()
        st.rerun()

stash = st.session_state.get(STASH)
if stash and not table.has_document_edits(edited_rows()):
    c1, c2, c3 = st.columns([5, 1, 1], vertical_alignment="center")
    c1.warning(f"You have unsaved edits on {len(stash['edited_rows'])} line(s) from before (you left the page, "
               "or the job was processed from another tab). Apply them to the current version?",
               icon=":material/history:")
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
        st.session_state.pop(STASH, None)
        reload_table()
        st.rerun()

if job.get("error"):  # the last action (a re-translation, a render) failed; the job itself is still usable
    st.warning(f"The last action did not finish: {common.md_escape(job['error'])}", icon=":material/warning:")
stale_lines = [uid for uid, s in statuses.items() if s in (status.NEEDS_VOICING, status.OUT_OF_DATE)]
if status_now == "awaiting_review":
    st.info("Check the transcript and translation, then **Approve and render** to make the voices.",
            icon=":material/rate_review:")
if status_now in ("awaiting_review", "completed"):
    for warning in status.structure_warnings(job_dir, base):
        st.warning(warning[0].upper() + warning[1:] + ".", icon=":material/hearing:")
if status_now == "completed" and stale_lines:
    st.warning(f"{len(stale_lines)} line(s) changed after the video was made: **Re-render changes** to "
               "update it.", icon=":material/autorenew:")

# --- Timeline, linked with the table and the line below ----------------------------------------------
selected = st.session_state.pop(GOTO, None) or st.session_state.get(LINE)
if selected not in row_ids:
    selected = row_ids[0] if row_ids else None
newly = table.newly_picked(row_ids, edited_rows(), st.session_state.get(SEEN, []))
st.session_state[SEEN] = table.picked_ids(row_ids, edited_rows())
if newly is not None:
    selected = newly
st.session_state[LINE] = selected

if base.utterances:
    timeline.show(base, statuses, selected, key=f"review_timeline_{job_id}", line_key=LINE)

# --- The utterance table --------------------------------------------------------------------------
st.subheader(f"Lines ({len(base.utterances)})")
st.caption("Double-click a cell to edit. Tick a row's box to open it below (and pick it for re-translation); "
           "click a bar in the timeline to do the same.")
frame = table.document_frame(base, statuses if snap["hash"] == disk_hash else status.line_statuses(job_dir, base),
                             status.label)
st.data_editor(
    frame, key=editor_key, num_rows="fixed", hide_index=True, disabled=table.READ_ONLY, width="stretch",
    column_order=table.COLUMNS,
    column_config={
        "id": st.column_config.NumberColumn("#", width=36, pinned=True),
        "pick": st.column_config.CheckboxColumn("✓", width=36, pinned=True,
                                                help="Open this line below; picked lines can be re-translated"),
        "status": st.column_config.TextColumn("Status", width=125, help="Where this line stands"),
        "start": st.column_config.NumberColumn("Start", format="%.2f", min_value=0.0, step=0.01, width=60),
        "end": st.column_config.NumberColumn("End", format="%.2f", min_value=0.0, step=0.01, width=60),
        "speaker": st.column_config.SelectboxColumn(
            "Speaker", options=table.speaker_keys(base), required=True, width=105,
            format_func=lambda k: table.speaker_label(base, k)),
        "text": st.column_config.TextColumn("Original", width=270),
        "translated_text": st.column_config.TextColumn("Translation", width=300),
        "speed": st.column_config.NumberColumn("Speed", format="%.2f×", width=58,
                                               help="How much the speech was sped up to fit"),
        "muted": st.column_config.CheckboxColumn("Mute", width=66, help="Keep the original audio for this line"),
    },
)

dirty = table.has_document_edits(edited_rows())
stash_edits()
picked = table.picked_ids(row_ids, edited_rows())
out_of_date = status.out_of_date(statuses)
bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
bar.button("Save edits", key="review_save", disabled=not dirty, icon=":material/save:",
           help="Save the table; an edited original is translated again at once",
           on_click=lambda: run_action(retranslate_edited, "Edits saved", in_callback=True))
if bar.button("Undo", key="review_undo", icon=":material/undo:", disabled=not st.session_state.get(UNDO),
              help="Put back the lines as they were before your last saved edit"):
    undo()
if bar.button(f"Re-translate picked ({len(picked)})", key="review_retranslate", disabled=not picked,
              help="Machine-translate the picked lines again from their original text"):
    run_action(lambda: client.retranslate(job_id, picked), f"Re-translating {len(picked)} line(s)")
if out_of_date and bar.button(f"Translate {len(out_of_date)} edited line(s)", key="review_translate_stale",
                              help="Their original was edited after they were translated"):
    run_action(lambda: client.retranslate(job_id, out_of_date), "Translating")
if status_now == "awaiting_review":
    if bar.button("Approve and render", key="review_approve", type="primary", icon=":material/check:",
                  disabled=bool(out_of_date),
                  help="Translate the edited lines first" if out_of_date else "Make the voices and the video"):
        run_action(lambda: client.approve(job_id), "Rendering the dub")
else:
    stale = dirty or bool(stale_lines) or "dubbed_mp4" not in found
    if bar.button("Re-render changes", key="review_rerender", type="primary" if stale else "secondary",
                  help="Re-make only the lines that changed, then the mix, video and subtitles"):
        run_action(lambda: client.rerender(job_id), "Re-rendering what changed")
if bar.button("Preview first 30 s", key="review_preview",
              help="Render only the first ~30 seconds to preview.mp4, for a quick look"):
    run_action(lambda: client.rerender(job_id, preview=True), "Rendering a 30 s preview")
bar.caption(":orange[Unsaved edits: save them before leaving this page (they are saved before any action).]"
            if dirty else "No unsaved edits.")
common.warn_before_leaving(dirty)

# --- The selected line: full text, listening, the video there, structural edits ----------------------
if selected is not None:
    line_pane.show(job_dir, base, found, statuses, LINE, structural)

# --- Speakers --------------------------------------------------------------------------------------
tts_engine = speech_engine(base.engines, settings.get("tts") or AUTO, base.target_language)
speakers_panel.show(job_id, base, voice_options(tts_engine, base.target_language), change_document, run_action,
                    job_dir=job_dir)

# --- Results, import, timings ----------------------------------------------------------------------
if found:
    with st.expander(f"Downloads ({len(found)})" + (" and the 30 s preview" if "preview_mp4" in found else "")):
        outputs.download_buttons(job, found, base)
        if "preview_mp4" in found:
            st.video(str(found["preview_mp4"]), width=480)

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
                    imported.revision = base.revision  # replaces what this page shows; refused if that moved on
                    save(imported)
                except DubbingError as exc:
                    show_save_error(exc)
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
