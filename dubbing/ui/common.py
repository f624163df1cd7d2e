"""Streamlit pieces every page uses: the job in the URL, status labels, progress, times."""
from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import streamlit as st

from ..engines import registry
from ..pipeline import STAGE_LABELS  # the words the worker's progress messages use

def run_app() -> None:
    """Run app.py (its navigation picks the page from the URL); for the entry files in pages/."""
    import runpy
    from pathlib import Path
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"), run_name="__main__")


REVIEW_PAGE = "pages/views/review.py"
JOBS_PAGE = "pages/views/jobs.py"
NEW_PAGE = "pages/views/new_dub.py"

ACTIVE = ("queued", "running")
# status -> (words, icon, badge colour)
STATUSES = {
    "queued": ("Queued", ":material/schedule:", "gray"),
    "running": ("Running", ":material/autorenew:", "blue"),
    "awaiting_review": ("Awaiting review", ":material/rate_review:", "orange"),
    "completed": ("Completed", ":material/check_circle:", "green"),
    "failed": ("Failed", ":material/error:", "red"),
    "cancelled": ("Cancelled", ":material/cancel:", "gray"),
}
POLL_SECONDS = 1.0


def job_id_from_url() -> str | None:
    value = st.query_params.get("job")
    return value.strip() if value and value.strip() else None


def open_review(job_id: str) -> None:
    st.switch_page(REVIEW_PAGE, query_params={"job": job_id})


def status_label(status: str | None) -> str:
    """Plain words, for select boxes and captions."""
    return STATUSES.get(status or "", (status or "unknown",))[0]


def status_badge(status: str | None) -> str:
    """A coloured badge with an icon, for Markdown."""
    words, icon, color = STATUSES.get(status or "", (status or "unknown", ":material/help:", "gray"))
    return f":{color}-badge[{icon} {words}]"


def stage_label(stage: str | None) -> str:
    return STAGE_LABELS.get(stage or "", stage or "")


def is_active(job: dict[str, Any] | None) -> bool:
    return bool(job) and job.get("status") in ACTIVE


def fraction(job: dict[str, Any]) -> float:
    """Overall progress 0..1 from the record's percent (0..100)."""
    try:
        pct = float(job.get("percent") or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return min(1.0, max(0.0, pct / 100.0))


def _epoch(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def fmt_when(value: Any) -> str:
    ts = _epoch(value)
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else ""


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def job_seconds(job: dict[str, Any]) -> float | None:
    """Wall time from creation to the end (or to now while it runs, or to its last change while it waits)."""
    start = _epoch(job.get("created"))
    if start is None:
        return None
    if is_active(job):
        end = time.time()
    else:
        end = _epoch(job.get("finished")) or _epoch(job.get("updated")) or time.time()
    return max(0.0, end - start)


# What turns plain text into formatting mid-line: emphasis, code, links, HTML, LaTeX, :directives:.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|:])")


def md_escape(text: str) -> str:
    """Text shown as-is inside Markdown (engine messages hold paths, <src> and DUBBING_MODELS_DIR)."""
    return _MD_SPECIAL.sub(r"\\\1", text or "")


def show_error(exc: Exception) -> None:
    """A user-caused error: its own message says what to do."""
    st.error(md_escape(getattr(exc, "message", None) or str(exc)), icon=":material/error:")


@st.cache_data(ttl=120, show_spinner="Checking engines…")
def engine_rows() -> list[dict[str, Any]]:
    """The registry's description of every engine (cached: availability checks read the disk)."""
    return registry.describe_all()


def stage_table(job: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in job.get("stages") or []:
        rows.append({
            "Stage": stage_label(s.get("name")),
            "Status": s.get("status", ""),
            "Tries": s.get("attempts", 0),
            "Seconds": round(float(s.get("seconds") or 0.0), 2),
            "Peak memory (MB)": round(float(s.get("peak_rss_mb") or 0.0), 1),
        })
    return rows


def progress_block(job: dict[str, Any]) -> None:
    """Progress bar with the current stage and message, and how far along the stages are."""
    stage = stage_label(job.get("stage"))
    message = job.get("message") or ""
    words = f"{stage}: {message}" if stage and message and message.lower() != stage.lower() else (stage or message)
    st.progress(fraction(job), text=f"{fraction(job):.0%} · {words}" if words else f"{fraction(job):.0%}")
    stages = job.get("stages") or []
    if stages:
        done = sum(1 for s in stages if s.get("status") in ("done", "skipped"))
        st.caption(f"{done} of {len(stages)} stages done · {status_label(job.get('status')).lower()} for "
                   f"{fmt_seconds(job_seconds(job))}")
