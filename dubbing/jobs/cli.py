"""The `jobs` and `worker` subcommands of `python -m dubbing`.

`register(subparsers)` adds them to the main parser; every handler takes the parsed
args and returns an exit code (dubbing.errors.ExitCode). Errors print one line.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

from ..cli_options import add_dub_options, settings_from_args
from ..errors import DubbingError, ExitCode
from . import backend, client
from . import store as st


def register(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="queue dubs for the background worker and follow them",
                                 description="Queue dubs for the background worker, follow and manage them.")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)

    p = sub.add_parser("submit", help="validate a video and queue its dub; prints the job id last")
    p.add_argument("input", type=Path, metavar="FILE", help="an MP4 video with an audio track")
    add_dub_options(p)
    p.add_argument("--review", action="store_true", help="pause after translation for review (approve to go on)")
    p.add_argument("--no-start-worker", action="store_true", help="only queue; do not start a worker")
    p.add_argument("--max-mb", type=float, help="upload size limit in MB (default: $MAX_UPLOAD_MB or 200)")
    p.add_argument("--wait", action="store_true", help="follow the job until it completes or pauses for review")
    p.set_defaults(func=_handler(_submit))

    p = sub.add_parser("status", help="one job's status, stage, progress and stages")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print the job record as JSON")
    p.set_defaults(func=_handler(_status))

    p = sub.add_parser("list", help="all jobs, newest first")
    p.add_argument("--json", action="store_true", help="print the job records as a JSON list")
    p.set_defaults(func=_handler(_list))

    p = sub.add_parser("wait", help="wait until a job completes, fails, is cancelled or pauses for review")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--timeout", type=float, help="give up after this many seconds")
    p.set_defaults(func=_handler(_wait))

    for name, helptext, fn in (
            ("approve", "approve the reviewed translation and render", client.approve),
            ("retry", "resume a failed or cancelled job from its last finished stage", client.retry),
            ("cancel", "cancel a queued, running or paused job (its files are kept)", client.cancel),
            ("delete", "delete a job and its files", client.delete)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("job_id", metavar="ID")
        p.set_defaults(func=_handler(functools.partial(_simple, fn, name)))

    p = sub.add_parser("rerender", help="render again after edits to utterances.json (only changed lines)")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--preview", action="store_true", help="render only the first 30 s, to preview.mp4")
    p.set_defaults(func=_handler(_rerender))

    p = sub.add_parser("retranslate", help="machine-translate these utterances again from their text")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("ids", type=int, nargs="+", metavar="UTTERANCE_ID")
    p.set_defaults(func=_handler(_retranslate))

    p = sub.add_parser("cleanup", help="delete finished jobs older than N days")
    p.add_argument("--days", type=float, help="age in days (default: $CLEANUP_AFTER_DAYS or 7)")
    p.set_defaults(func=_handler(_cleanup))

    w = subparsers.add_parser("worker", help="run the background worker in the foreground (or stop it)",
                              description="Run the job worker in the foreground; one per data folder.")
    w.add_argument("--stop", action="store_true", help="stop the running worker (its jobs resume later)")
    w.add_argument("--max-jobs", type=int, help="jobs at once (default: $MAX_CONCURRENT_JOBS or 1)")
    w.add_argument("--idle-exit", type=float, default=0.0, help="exit after this many idle seconds (0: never)")
    w.add_argument("--queue", metavar="URL", help="serve the Redis job queue at URL (redis://host:6379/0; default: "
                   "$DUBBING_QUEUE) instead of this machine's store; any number of workers, on any machine")
    w.add_argument("--queues", metavar="LIST", help="with --queue: the capabilities to serve, in order of "
                   "preference: cpu (default), gpu, or gpu,cpu")
    w.set_defaults(func=_handler(_worker))


# -- handlers --------------------------------------------------------------------------------------

def _submit(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    max_bytes = int(args.max_mb * 1024 * 1024) if args.max_mb is not None else None
    job_id = client.submit(args.input, args.input.name, settings, start_worker=not args.no_start_worker,
                           max_bytes=max_bytes)
    code = ExitCode.OK
    if args.wait:
        record = _follow(job_id)
        code = _exit_code(record)
    print(job_id)
    return int(code)


def _status(args: argparse.Namespace) -> int:
    record = client.get(args.job_id)
    if record is None:
        raise _not_found(args.job_id)
    if args.json:
        print(json.dumps(_public(record), indent=2, default=str))
        return 0
    print(_summary(record))
    if record.get("error"):
        print(f"error: {record['error']}")
    for entry in record["stages"]:
        tries = f"{entry['attempts']} attempt{'s' if entry['attempts'] != 1 else ''}"
        print(f"  {entry['name']:<11} {entry['status']:<10} {tries:<11} {entry['seconds']:7.1f} s "
              f"{entry.get('peak_rss_mb', 0):7.0f} MB")
    for name, path in sorted(record.get("outputs", {}).items()):
        print(f"  {name}: {path}")
    if record["status"] in (st.QUEUED, st.RUNNING) and not record.get("worker_alive") and backend.queue_url():
        print("no worker is running: start one with `python -m dubbing worker --queue URL` on a machine that "
              "mounts the data folder")
    elif record["status"] in (st.QUEUED, st.RUNNING) and not record.get("worker_alive"):
        print("no worker is running: start one with `python -m dubbing worker` (or submit/approve, which start one)")
    return 0


def _list(args: argparse.Namespace) -> int:
    records = client.list_jobs()
    if args.json:
        print(json.dumps([_public(r) for r in records], indent=2, default=str))
        return 0
    if not records:
        print("no jobs")
    for record in records:
        print(_summary(record))
    return 0


def _wait(args: argparse.Namespace) -> int:
    return int(_exit_code(_follow(args.job_id, timeout=args.timeout)))


def _simple(fn: Callable[[str], None], verb: str, args: argparse.Namespace) -> int:
    fn(args.job_id)
    done = {"approve": "approved", "retry": "queued to resume", "cancel": "cancel requested", "delete": "deleted"}
    print(f"job {args.job_id} {done.get(verb, verb)}")
    return 0


def _rerender(args: argparse.Namespace) -> int:
    client.rerender(args.job_id, preview=args.preview)
    print(f"job {args.job_id} queued for a {'preview ' if args.preview else ''}render")
    return 0


def _retranslate(args: argparse.Namespace) -> int:
    client.retranslate(args.job_id, args.ids)
    print(f"job {args.job_id} queued to re-translate {len(args.ids)} line(s)")
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    removed = client.cleanup(args.days)
    print(f"removed {removed} finished job(s)")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from . import worker

    if args.queue:
        os.environ["DUBBING_QUEUE"] = args.queue
    url = backend.queue_url()
    if url and not args.stop:
        from .redis_worker import serve

        return serve(url, args.queues)
    if args.stop:
        print("worker stopped" if client.stop_worker() else "no worker was running")
        return 0
    return worker.serve(st.data_dir(), max_jobs=args.max_jobs, idle_exit=args.idle_exit)


# -- helpers --------------------------------------------------------------------------------------

def _handler(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except DubbingError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return int(exc.code)
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return int(ExitCode.INTERNAL)
        except KeyboardInterrupt:
            print("interrupted (the job goes on in the worker)", file=sys.stderr)
            return 130
    return run


def _follow(job_id: str, timeout: float | None = None) -> dict:
    """Print progress lines to stderr until the job stops moving; its record."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        record = client.get(job_id)
        if record is None:
            raise _not_found(job_id)
        line = _summary(record)
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if record["status"] in (st.AWAITING_REVIEW, *st.FINISHED):
            return record
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {record['status']} after {timeout:.0f} s")
        time.sleep(0.5)


def _exit_code(record: dict) -> ExitCode:
    """The exit code of a followed job; a failure prints its `error:` line, as `dub` does."""
    if record["status"] == st.FAILED:
        print(f"error: {record.get('error') or 'the job failed'}", file=sys.stderr)
        return ExitCode(record.get("error_code") or ExitCode.INTERNAL)
    if record["status"] == st.CANCELLED:
        return ExitCode.CANCELLED
    return ExitCode.OK


def _summary(record: dict) -> str:
    stage = f" {record['stage']}" if record.get("stage") else ""
    return (f"{record['id']}  {record['status']:<15} {record['percent']:5.1f}%{stage}  "
            f"{record['original_name']}: {record.get('message') or ''}")


_INTERNAL = ("action", "cancel_requested", "worker_pid")


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in _INTERNAL}


def _not_found(job_id: str) -> DubbingError:
    from ..errors import NotFoundError

    return NotFoundError(f"no job with id '{job_id}'")


def main(argv: list[str] | None = None) -> int:
    """`python -m dubbing.jobs.cli jobs ...`: the same commands without the main CLI."""
    parser = argparse.ArgumentParser(prog="python -m dubbing.jobs.cli")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
