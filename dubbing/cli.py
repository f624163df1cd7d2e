"""Command line: `python -m dubbing dub|update|engines|jobs|worker`.

Errors a user can cause print one line and exit with a distinct code (dubbing.errors.ExitCode).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import BadInputError, DubbingError, ExitCode
from .models import MIX_DUCK, MIX_REPLACE, DubSettings


def add_dub_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-language", "-t", required=True, help="ISO 639-1 code, e.g. es")
    p.add_argument("--source-language", "-s", default="auto", help="ISO 639-1 code or auto (default)")
    p.add_argument("--diarization", default="auto", help="diarization engine (see `engines`)")
    p.add_argument("--diarization-model", default="")
    p.add_argument("--stt", default="auto", help="speech-to-text engine")
    p.add_argument("--stt-model", default="base", help="e.g. base (packaged), large-v3, or a local folder")
    p.add_argument("--translator", default="auto", help="translation engine")
    p.add_argument("--translation-model", default="")
    p.add_argument("--tts", default="auto", help="text-to-speech engine")
    p.add_argument("--tts-model", default="")
    p.add_argument("--speakers", type=int, default=None, help="number of speakers (default: estimate)")
    p.add_argument("--clone-voices", action="store_true",
                   help="XTTS only: clone each speaker's voice from their original audio (opt-in)")
    p.add_argument("--max-speed", type=float, default=1.3, help="cap on speeding up dubbed speech (default 1.3)")
    p.add_argument("--mix-mode", choices=(MIX_DUCK, MIX_REPLACE), default=MIX_DUCK,
                   help="duck: keep the original track lowered under the dub; replace: drop it")
    p.add_argument("--duck-db", type=float, default=-18.0, help="original track level under dubbed speech, dB")
    p.add_argument("--cleanup", action="store_true", help="delete intermediate files that can be made again")
    p.add_argument("--audio-track", type=int, default=1,
                   help="which audio track to dub, counting from 1, for videos with several (default 1)")


def settings_from_args(args: argparse.Namespace) -> DubSettings:
    return DubSettings(
        target_language=args.target_language, source_language=args.source_language,
        diarization=args.diarization, diarization_model=args.diarization_model,
        stt=args.stt, stt_model=args.stt_model, translator=args.translator,
        translation_model=args.translation_model, tts=args.tts, tts_model=args.tts_model,
        speakers=args.speakers, clone_voices=bool(getattr(args, "clone_voices", False)), max_speed=args.max_speed, mix_mode=args.mix_mode, duck_db=args.duck_db,
        review=bool(getattr(args, "review", False)), keep_intermediate=not args.cleanup,
        audio_track=_track_index(getattr(args, "audio_track", 1)))


def _track_index(number: int) -> int:
    if number < 1:
        raise BadInputError(f"--audio-track counts from 1; got {number}")
    return number - 1


class StderrProgress:
    """`[stage] 42% message` lines on stderr, only when something visible changes."""

    def __init__(self) -> None:
        self.last: tuple[str, int, str] | None = None

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        shown = (stage, pct // 5, message if pct in (0, 100) else "")
        if shown != self.last:
            self.last = shown
            print(f"[{stage}] {pct:3d}% {message}", file=sys.stderr, flush=True)


def cmd_dub(args: argparse.Namespace) -> int:
    from . import pipeline
    out = Path(args.output_dir or Path(args.input).with_suffix("").name + "_dubbed")
    report = pipeline.dub(Path(args.input), out, settings_from_args(args), progress=StderrProgress())
    _summary(out, report)
    return ExitCode.OK


def cmd_update(args: argparse.Namespace) -> int:
    from . import pipeline
    report = pipeline.update(Path(args.dir), progress=StderrProgress())
    _summary(Path(args.dir), report)
    return ExitCode.OK


def _summary(out: Path, report: dict) -> None:
    print(f"dubbed {report['source_language']} -> {report['target_language']} in {report['total_seconds']:.1f} s "
          f"(RTF {report['real_time_factor']}), {report['utterances']} utterances, "
          f"{report['utterances_remade']} re-made, {len(report['overruns'])} overruns")
    print(f"output: {out / 'dubbed.mp4'}")


def cmd_engines(args: argparse.Namespace) -> int:
    from .engines import registry
    rows = registry.describe_all()
    if args.json:
        print(json.dumps(rows, indent=1))
        return ExitCode.OK
    for r in rows:
        state = "available" if r["available"] else f"unavailable: {r['reason']}"
        langs = r["pairs"] or r["languages"]
        shown = ", ".join(langs[:12]) + (f" (+{len(langs) - 12})" if len(langs) > 12 else "")
        print(f"{r['stage']:12} {r['name']:22} {state}")
        if r["available"]:
            print(f"{'':35} models: {', '.join(r['models']) or '-'}; languages: {shown or 'any'}")
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dubbing", description="Dub MP4 videos into another language.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dub", help="dub one MP4")
    p.add_argument("input")
    p.add_argument("--output-dir", "-o", default=None, help="folder for dubbed.mp4 and the rest")
    add_dub_options(p)
    p.set_defaults(func=cmd_dub)
    p = sub.add_parser("update", help="re-render after editing DIR/utterances.json (only what changed)")
    p.add_argument("dir")
    p.set_defaults(func=cmd_update)
    p = sub.add_parser("engines", help="list engines per stage and whether they run here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_engines)
    try:
        from .jobs.cli import register
    except ImportError:
        pass  # the job runner is optional for the one-shot commands
    else:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except DubbingError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.CANCELLED)
