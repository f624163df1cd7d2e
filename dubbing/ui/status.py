"""Where each line stands: translation out of date, needs voicing, overrun, voiced (or muted).

"Needs voicing" compares the line's stored render key with the key the synthesize stage
would compute now, so a line whose text, voice, times or slot changed since its clip was
made shows as such (and nothing else does, unlike a file's modification time, which a
30 s preview also bumps).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..models import Document, DubSettings, Utterance
from ..stages import synthesize
from ..stages.context import Context

MUTED = "muted"
UNTRANSLATED = "no translator"  # a line in a language no translator here has: it keeps the original audio
OUT_OF_DATE = "translation out of date"
NEEDS_VOICING = "needs voicing"
OVERRUN = "overrun"
VOICED = "voiced"
# Shown in the table: a mark that reads at a glance, then the words (marks that every text font has).
LABELS = {UNTRANSLATED: "⚑ no translator: write the translation", MUTED: "– muted", OUT_OF_DATE: "↻ translation out of date", NEEDS_VOICING: "● needs voicing",
          OVERRUN: "▲ overrun", VOICED: "✓ voiced"}


def _context(job_dir: Path, doc: Document) -> Context:
    settings_path = Path(job_dir) / "work" / "settings.json"
    try:
        settings = DubSettings.from_dict(json.loads(settings_path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        settings = doc.settings
    return Context(job_dir=Path(job_dir), settings=settings)


def line_statuses(job_dir: Path, doc: Document) -> dict[int, str]:
    """Utterance id -> one of the statuses above."""
    ctx = _context(job_dir, doc)
    windows = {u.id: w for u, w in synthesize._plan(ctx, doc)}  # noqa: SLF001 (the stage's own slot rule)
    out: dict[int, str] = {}
    for u in doc.utterances:
        out[u.id] = _status(ctx, doc, u, windows.get(u.id))
    return out


def _status(ctx: Context, doc: Document, u: Utterance, window_end: float | None) -> str:
    if u.note and u.muted:
        return UNTRANSLATED
    if u.muted:
        return MUTED
    if u.translation_source is not None and u.translation_source != u.text and not u.translation_edited:
        return OUT_OF_DATE
    if not u.translated_text.strip():
        return OUT_OF_DATE
    if window_end is None or not u.clip or not (ctx.work / u.clip).is_file() \
            or u.render_key != synthesize.render_key(ctx, doc, u, window_end):
        return NEEDS_VOICING
    return OVERRUN if u.overrun else VOICED


def label(status: str) -> str:
    return LABELS.get(status, status)


def needs_render(statuses: dict[int, str]) -> bool:
    return any(s in (NEEDS_VOICING, OUT_OF_DATE) for s in statuses.values())


def out_of_date(statuses: dict[int, str]) -> list[int]:
    return [uid for uid, s in statuses.items() if s == OUT_OF_DATE]


def structure_warnings(job_dir: Path, doc: Document) -> list[str]:
    """What the analysis could not do by itself: speech no line covers, lines no translator handles."""
    from ..pipeline import structure
    return structure(_context(job_dir, doc), doc).get("warnings", [])
