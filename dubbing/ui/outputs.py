"""A job's finished files: which exist, what to call them, and the report's timing table."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import languages

MIME = {".mp4": "video/mp4", ".wav": "audio/wav", ".srt": "application/x-subrip", ".vtt": "text/vtt",
        ".json": "application/json"}


def job_outputs(job: dict[str, Any]) -> dict[str, Path]:
    """The record's outputs (the worker lists them after every action) that exist on disk."""
    return {name: Path(path) for name, path in (job.get("outputs") or {}).items() if path and Path(path).is_file()}


def subtitle_files(found: dict[str, Path], ext: str) -> dict[str, Path]:
    """Language code -> subtitle file of that format."""
    out = {}
    for name, path in found.items():
        if name.startswith("subtitles_") and name.endswith(f"_{ext}"):
            out[name[len("subtitles_"):-len(ext) - 1]] = path
    return out


def download_name(job: dict[str, Any], name: str, path: Path) -> str:
    stem = Path(job.get("original_name") or "video").stem
    target = (job.get("settings") or {}).get("target_language") or "dub"
    if name == "dubbed_mp4":
        return f"{stem}.{target}.mp4"
    if name == "preview_mp4":
        return f"{stem}.{target}.preview.mp4"
    if name == "dubbed_audio":
        return f"{stem}.{target}.wav"
    if name.startswith("subtitles_"):
        return f"{stem}.{path.name.split('.', 1)[1]}"
    return f"{stem}.{path.name}"


def download_label(name: str, doc_source: str | None = None, doc_target: str | None = None) -> str:
    if name.startswith("subtitles_"):
        lang, _, ext = name[len("subtitles_"):].rpartition("_")
        which = "dubbed" if lang == doc_target else ("original" if lang == doc_source else "")
        return f"Subtitles, {languages.name(lang)}{f' ({which})' if which else ''} · {ext.upper()}"
    return {"dubbed_mp4": "Dubbed video · MP4", "dubbed_audio": "Dubbed audio · WAV",
            "preview_mp4": "Preview (first 30 s) · MP4", "utterances": "Utterances · JSON",
            "report": "Report · JSON"}.get(name, name)


def mime(path: Path) -> str:
    return MIME.get(path.suffix.lower(), "application/octet-stream")


def read_report(found: dict[str, Path]) -> dict[str, Any] | None:
    path = found.get("report")
    if not path:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def timing_rows(report: dict[str, Any], stage_label=lambda s: s) -> list[dict[str, Any]]:
    """One row per stage: the latest time each stage took, and whether the last run skipped it."""
    last_run = {s.get("stage"): s for s in report.get("stages") or []}
    times = report.get("stage_times") or {}
    names = list(times) or list(last_run)
    rows = []
    for name in names:
        t = times.get(name) or last_run.get(name) or {}
        run = last_run.get(name)
        rows.append({
            "Stage": stage_label(name),
            "Seconds": round(float(t.get("seconds") or 0.0), 2),
            "Peak memory (MB)": round(float(t.get("peak_rss_mb") or 0.0), 1),
            "Last render": "not run" if run is None else ("up to date, skipped" if run.get("skipped") else "ran"),
        })
    return rows


def download_buttons(job: dict[str, Any], found: dict[str, Path], doc) -> None:
    """One compact row of downloads; each file is read only when clicked."""
    import streamlit as st

    names = [n for n in ("dubbed_mp4", "dubbed_audio") if n in found]
    names += sorted(n for n in found if n.startswith("subtitles_"))
    names += [n for n in ("preview_mp4", "utterances", "report") if n in found]
    row = st.container(horizontal=True, gap="small")
    for name in names:
        path = found[name]
        row.download_button(download_label(name, doc.source_language, doc.target_language),
                            data=lambda p=path: p.read_bytes(), file_name=download_name(job, name, path),
                            mime=mime(path), key=f"review_dl_{name}", on_click="ignore", icon=":material/download:")
