"""Errors a user can cause, each with its own exit code.

Every error carries a message that says what happened and what to do, so the
command line prints one line and the app shows the same text. `dub`, `update` and
every `jobs ...` command exit with the same code for the same cause (the table is
`ExitCode`; README "Command line" lists it): a bad edit is bad input everywhere.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOT_A_VIDEO = 3
    CORRUPT_INPUT = 4
    NO_AUDIO = 5
    NO_VIDEO = 6
    SILENT = 7
    UNSUPPORTED_PAIR = 8
    ENGINE_UNAVAILABLE = 9
    TOO_BIG = 10
    NOT_FOUND = 11
    CANCELLED = 12
    TRANSIENT = 13
    CONFLICT = 14
    CRASHED = 15


class DubbingError(Exception):
    """Base for errors a user can act on; `permanent` errors are never retried."""

    code: ExitCode = ExitCode.INTERNAL
    permanent = True

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadInputError(DubbingError):
    """Input a person can fix: an invalid edit of utterances.json, an unknown voice, a bad option value."""

    code = ExitCode.USAGE


class NotAVideoError(DubbingError):
    code = ExitCode.NOT_A_VIDEO


class CorruptInputError(DubbingError):
    code = ExitCode.CORRUPT_INPUT


class NoAudioError(DubbingError):
    code = ExitCode.NO_AUDIO


class NoVideoError(DubbingError):
    code = ExitCode.NO_VIDEO


class SilentInputError(DubbingError):
    code = ExitCode.SILENT


class UnsupportedPairError(DubbingError):
    code = ExitCode.UNSUPPORTED_PAIR


class EngineUnavailableError(DubbingError):
    code = ExitCode.ENGINE_UNAVAILABLE


class TooBigError(DubbingError):
    code = ExitCode.TOO_BIG


class NotFoundError(DubbingError):
    code = ExitCode.NOT_FOUND


class CancelledError(DubbingError):
    code = ExitCode.CANCELLED


class TransientError(DubbingError):
    """A failure worth retrying: a killed subprocess, memory pressure."""

    code = ExitCode.TRANSIENT
    permanent = False


class RevisionConflict(DubbingError):
    """A save based on an older revision of utterances.json than the one on disk."""

    code = ExitCode.CONFLICT

    def __init__(self, current: int, base: int | None):
        super().__init__(f"someone else changed this job: reload (the document is at revision {current}; "
                         f"this change was based on revision {base})")
        self.current, self.base = current, base
class StageCrashError(DubbingError):
    """A stage brought its own process down on every try (out of memory, a crash in native code)."""

    code = ExitCode.CRASHED
