"""The dubbing pipeline: ordered stages over one job folder.

Each stage skips itself when its output is current, so running every stage
again after a crash, a cancel or an edit redoes only what is missing or changed.
The job runner calls `run_stage` one stage at a time; the command line calls
`dub` and `update`. Folder layout and API: docs/CONTRACTS.md.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import media
from .engines import registry
from .errors import BadInputError, CancelledError, DubbingError, EngineUnavailableError, NotFoundError
from .fsutil import atomic_write_text
from .metrics import PeakMemory
from .models import Document, DubSettings
from .stages import diarize, gender, mix, probe, subtitles, synthesize, transcribe, translate, voices
from .stages.context import DOC, WORK, Context

STAGE_MODULES = {
    "probe": probe, "diarize": diarize, "transcribe": transcribe, "gender": gender, "translate": translate,
    "voices": voices, "synthesize": synthesize, "mix": mix, "subtitles": subtitles,
}
STAGES = list(STAGE_MODULES)
REVIEW_AFTER = "translate"
ANALYSIS_STAGES = STAGES[: STAGES.index(REVIEW_AFTER) + 1]
# A render after review starts with `translate`: it skips itself unless a person edited the
# source text of some lines, which are then translated again before they are voiced.
RENDER_STAGES = STAGES[STAGES.index(REVIEW_AFTER):]
PREVIEW_SECONDS = 30.0

# What a person reads for each stage, and each stage's rough share of a dub's time on CPU
# (for one overall percentage).
STAGE_LABELS = {"probe": "Checking the video", "diarize": "Finding speakers", "transcribe": "Transcribing",
                "gender": "Telling voices apart", "translate": "Translating", "voices": "Choosing voices",
                "synthesize": "Synthesizing speech", "mix": "Mixing and rendering", "subtitles": "Writing subtitles"}
STAGE_WEIGHTS = {"probe": 1, "diarize": 12, "transcribe": 30, "gender": 2, "translate": 6,
                 "voices": 1, "synthesize": 30, "mix": 12, "subtitles": 1}

ProgressFn = Callable[[str, float, str], None]


def _no_progress(stage: str, fraction: float, message: str) -> None:
    pass


@dataclass
class StageResult:
    stage: str
    seconds: float
    peak_rss_mb: float
    skipped: bool
    detail: dict = field(default_factory=dict)


def load_settings(job_dir: Path) -> DubSettings:
    path = Path(job_dir) / WORK / "settings.json"
    if not path.exists():
        raise NotFoundError(f"{job_dir} is not a dubbing folder (no {WORK}/settings.json); run `dub` first")
    return DubSettings.from_dict(json.loads(path.read_text()))


def save_settings(job_dir: Path, settings: DubSettings) -> None:
    atomic_write_text(Path(job_dir) / WORK / "settings.json", json.dumps(settings.to_dict(), indent=1))


_checked: dict[tuple, media.MediaInfo] = {}


def validate_input(path: Path, *, max_bytes: int | None = None, track: int = 0) -> media.MediaInfo:
    """Refuse what cannot be dubbed before anything is made: not an MP4, streams missing, truncated, silent, no speech.

    Remembered per file version, so `submit` and `prepare` decode and listen only once.
    """
    path = Path(path)
    info = media.probe(path, max_bytes=max_bytes, track=track)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, track)
    if key not in _checked:
        media.check_sound(path, info, track=track)
        _checked.clear()  # one entry is all `prepare` after `submit` needs
        _checked[key] = info
    return info


def validate_settings(settings: DubSettings) -> None:
    """Refuse unavailable engines and unsupported pairs before any heavy work."""
    s = settings
    if not 1.0 <= s.max_speed <= 4.0:
        raise BadInputError(f"max speed {s.max_speed} is out of range; use 1.0 to 4.0")
    if s.speakers is not None and not 1 <= s.speakers <= 20:
        raise BadInputError(f"speaker count {s.speakers} is out of range; use 1 to 20 or leave it automatic")
    for stage, name in (("diarization", s.diarization), ("stt", s.stt), ("translation", s.translator),
                        ("tts", s.tts)):
        if name != "auto":
            registry.check_available(stage, name)
    registry.check_pair(s.translator, s.source_language, s.target_language)
    if s.tts != "auto":
        cls = registry.engine_class("tts", s.tts)
        if not cls.voices(s.target_language):  # type: ignore[attr-defined]
            raise EngineUnavailableError(f"tts engine '{s.tts}' has no voice for '{s.target_language}'; "
                               "choose another engine or leave it on auto")


def prepare(input_path: Path, job_dir: Path, settings: DubSettings, *, max_bytes: int | None = None) -> None:
    """Validate, then copy the input into the job folder (a hard link where possible)."""
    validate_settings(settings)
    validate_input(input_path, max_bytes=max_bytes, track=settings.audio_track)
    work = Path(job_dir) / WORK
    work.mkdir(parents=True, exist_ok=True)
    target = work / "input.mp4"
    if not target.exists() or target.stat().st_size != Path(input_path).stat().st_size \
            or not target.samefile(input_path):
        tmp = work / ".input.mp4.tmp"
        tmp.unlink(missing_ok=True)
        try:
            tmp.hardlink_to(input_path)
        except OSError:
            shutil.copyfile(input_path, tmp)
        tmp.replace(target)
    save_settings(job_dir, settings)


def context(job_dir: Path, *, progress: Callable[[float, str], None] = lambda f, m="": None,
            should_cancel: Callable[[], bool] = lambda: False, preview_seconds: float | None = None) -> Context:
    return Context(Path(job_dir), load_settings(job_dir), progress, should_cancel, preview_seconds)


def _stage_id(stage: str, preview_seconds: float | None) -> str:
    """A preview render keeps its own stage records, so it never marks the full render as done."""
    return f"{stage}-preview" if preview_seconds and stage in ("synthesize", "mix") else stage


def _is_current(ctx: Context, name: str) -> bool:
    module = STAGE_MODULES[name]
    stored = ctx.stored_key(_stage_id(name, ctx.preview_seconds))
    if stored is None or not all(p.exists() for p in module.outputs(ctx)):
        return False
    if stored != module.key(ctx):
        return False
    check = getattr(module, "current", None)
    return check(ctx) if check else True


def run_stage(job_dir: Path, stage: str, *, progress: ProgressFn = _no_progress,
              should_cancel: Callable[[], bool] = lambda: False,
              preview_seconds: float | None = None) -> StageResult:
    """Run one stage, or skip it when its output is current.

    Cancel is cooperative everywhere: the progress function the stage gets raises
    CancelledError once `should_cancel()` is true, and engines report progress per
    transcription segment, embedding batch and synthesised line; a running ffmpeg is
    terminated (media.cancellable).
    """
    def report(fraction: float, message: str = "") -> None:
        progress(stage, fraction, message)
        if should_cancel():
            raise CancelledError(f"cancelled during {stage}")

    ctx = context(job_dir, progress=report, should_cancel=should_cancel, preview_seconds=preview_seconds)
    module = STAGE_MODULES[stage]
    ctx.check_cancel()
    started = time.perf_counter()
    with PeakMemory() as mem, media.cancellable(should_cancel):
        if _is_current(ctx, stage):
            progress(stage, 1.0, "up to date")
            return StageResult(stage, round(time.perf_counter() - started, 3), mem.peak_mb, True)
        progress(stage, 0.0, "starting")
        detail = module.run(ctx)
        ctx.check_cancel()  # a stage that ends in a cancelled step must not be recorded done
        ctx.store_key(_stage_id(stage, preview_seconds), module.key(ctx), detail)
    result = StageResult(stage, round(time.perf_counter() - started, 3), mem.peak_mb, False, detail)
    _record(ctx, result)
    progress(stage, 1.0, "done")
    return result


def _record(ctx: Context, result: StageResult) -> None:
    """Keep the latest timing per stage (for report.json, whoever runs the stages)."""
    path = ctx.path("stage_times.json")
    times = json.loads(path.read_text()) if path.exists() else {}
    times[result.stage] = asdict(result)
    atomic_write_text(path, json.dumps(times, indent=1))


def run(job_dir: Path, *, stages: list[str] | None = None, progress: ProgressFn = _no_progress,
        should_cancel: Callable[[], bool] = lambda: False, preview_seconds: float | None = None) -> list[StageResult]:
    started = time.perf_counter()
    results = [run_stage(job_dir, s, progress=progress, should_cancel=should_cancel, preview_seconds=preview_seconds)
               for s in (stages or STAGES)]
    write_report(job_dir, results, wall_seconds=time.perf_counter() - started)
    return results


def write_report(job_dir: Path, results: list[StageResult], *, wall_seconds: float | None = None) -> dict:
    """report.json: what ran this time (seconds, peak memory), engines, speed factors, overruns, re-made lines."""
    ctx = context(job_dir)
    doc = ctx.load_doc() if ctx.doc_path.exists() else None
    media_info = ctx.read_json("media.json") if ctx.path("media.json").exists() else {}
    synth = next((r for r in results if r.stage == "synthesize"), None)
    duration = media_info.get("duration") or 0.0
    ran = [r for r in results if not r.skipped]
    total = wall_seconds if wall_seconds is not None else sum(r.seconds for r in results)
    report = {
        "input": media_info,
        "settings": ctx.settings.to_dict(),
        "source_language": doc.source_language if doc else None,
        "target_language": ctx.settings.target_language,
        "engines": doc.engines if doc else {},
        "models": doc.models if doc else {},
        "picks": ctx.engines(),
        "stages": [asdict(r) | {"detail": None} for r in results],
        "stages_run": [r.stage for r in ran],
        "total_seconds": round(total, 3),
        "real_time_factor": round(total / duration, 3) if duration else None,
        "peak_rss_mb": max((r.peak_rss_mb for r in results), default=0.0),
        "utterances": len(doc.utterances) if doc else 0,
        "utterances_remade": (synth.detail.get("remade", 0) if synth and not synth.skipped else 0),
        "remade_ids": (synth.detail.get("remade_ids", []) if synth and not synth.skipped else []),
        "speed_factors": {str(u.id): u.speed for u in doc.utterances} if doc else {},
        "overruns": [{"id": u.id, "seconds": u.overrun_seconds} for u in doc.utterances if u.overrun] if doc else [],
        "stage_times": json.loads(ctx.path("stage_times.json").read_text()) if ctx.path("stage_times.json").exists() else {},
    }
    atomic_write_text(Path(job_dir) / "report.json", json.dumps(report, ensure_ascii=False, indent=1))
    return report


def outputs(job_dir: Path) -> dict[str, Path]:
    job_dir = Path(job_dir)
    found = {"dubbed_mp4": job_dir / "dubbed.mp4", "dubbed_audio": job_dir / "dubbed_audio.wav",
             "preview_mp4": job_dir / "preview.mp4", "utterances": job_dir / DOC, "report": job_dir / "report.json"}
    out = {k: p for k, p in found.items() if p.exists()}
    for p in sorted(job_dir.glob("subtitles.*.*")):
        _, lang, ext = p.name.split(".", 2)
        out[f"subtitles_{lang}_{ext}"] = p
    return out


def retranslate(job_dir: Path, ids: list[int]) -> Document:
    """Machine-translate these utterances again from their current text (a person's translation is replaced)."""
    ctx = context(job_dir)
    doc = ctx.load_doc()
    wanted = set(ids)
    todo = [u for u in doc.utterances if u.id in wanted]
    translate.translate_utterances(ctx, doc, todo)
    ctx.save_doc(doc)
    return doc


def clean_intermediate(job_dir: Path) -> None:
    """Delete what can be made again cheaply (analysis audio, raw speech); keep what `update` needs."""
    work = Path(job_dir) / WORK
    shutil.rmtree(work / "tts", ignore_errors=True)
    shutil.rmtree(work / "tmp", ignore_errors=True)
    (work / "audio16k.wav").unlink(missing_ok=True)
    (work / "preview_audio.wav").unlink(missing_ok=True)


def dub(input_path: Path, out_dir: Path, settings: DubSettings, *, progress: ProgressFn = _no_progress,
        should_cancel: Callable[[], bool] = lambda: False) -> dict:
    out_dir = Path(out_dir)
    before = set(out_dir.rglob("*")) if out_dir.exists() else None
    try:
        prepare(input_path, out_dir, settings)
        run(out_dir, progress=progress, should_cancel=should_cancel)
    except DubbingError as exc:
        if exc.permanent and not isinstance(exc, CancelledError):  # refused: leave nothing of ours behind
            _remove_new(out_dir, before)
        raise
    if not settings.keep_intermediate:
        clean_intermediate(out_dir)
    return json.loads((Path(out_dir) / "report.json").read_text())


def _remove_new(folder: Path, before: set[Path] | None) -> None:
    """Delete what was made in `folder` since `before` was listed (all of it when it did not exist)."""
    if before is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in sorted(set(folder.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def update(out_dir: Path, *, progress: ProgressFn = _no_progress, preview_seconds: float | None = None) -> dict:
    """Re-render after a person edited utterances.json: only changed lines are re-made."""
    out_dir = Path(out_dir)
    if not (out_dir / DOC).exists():
        raise NotFoundError(f"{out_dir / DOC} not found; run `dub` into {out_dir} first")
    try:
        doc = Document.load(out_dir / DOC)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{out_dir / DOC} cannot be read: {exc}; fix the file or dub again") from None
    problems = doc.validate()
    if problems:
        raise BadInputError(f"{out_dir / DOC} has invalid edits: " + "; ".join(problems))
    run(out_dir, progress=progress, preview_seconds=preview_seconds)
    return json.loads((out_dir / "report.json").read_text())
