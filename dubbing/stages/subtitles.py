"""Stage 10: SRT and WebVTT subtitles of the original text and of the translation."""
from __future__ import annotations

import textwrap

from ..fsutil import atomic_write_text
from ..models import Utterance, stable_hash
from .context import Context

LINE_CHARS = 42


def _utts(ctx: Context) -> tuple[str, str, list[Utterance]]:
    doc = ctx.load_doc()
    return doc.source_language, doc.target_language, [u for u in doc.utterances if u.text.strip()]


def key(ctx: Context) -> str:
    src, tgt, utts = _utts(ctx)
    return stable_hash("subtitles", src, tgt, [(u.start, u.end, u.text, u.translated_text) for u in utts])


def outputs(ctx: Context):
    src, tgt, _ = _utts(ctx)
    return [ctx.job_dir / f"subtitles.{lang}.{ext}" for lang in (src, tgt) for ext in ("srt", "vtt")]


def timestamp(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(" ".join(text.split()), LINE_CHARS)) or " "


def srt(cues: list[tuple[float, float, str]]) -> str:
    return "".join(f"{i}\n{timestamp(a, ',')} --> {timestamp(b, ',')}\n{wrap(t)}\n\n"
                   for i, (a, b, t) in enumerate(cues, 1))


def vtt(cues: list[tuple[float, float, str]]) -> str:
    return "WEBVTT\n\n" + "".join(f"{timestamp(a, '.')} --> {timestamp(b, '.')}\n{wrap(t)}\n\n" for a, b, t in cues)


def run(ctx: Context) -> dict:
    src, tgt, utts = _utts(ctx)
    written = []
    for lang, field in ((src, "text"), (tgt, "translated_text")):
        cues = [(u.start, u.end, getattr(u, field)) for u in utts if getattr(u, field).strip()]
        for ext, fmt in (("srt", srt), ("vtt", vtt)):
            path = ctx.job_dir / f"subtitles.{lang}.{ext}"
            atomic_write_text(path, fmt(cues))
            written.append(path.name)
    return {"files": written}
