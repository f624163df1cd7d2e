"""Job and stage states, and the moves between them: the one place that says which change is allowed.

A job record's ``status`` changes only through `move` (or is checked with `allowed`),
whoever changes it: the client (a person's request), the worker (running the job) or
the store (re-queueing what a dead worker left). An impossible move raises
`IllegalMove`, a bug rather than a user error.
"""
from __future__ import annotations

QUEUED, RUNNING, AWAITING_REVIEW = "queued", "running", "awaiting_review"
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, AWAITING_REVIEW, COMPLETED, FAILED, CANCELLED)
FINISHED = (COMPLETED, FAILED, CANCELLED)

# Status of one stage inside a job record.
PENDING, DONE = "pending", "done"
STAGE_STATUSES = (PENDING, RUNNING, DONE, FAILED, CANCELLED)

# What the worker does with a queued job.
RUN, RENDER, PREVIEW, RETRANSLATE, REDETECT = "run", "render", "preview", "retranslate", "redetect"

CLIENT, WORKER = "client", "worker"

# (from, to) -> who may make that move.
MOVES: dict[tuple[str, str], frozenset[str]] = {
    (QUEUED, RUNNING): frozenset({WORKER}),            # claimed
    (QUEUED, CANCELLED): frozenset({CLIENT}),           # cancelled before it started
    (RUNNING, QUEUED): frozenset({WORKER}),             # a stopping or dead worker's job, resumed later
    (RUNNING, AWAITING_REVIEW): frozenset({WORKER}),    # paused after translation
    (RUNNING, COMPLETED): frozenset({WORKER}),
    (RUNNING, FAILED): frozenset({WORKER}),
    (RUNNING, CANCELLED): frozenset({WORKER}),          # the worker honours a cancel request
    (AWAITING_REVIEW, QUEUED): frozenset({CLIENT}),     # approve, preview, re-translate
    (AWAITING_REVIEW, CANCELLED): frozenset({CLIENT}),
    (COMPLETED, QUEUED): frozenset({CLIENT}),           # re-render, preview, re-translate
    (FAILED, QUEUED): frozenset({CLIENT}),              # retry, or render a job whose analysis finished
    (CANCELLED, QUEUED): frozenset({CLIENT}),
}


class IllegalMove(RuntimeError):
    """A status change the state machine does not allow (a bug in the caller)."""


def allowed(current: str, to: str, by: str) -> bool:
    return current == to or by in MOVES.get((current, to), ())


def move(record: dict, to: str, by: str, **fields) -> None:
    """Set the record's status (and `fields`), or raise IllegalMove."""
    if not allowed(record["status"], to, by):
        raise IllegalMove(f"job {record.get('id')}: {by} may not move it from {record['status']} to {to}")
    record["status"] = to
    record.update(fields)
