"""Stage 10: SRT and WebVTT subtitles of the original text and of the translation."""
from __future__ import annotations

import html
import textwrap
from datetime import timedelta

import srt as srt_lib

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


def wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(" ".join(text.split()), LINE_CHARS)) or " "


def srt(cues: list[tuple[float, float, str]]) -> str:
    """SubRip, composed by the `srt` library. SRT has no escapes: text goes as it is (no blank lines)."""
    return srt_lib.compose([srt_lib.Subtitle(i, timedelta(seconds=a), timedelta(seconds=b), wrap(t))
                            for i, (a, b, t) in enumerate(cues, 1)])


def vtt(cues: list[tuple[float, float, str]]) -> str:
    """WebVTT: cue text escaped as the format requires (&amp; &lt; &gt;), so "Tom & Jerry", "<3" and "-->"
    show as written instead of breaking the cue or being read as markup."""
    return "WEBVTT\n\n" + "".join(f"{_vtt_time(a)} --> {_vtt_time(b)}\n{html.escape(wrap(t), quote=False)}\n\n"
                                   for a, b, t in cues)


def _vtt_time(seconds: float) -> str:
    return srt_lib.timedelta_to_srt_timestamp(timedelta(seconds=max(0.0, seconds))).replace(",", ".")


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
