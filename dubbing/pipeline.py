"""The dubbing pipeline: ordered stages over one job folder.

Each stage skips itself when its output is current, so running every stage
again after a crash, a cancel or an edit redoes only what is missing or changed.
The job runner calls `run_stage` one stage at a time; the command line calls
`dub` and `update`. Folder layout and API: docs/CONTRACTS.md.
"""
from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import edits, media, revisions, segmentation
from .engines import registry
from .errors import BadInputError, CancelledError, DubbingError, EngineUnavailableError, NotFoundError, RevisionConflict
from .fsutil import atomic_write_text
from .heap import release_free_memory
from .metrics import PeakMemory
from .models import Document, DubSettings, InvalidDocumentError
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
PREVIEW_SECONDS = 30.0  # how much of the video a preview render covers

# What a person reads for each stage, and each stage's rough share of a dub's time on CPU
# (for one overall percentage).
STAGE_LABELS = {"probe": "Checking the video", "diarize": "Finding speakers", "transcribe": "Transcribing",
                "gender": "Telling voices apart", "translate": "Translating", "voices": "Choosing voices",
                "synthesize": "Synthesizing speech", "mix": "Mixing and rendering", "subtitles": "Writing subtitles"}
STAGE_WEIGHTS = {"probe": 1, "diarize": 12, "transcribe": 30, "gender": 2, "translate": 6,
                 "voices": 1, "synthesize": 30, "mix": 12, "subtitles": 1}

ProgressFn = Callable[[str, float, str], None]

log = logging.getLogger(__name__)


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
    if not 0.1 <= s.pause_split <= 10.0:
        raise BadInputError(f"pause split {s.pause_split} s is out of range; use 0.1 to 10 seconds")
    if not 0.5 <= s.min_speed <= 1.0:
        raise BadInputError(f"min speed {s.min_speed} is out of range; use 0.5 to 1.0 (1.0: never slow speech down)")
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
            log.info("%s: up to date, skipped", stage)
            return StageResult(stage, round(time.perf_counter() - started, 3), mem.peak_mb, True)
        progress(stage, 0.0, "starting")
        log.info("%s: started%s", stage, f" (preview of the first {preview_seconds:g} s)" if preview_seconds else "")
        _warm_next(job_dir, stage)
        try:
            detail = module.run(ctx)
            ctx.check_cancel()  # a stage that ends in a cancelled step must not be recorded done
        except BaseException as exc:
            log.warning("%s: stopped after %.1f s: %s: %s", stage, time.perf_counter() - started,
                        type(exc).__name__, exc)
            raise
        finally:
            release_free_memory()
        ctx.store_key(_stage_id(stage, preview_seconds), module.key(ctx), detail)
    result = StageResult(stage, round(time.perf_counter() - started, 3), mem.peak_mb, False, detail)
    _record(ctx, result)
    progress(stage, 1.0, "done")
    log.info("%s: done in %.1f s, peak %.0f MB: %s", stage, result.seconds, result.peak_rss_mb, _brief(detail))
    return result


def _warm_next(job_dir: Path, stage: str) -> None:
    """Load the next stage's engine in the background while this stage runs.

    A stage that runs makes the next one run too (its key holds this one's), and in a fresh
    process each engine's load was time on the clock with a core idle: extracting the audio
    waits on ffmpeg, and diarization leaves a core to Whisper's load (0.5 s).
    """
    later = STAGES[STAGES.index(stage) + 1:]
    if later:
        _warm(later[:1], lambda: context(job_dir))


def _warm(stages: list[str], make_context: Callable[[], Context]) -> None:
    """The engines of `stages` (those that say how) loaded one after the other on a thread of their
    own. Whatever fails here is left for the stage itself to meet and report."""
    warms = [(stage, STAGE_MODULES[stage].warm) for stage in stages if hasattr(STAGE_MODULES[stage], "warm")]
    if not warms:
        return

    def load() -> None:
        for stage, warm in warms:
            try:
                warm(make_context())
            except Exception as exc:  # noqa: BLE001 - the stage meets it again and says what to do
                log.debug("warming %s failed: %s", stage, exc)

    # Not a daemon: a process that ends (a refused input, a failed stage) waits for the load to finish.
    # Stopped mid-load at exit, a daemon thread in ONNX Runtime or CTranslate2 aborted the process
    # ("terminate called without an active exception") after a silent video's one-line refusal.
    threading.Thread(target=load, name=f"warm-{warms[0][0]}").start()


def _brief(detail: dict, limit: int = 300) -> str:
    text = json.dumps(detail, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


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
        "fit": synthesize.fit_summary(doc) if doc else {},
        "sound": {k: v for k, v in ctx.stage_detail("mix").items() if k in mix.LEVEL_KEYS},
        "stage_times": json.loads(ctx.path("stage_times.json").read_text()) if ctx.path("stage_times.json").exists() else {},
    }
    report.update(structure(ctx, doc))
    atomic_write_text(Path(job_dir) / "report.json", json.dumps(report, ensure_ascii=False, indent=1))
    return report


COVERAGE_WARN = 0.9


def structure(ctx: Context, doc: Document | None) -> dict:
    """Speakers, languages heard (seconds of speech each), the share of detected speech inside
    lines, the lines left untranslated, and warnings a person should see."""
    if doc is None or not ctx.path("transcript.json").exists():
        return {}
    transcript = ctx.read_json("transcript.json")
    spans = [segmentation.Line(u.start, u.end, u.speaker, u.language) for u in doc.utterances]
    share = round(segmentation.coverage(spans, transcript.get("speech", [])), 3)
    flagged = [{"id": u.id, "language": u.language, "why": u.note} for u in doc.utterances if u.note]
    warnings = []
    if share < COVERAGE_WARN:
        warnings.append(f"lines cover only {share:.0%} of the detected speech; some speech may be missing "
                        "from the dub: check the timeline and add lines where speech has none")
    if flagged:
        warnings.append(f"{len(flagged)} line(s) in a language no translator here handles keep the original "
                        "audio; write their translation to dub them")
    return {"speakers": len(doc.speakers), "languages": transcript.get("languages", {}),
            "speech_coverage": share, "untranslated": flagged, "warnings": warnings}


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
    log.info("re-translating line(s) %s", ", ".join(map(str, ids)))
    wanted = set(ids)
    todo = [u for u in doc.utterances if u.id in wanted]
    translate.translate_utterances(ctx, doc, todo)
    ctx.save_doc(doc)
    return doc


def redetect_speakers(job_dir: Path, num_speakers: int | None, *, base_revision: int | None = None,
                      progress: ProgressFn = _no_progress) -> dict:
    """Find the speakers again with a given count (None = estimate), from the stored embeddings.

    No audio is embedded or transcribed again: the turns are re-clustered, the words
    re-assigned, and each line whose words and speaker stay the same keeps its text,
    translation and edits; new lines are translated. Engines that keep no embeddings
    (pyannote) run diarization again.
    """
    if num_speakers is not None and not 1 <= num_speakers <= 20:
        raise DubbingError(f"speaker count {num_speakers} is out of range; use 1 to 20")
    ctx = context(job_dir, progress=lambda f, m="": progress("diarize", f, m))
    old_doc = Document.load(ctx.doc_path)
    if base_revision is not None and old_doc.revision != base_revision:
        raise RevisionConflict(old_doc.revision, base_revision)
    ctx.settings.speakers = num_speakers
    save_settings(job_dir, ctx.settings)
    name = ctx.engine("diarization")
    state = diarize.load_state(ctx)
    cls = registry.engine_class("diarization", name)
    try:
        if state is None:
            raise NotImplementedError
        turns = cls.recluster(state, num_speakers)
        diarize.write_turns(ctx, name, turns)
        ctx.store_key("diarize", diarize.key(ctx), {"engine": name, "redetected": True})
    except NotImplementedError:
        run_stage(job_dir, "diarize", progress=progress)
        ctx = context(job_dir)
    # The words are the same whoever said them: the transcript stays current.
    ctx.store_key("transcribe", transcribe.key(ctx), ctx.stage_detail("transcribe"))
    run_stage(job_dir, "gender", progress=progress)
    ctx = context(job_dir, progress=lambda f, m="": progress("translate", f, m))
    doc, kept = translate.rebuild_speakers(ctx, old_doc)
    # Saved as a person's edit: refused if someone saved since it was read, never merged line by line.
    revisions.save_checked(ctx.doc_path, doc, old_doc.revision)
    ctx.store_key("translate", translate.key(ctx), {"redetected": True})
    return {"speakers": len(doc.speakers), "utterances": len(doc.utterances), "kept": kept}


def edit(job_dir: Path, op: str, *, base_revision: int | None = None, **args) -> edits.EditResult:
    """One structural edit (dubbing.edits) of DIR/utterances.json, saved under the document's lock.

    With `base_revision`, refused (RevisionConflict) when the file moved on since. A speaker the edit
    creates gets its gender from its lines' audio (unless given) and, once voices were chosen, its own voice.
    """
    ctx = context(job_dir)
    if not ctx.doc_path.exists():
        raise NotFoundError(f"{ctx.doc_path} not found; there is nothing to edit before translation made it")
    with revisions.locked(ctx.doc_path):
        doc = Document.load(ctx.doc_path)
        if base_revision is not None and doc.revision != base_revision:
            raise RevisionConflict(doc.revision, base_revision)
        result = edits.apply(doc, op, **args)
        if result.new_speaker:
            _introduce_speaker(ctx, doc, result.new_speaker, given_gender=args.get("gender"))
        problems = doc.validate()
        if problems:
            raise edits.EditError(f"the edit would leave invalid lines: {'; '.join(problems)}")
        revisions.save_checked(ctx.doc_path, doc, doc.revision)
    return result


def _introduce_speaker(ctx: Context, doc: Document, key: str, *, given_gender: str | None) -> None:
    """A new speaker: gender from the audio of its lines, then a voice of its own (as the voices stage picks)."""
    spk = doc.speakers[key]
    if given_gender is None:
        spk.gender, f0 = gender.of_spans(ctx, [(u.start, u.end) for u in doc.utterances if u.speaker == key])
        spk.median_f0 = None if f0 is None else float(f0)
        for u in doc.utterances:
            if u.speaker == key:
                u.gender = spk.gender
    if any(s.voice for k, s in doc.speakers.items() if k != key):  # voices were chosen already
        voices.assign(doc, voices.candidate_voices(ctx, doc.target_language))


AUDITIONS = "auditions"


def audition_path(job_dir: Path, voice_id: str, language: str) -> Path | None:
    """The short sample of a voice made for this job (see make_auditions), or None while there is none."""
    path = voices.audition_file(Path(job_dir) / WORK, voice_id, language)
    return path if path.exists() else None


def make_auditions(job_dir: Path, *, should_cancel: Callable[[], bool] = lambda: False) -> int:
    """A short sample of every voice this job could use, for the reviewer to hear before choosing
    (the page plays them, it never makes speech). Made once; a voice that fails is skipped."""
    ctx = context(job_dir)
    language = ctx.settings.target_language
    made = 0
    for voice_id in voices.candidate_voices(ctx, language):
        if should_cancel():
            break
        try:
            voices.audition_sample(voice_id, language, ctx.work)
            made += 1
        except DubbingError as exc:
            log.info("no audition of %s: %s", voice_id, exc)
    return made


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
    # The sound check and the audio's extraction (ffmpeg, one core) leave a core idle for the loads of
    # the diarizer and of Whisper; Whisper loaded later took CPU from the diarizer's embeddings.
    _warm(STAGES[1:3], lambda: Context(out_dir, settings))
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
    except InvalidDocumentError as exc:
        raise InvalidDocumentError(exc.problems, where=str(out_dir / DOC)) from None
    problems = doc.validate()
    if problems:
        raise InvalidDocumentError(problems, where=str(out_dir / DOC))
    run(out_dir, progress=progress, preview_seconds=preview_seconds)
    return json.loads((out_dir / "report.json").read_text())
