"""Jobs: every job with its progress; open, cancel, delete. Polls only while a job is queued or running."""
from __future__ import annotations

import streamlit as st

from dubbing.errors import DubbingError
from dubbing.jobs import client
from dubbing.ui import common, languages

WIDTHS = [3, 1.8, 1.5, 2.6, 1.7, 1.1, 0.8, 0.9, 0.9]
HEADERS = ["File", "Languages", "Status", "Progress", "Created", "Duration", "", "", ""]

st.title("Jobs")


def act(fn, job_id: str, done: str) -> None:
    try:
        fn(job_id)
    except DubbingError as exc:
        common.show_error(exc)
        return
    st.toast(done)
    st.rerun()  # the whole page, so polling starts or stops with the job list


def job_row(job: dict) -> None:
    jid = job["id"]
    settings = job.get("settings") or {}
    status = job.get("status")
    c = st.columns(WIDTHS, vertical_alignment="center")
    c[0].markdown(f"**{job.get('original_name', '?')}**  \n:gray[{jid}]")
    c[1].write(languages.pair_label(settings.get("source_language"), settings.get("target_language")))
    c[2].write(common.status_label(status))
    if status in common.ACTIVE:
        c[3].progress(common.fraction(job), text=common.stage_label(job.get("stage")) or "waiting")
    elif status == "failed":
        c[3].write(f":red[{common.stage_label(job.get('stage')) or 'failed'}]")
    else:
        c[3].progress(common.fraction(job), text=common.stage_label(job.get("stage")) or "")
    c[4].write(common.fmt_when(job.get("created")))
    c[5].write(common.fmt_seconds(common.job_seconds(job)))
    c[6].page_link(common.REVIEW_PAGE, label="Open", query_params={"job": jid})
    cancellable = status in (*common.ACTIVE, "awaiting_review")
    if c[7].button("Cancel", key=f"jobs_cancel_{jid}", disabled=not cancellable,
                   help="Stop this job; finished stages are kept."):
        act(client.cancel, jid, "Cancel requested")
    with c[8].popover("Delete", help="Remove the job and all of its files"):
        st.write(f"Delete **{job.get('original_name')}** and all its files? This cannot be undone.")
        if st.button("Delete for good", key=f"jobs_delete_{jid}", type="primary"):
            act(client.delete, jid, "Job deleted")


def job_list(polling: bool) -> None:
    jobs = client.list_jobs()
    if not jobs:
        st.info("No jobs yet.", icon="📭")
        st.page_link(common.NEW_PAGE, label="Start a new dub", icon="➕")
        return
    head = st.columns(WIDTHS)
    for col, text in zip(head, HEADERS):
        if text:
            col.markdown(f"**{text}**")
    for job in jobs:
        with st.container(border=True):
            job_row(job)
    active = any(common.is_active(j) for j in jobs)
    if active != polling:
        st.rerun()  # start or stop the timer
    st.caption("Updating every second while a job runs." if active else "No job is running.")


polling = any(common.is_active(j) for j in client.list_jobs())
st.fragment(run_every=common.POLL_SECONDS if polling else None)(job_list)(polling)

with st.expander("Clean up"):
    days = st.number_input("Delete finished jobs older than (days)", min_value=1, value=30, step=1)
    if st.button("Delete old jobs"):
        n = client.cleanup(int(days))
        st.success(f"Deleted {n} job{'s' if n != 1 else ''}.")
