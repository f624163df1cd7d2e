"""Command line: `python -m dubbing dub|update|edit|engines|jobs|worker`.

Errors a user can cause print one line and exit with a distinct code (dubbing.errors.ExitCode).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli_options import add_dub_options, settings_from_args
from .errors import DubbingError, ExitCode
from .models import GENDERS
from .jobs.cli import register as register_job_commands


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


def cmd_edit(args: argparse.Namespace) -> int:
    from . import pipeline
    if args.op == "list":
        return _list_lines(Path(args.dir))
    op_args = {k: getattr(args, k) for k in ("utt_id", "at", "word", "start", "end", "speaker", "text",
                                              "translated_text", "gender", "language")
               if getattr(args, k, None) is not None}
    result = pipeline.edit(Path(args.dir), args.op, base_revision=args.revision, **op_args)
    if result.created:
        print("created " + " ".join(map(str, result.created)))
    if result.removed:
        print("removed " + " ".join(map(str, result.removed)))
    if result.changed:
        print("changed " + " ".join(map(str, result.changed)))
    if result.new_speaker:
        print(f"new speaker {result.new_speaker}")
    print(f"run `python -m dubbing update {args.dir}` to re-make what changed", file=sys.stderr)
    return ExitCode.OK


def _list_lines(job_dir: Path) -> int:
    from .models import Document
    doc = Document.load(job_dir / "utterances.json")
    print(f"revision {doc.revision}")
    for u in doc.utterances:
        print(f"{u.id:4d} {u.start:8.2f} {u.end:8.2f} {u.speaker:12} {u.text[:60]}")
    return ExitCode.OK


def add_edit_parser(sub) -> None:
    p = sub.add_parser("edit", help="change the lines of DIR/utterances.json: split, merge, add, delete, "
                                    "speaker, times (then `update DIR`)")
    p.add_argument("dir")
    p.add_argument("--revision", type=int, default=None,
                   help="refuse the edit unless the document is still at this revision")
    p.set_defaults(func=cmd_edit)
    ops = p.add_subparsers(dest="op", required=True)
    o = ops.add_parser("list", help="the lines with their ids and times")
    o = ops.add_parser("split", help="split line ID at a time (snapped to a word boundary) or before a word")
    o.add_argument("utt_id", type=int, metavar="ID")
    o.add_argument("--at", type=float, help="seconds in the video")
    o.add_argument("--word", type=int, help="index of the word that starts the second half")
    o = ops.add_parser("merge", help="merge line ID with the line after it")
    o.add_argument("utt_id", type=int, metavar="ID")
    o = ops.add_parser("add", help="add a line")
    o.add_argument("--start", type=float, required=True)
    o.add_argument("--end", type=float, required=True)
    o.add_argument("--speaker", required=True, help="a speaker's key or name; a new name creates the speaker")
    o.add_argument("--text", required=True, help="what is said, in the source language")
    o.add_argument("--translation", dest="translated_text", help="its translation (else translated on update)")
    o.add_argument("--gender", choices=GENDERS, help="for a new speaker (default: from the audio)")
    o = ops.add_parser("delete", help="delete line ID")
    o.add_argument("utt_id", type=int, metavar="ID")
    o = ops.add_parser("speaker", help="give line ID to speaker NAME (a new name creates the speaker)")
    o.add_argument("utt_id", type=int, metavar="ID")
    o.add_argument("speaker", metavar="NAME")
    o.add_argument("--gender", choices=GENDERS, help="for a new speaker (default: from the audio)")
    o = ops.add_parser("times", help="move the start and/or end of line ID")
    o.add_argument("utt_id", type=int, metavar="ID")
    o.add_argument("--start", type=float)
    o.add_argument("--end", type=float)
    o = ops.add_parser("language", help="say line ID is spoken in LANG (translated again from it on update)")
    o.add_argument("utt_id", type=int, metavar="ID")
    o.add_argument("language", metavar="LANG", help="a language code, e.g. cs")


def _summary(out: Path, report: dict) -> None:
    print(f"dubbed {report['source_language']} -> {report['target_language']} in {report['total_seconds']:.1f} s "
          f"(RTF {report['real_time_factor']}), {report['utterances']} utterances, "
          f"{report['utterances_remade']} re-made, {len(report['overruns'])} overruns")
    for warning in report.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"output: {out / 'dubbed.mp4'}")


def cmd_redetect(args: argparse.Namespace) -> int:
    from . import pipeline
    n = None if args.speakers == "auto" else int(args.speakers)
    result = pipeline.redetect_speakers(Path(args.dir), n, progress=StderrProgress())
    print(f"{result['speakers']} speakers, {result['utterances']} lines ({result['kept']} kept as they were); "
          f"run `update {args.dir}` to voice them")
    return ExitCode.OK


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
            for v in r.get("voices", [])[:20]:
                vl = v["languages"]
                print(f"{'':35} {v['gender']:7} {v['name']}: {', '.join(vl[:8])}{f' (+{len(vl) - 8})' if len(vl) > 8 else ''}")
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
    p = sub.add_parser("redetect", help="find the speakers of a dubbed folder again with a given count "
                                        "(from stored embeddings; no audio is analysed again)")
    p.add_argument("dir")
    p.add_argument("--speakers", "-n", required=True, help="number of speakers, or 'auto' to estimate")
    p.set_defaults(func=cmd_redetect)
    add_edit_parser(sub)
    p = sub.add_parser("engines", help="list engines per stage and whether they run here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_engines)
    register_job_commands(sub)
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
