"""Jobs: every job with its progress; open, cancel, delete. Polls only while a job is queued or running."""
from __future__ import annotations

import streamlit as st

from dubbing.errors import DubbingError
from dubbing.jobs import client
from dubbing.ui import common, languages

WIDTHS = [3, 1.5, 2.4, 1.7, 1.8]
HEADERS = ["File", "Status", "Progress", "Created", ""]

st.title("Jobs")


def act(fn, job_id: str, done: str) -> None:
    try:
        fn(job_id)
    except DubbingError as exc:
        common.show_error(exc)
        return
    st.toast(done)
    st.rerun()  # the whole page, so polling starts or stops with the job list


@st.cache_data(ttl=300, show_spinner=False)
def detected_source(job_id: str, updated: float | None) -> str | None:
    """The language the job found, once it has (the settings may say only "auto")."""
    doc = client.load_document(job_id)
    return doc.source_language if doc else None


def job_row(job: dict) -> None:
    jid = job["id"]
    settings = job.get("settings") or {}
    status = job.get("status")
    c = st.columns(WIDTHS, vertical_alignment="center")
    source = settings.get("source_language")
    if source in (None, "", languages.AUTO):
        source = detected_source(jid, job.get("updated")) or source
    pair = languages.pair_label(source, settings.get("target_language"))
    c[0].markdown(f"**{job.get('original_name', '?')}**  \n:gray[{pair} · {jid}]")
    c[1].markdown(common.status_badge(status))
    stage = common.stage_label(job.get("stage"))
    if status == "failed":
        reason = common.md_escape(short(job.get("error") or "no reason was recorded"))
        c[2].markdown(f":red[Failed at {stage or 'start'}:] {reason}", help=job.get("error") or None)
        log_tail(c[2], jid)
    elif common.cancelling(job):
        c[2].progress(common.fraction(job), text=f"cancelling… (stopping {stage or 'the job'})")
    else:
        text = {"awaiting_review": "waiting for your review", "completed": "done",
                "cancelled": f"stopped at {stage or 'start'}"}.get(status) or stage or "waiting for the worker"
        c[2].progress(common.fraction(job), text=text)
    took = common.fmt_seconds(common.job_seconds(job))
    what = "running" if status in common.ACTIVE else "machine time"
    c[3].markdown(f"{common.fmt_when(job.get('created'))}  \n:gray[{what} {took}]")
    with c[4].container(horizontal=True, horizontal_alignment="right", vertical_alignment="center", gap="small"):
        st.page_link(common.REVIEW_PAGE, label="Open", icon=":material/open_in_new:", query_params={"job": jid})
        if status == "cancelled" or (status == "failed" and common.retry_helps(job)):
            if st.button("", icon=":material/replay:", key=f"jobs_retry_{jid}",
                         help="Resume from the last finished stage" if status == "cancelled"
                         else "Retry from the failed stage (finished stages are kept)"):
                act(client.retry, jid, "Queued again")
        else:
            cancellable = status in (*common.ACTIVE, "awaiting_review") and not common.cancelling(job)
            if st.button("", icon=":material/stop_circle:", key=f"jobs_cancel_{jid}", disabled=not cancellable,
                         help="Cancel this job (finished stages are kept)"):
                act(client.cancel, jid, "Cancel requested")
        with st.popover("", icon=":material/delete:", help="Delete this job and all of its files"):
            st.write(f"Delete **{job.get('original_name')}** and all its files? This cannot be undone.")
            if st.button("Delete for good", key=f"jobs_delete_{jid}", type="primary"):
                act(client.delete, jid, "Job deleted")


LOG_LINES = 30  # enough for the end of a traceback and what the stage logged just before it


def log_tail(where, job_id: str) -> None:
    """A failed job's last log lines, folded away under its error: the one line above rarely says enough."""
    try:
        lines = client.log_tail(job_id, LOG_LINES)
    except DubbingError:  # deleted since the list was read
        return
    if lines:
        with where.expander("Log", icon=":material/description:"):
            st.code("\n".join(lines), language=None)


def short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def job_list(polling: bool) -> None:
    jobs = client.list_jobs()
    if not jobs:
        st.info("No jobs yet.", icon=":material/inbox:")
        st.page_link(common.NEW_PAGE, label="Start a new dub", icon=":material/add_circle:")
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
