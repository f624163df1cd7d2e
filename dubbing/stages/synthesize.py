"""Stage 7+8: speech for each utterance, fitted into its time slot.

Two caches make edits cheap: raw speech is keyed by (engine, voice, text) and
the fitted clip by (raw speech, slot, fit settings). After an edit only the
utterances whose keys changed are re-made; the report counts them.

Fitting: speech that is longer than its slot first borrows the silence up to the
next utterance, then is sped up (at most `max_speed`); what still does not fit is
cut with a short fade and flagged as an overrun. It never overlaps the next line.
Speech shorter than its slot is slowed down (at most to `min_speed`) so that the dub
fills the time the original speaker talks instead of leaving dead air; what is still
missing goes to the pauses inside the line (each at most 3x as long). Stretching is
Rubber Band in memory (pedalboard); see `fill` and `speed` on each utterance.

Level: each line gets the loudness (BS.1770) of the original speech it replaces,
within LINE_LUFS_RANGE, and a true-peak limit; it is never hard-clipped.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import audio
from ..engines import registry
from ..engines._util import cpu_threads
from ..errors import BadInputError, DubbingError
from ..models import Document, Utterance, stable_hash
from .context import Context

FADE_S = 0.04
MIN_WINDOW_S = 0.3
# Dubbed speech follows the original line's loudness within these bounds: a whisper stays
# audible, a shout does not blast. The limit keeps a line's true peak below the mix ceiling.
LINE_LUFS_RANGE = (-34.0, -14.0)
FALLBACK_LUFS = -23.0  # a line whose original is silent (an edited time span)
LINE_PEAK_DB = -1.5
FIT_VERSION = 3  # bump when fitting changes, so old clips are re-made
SAVE_EVERY_LINES = 25  # utterances.json is saved this often while lines are made (every 10, the
# saves of a 10-minute document took 1.3 s of the stage's 12)


def key(ctx: Context) -> str:
    doc = ctx.load_doc()
    return stable_hash("synthesize", [render_key(ctx, doc, u, w) for u, w in _plan(ctx, doc)])


def outputs(ctx: Context):
    return [ctx.doc_path]


def current(ctx: Context) -> bool:
    doc = ctx.load_doc()
    return all(u.render_key == render_key(ctx, doc, u, w) and u.clip and (ctx.work / u.clip).exists()
               for u, w in _plan(ctx, doc))


def _plan(ctx: Context, doc: Document) -> list[tuple[Utterance, float]]:
    """The utterances to voice, each with the end of its window (the next utterance's start)."""
    utts = sorted(doc.utterances, key=lambda u: (u.start, u.id))
    out = []
    for i, u in enumerate(utts):
        if u.muted or not u.translated_text.strip():
            continue
        if ctx.preview_seconds and u.start >= ctx.preview_seconds:
            continue
        nxt = next((v.start for v in utts[i + 1:] if v.start > u.start), doc.duration or u.end)
        out.append((u, max(nxt, u.start + MIN_WINDOW_S)))
    return out


def tts_key(doc: Document, u: Utterance) -> str:
    return stable_hash("tts", doc.voice_of(u), u.translated_text.strip(), doc.target_language)


def render_key(ctx: Context, doc: Document, u: Utterance, window_end: float) -> str:
    s = ctx.settings
    return stable_hash("fit", FIT_VERSION, tts_key(doc, u), u.start, u.end, round(window_end, 3), s.max_speed,
                       s.min_speed, ctx.stored_key("probe"))


def synthesize_raw(ctx: Context, doc: Document, u: Utterance) -> tuple[np.ndarray, int]:
    path = ctx.path(f"tts/{tts_key(doc, u)}.wav")
    if not path.exists():
        voice = doc.voice_of(u)
        engine_name, _, voice_id = voice.partition(":")
        if engine_name not in registry.ENGINES["tts"]:
            raise BadInputError(f"line {u.id}: unknown voice '{voice}' in utterances.json; "
                                f"voices are written engine:voice, engines: {', '.join(registry.ENGINES['tts'])}")
        engine = registry.get_engine("tts", engine_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            engine.synthesize(u.translated_text.strip(), voice_id, path)
        except DubbingError as exc:
            # A voice the engine does not have is the edit's fault, not worth retrying.
            if exc.permanent or any(v.id == voice_id for v in type(engine).voices(doc.target_language)):
                raise
            raise BadInputError(f"line {u.id}: unknown voice '{voice}' in utterances.json "
                                f"(the {engine_name} engine failed: {exc.message})") from exc
    return audio.read(path, mono=True)


def trim_silence(x: np.ndarray, sr: int, threshold: float = 0.01) -> np.ndarray:
    """Drop leading/trailing near-silence that TTS engines add, so the slot holds speech."""
    loud = np.flatnonzero(np.abs(x) > threshold * max(1e-6, float(np.max(np.abs(x)))))
    if loud.size == 0:
        return x
    pad = int(0.02 * sr)
    return x[max(0, loud[0] - pad): loud[-1] + pad]


def speed_for(length: float, slot: float, window: float, min_speed: float, max_speed: float) -> float:
    """How much faster (>1) or slower (<1) to play speech of `length` s: fill the slot, never pass the window."""
    if length > window:
        return min(length / window, max_speed)
    if length < slot:
        return max(length / slot, min_speed)
    return 1.0


def match_loudness(speech: np.ndarray, sr: int, original: np.ndarray) -> np.ndarray:
    """Speech at the loudness of the original line (bounded), true peak below LINE_PEAK_DB."""
    target = audio.loudness(original, sr)
    target = FALLBACK_LUFS if target <= audio.SILENCE_LUFS else float(np.clip(target, *LINE_LUFS_RANGE))
    level = audio.loudness(speech, sr)
    if level > audio.SILENCE_LUFS:
        speech = speech * audio.db_to_gain(target - level)
    return audio.limit(speech, sr, LINE_PEAK_DB)


def fit(ctx: Context, u: Utterance, raw: np.ndarray, raw_sr: int, window_end: float,
        original: np.ndarray, sr: int) -> np.ndarray:
    """Fitted clip at the mix rate, at the loudness of `original` (the line's own original audio);
    sets u.speed, u.fill, u.overrun, u.overrun_seconds, u.tts_seconds."""
    speech = trim_silence(raw, raw_sr)
    length = len(speech) / raw_sr
    window = window_end - u.start
    slot = min(max(u.end - u.start, MIN_WINDOW_S), window)
    u.tts_seconds = round(length, 3)
    factor = speed_for(length, slot, window, ctx.settings.min_speed, ctx.settings.max_speed)
    # Stretch at the engine's rate (fewer samples), then resample to the mix rate.
    speech = audio.resample(audio.stretch(speech, raw_sr, factor), raw_sr, sr)
    if len(speech) < slot * sr:
        # Still short at the slowest speed: give the rest to the pauses, as a speaker taking their time would.
        speech = audio.lengthen_pauses(speech, sr, slot - len(speech) / sr)
    max_len = int(window * sr)
    over = len(speech) / sr - window
    u.speed = round(factor, 3)
    u.overrun = over > 0.01
    u.overrun_seconds = round(max(0.0, over), 3)
    if len(speech) > max_len:
        speech = speech[:max_len].copy()
        fade = min(int(FADE_S * sr), len(speech))
        speech[len(speech) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    u.fill = round(len(speech) / sr / max(u.end - u.start, 1e-3), 3)
    return match_loudness(speech, sr, original).astype(np.float32)


def run(ctx: Context) -> dict:
    doc = ctx.load_doc()
    plan = _plan(ctx, doc)
    # Each line reads its own stretch of the original: the whole track is 115 MB at 10 minutes.
    orig_path = ctx.path("audio_orig.wav")
    sr = audio.samplerate(orig_path)
    remade = []

    pending: deque = deque()  # (line, render key, clip, fitting), in line order

    def keep_oldest() -> None:
        u, rk, clip, fitting = pending.popleft()
        (ctx.work / "clips").mkdir(parents=True, exist_ok=True)
        audio.write(ctx.work / clip, fitting.result(), sr)
        u.render_key, u.clip = rk, clip
        remade.append(u.id)
        # Save as we go: a crash mid-stage keeps the clips already made. Counted in lines, not
        # seconds, so that a job killed and resumed ends at the same revision as one never killed.
        if len(remade) % SAVE_EVERY_LINES == 0:
            ctx.save_doc(doc)

    # Speech is made here, one line after the other (an engine need not be thread-safe); fitting
    # (Rubber Band, resampling, loudness, limiter: two thirds of the stage, and they release the
    # GIL) runs beside it on the other cores: 12.5 -> 8 s for 200 lines on 2 cores.
    workers = cpu_threads()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (u, window_end) in enumerate(plan):
            ctx.check_cancel()
            rk = render_key(ctx, doc, u, window_end)
            clip = f"clips/{rk}.wav"
            if u.render_key == rk and u.clip == clip and (ctx.work / clip).exists():
                continue
            ctx.progress(i / max(1, len(plan)), f"speech for line {i + 1} of {len(plan)}")
            raw, raw_sr = synthesize_raw(ctx, doc, u)
            original, _ = audio.read(orig_path, mono=True, span=(u.start, u.end))
            pending.append((u, rk, clip, pool.submit(fit, ctx, u, raw, raw_sr, window_end, original, sr)))
            while pending and (pending[0][3].done() or len(pending) > 2 * workers):
                keep_oldest()
        while pending:
            keep_oldest()
    ctx.save_doc(doc)
    voiced = [u for u, _ in plan]
    return {"utterances": len(voiced), "remade": len(remade), "remade_ids": remade,
            "overruns": [u.id for u in voiced if u.overrun],
            "speed_factors": {str(u.id): u.speed for u in voiced},
            "fill": {str(u.id): u.fill for u in voiced}}


FILL_GOOD = 0.7  # a line whose dub fills this share of its slot leaves no noticeable dead air
LONG_LINE_S = 1.0  # shorter lines are too short to judge fill by


def fit_summary(doc: Document) -> dict:
    """How well the dub fills the original's time: per line fill, share of lines >= 1 s filling
    >= 70%, a histogram of speed factors (0.05 wide bins), overruns."""
    voiced = [u for u in doc.utterances if u.clip and not u.muted and u.translated_text.strip()]
    long = [u for u in voiced if u.duration >= LONG_LINE_S]
    histogram: dict[str, int] = {}
    for u in voiced:
        label = f"{round(u.speed * 20) / 20:.2f}"
        histogram[label] = histogram.get(label, 0) + 1
    return {
        "lines": len(voiced),
        "lines_1s_or_more": len(long),
        "fill_share_70": round(sum(u.fill >= FILL_GOOD for u in long) / len(long), 3) if long else None,
        "fill": {str(u.id): u.fill for u in voiced},
        "speed_histogram": dict(sorted(histogram.items())),
        "slowed": sum(u.speed < 0.999 for u in voiced),
        "sped_up": sum(u.speed > 1.001 for u in voiced),
        "overruns": len([u for u in voiced if u.overrun]),
        "overrun_seconds": round(sum(u.overrun_seconds for u in voiced), 3),
    }
