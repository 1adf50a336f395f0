"""One state machine for every claimable run: a submission's scoring, a baseline run.

A run is a row that a worker claims for a broker message and then settles:

    queued --claim--> running --finish--> done (the kind's word: scored, done)
      ^                  |  \\--fail----> failed
      +----requeue-------+   (reconcile: no sign of life within the running timeout)

claim takes a queued row, or a running one only for a redelivery of the very message that
claimed it (its worker died); any other message for a running row is a duplicate and
leaves the live run alone, and a row out of attempts fails instead. heartbeat shows that
a run is alive, so the running timeout counts from its last sign of life. finish and
fail change only a pending row, so a redelivered message changes nothing once settled.
reconcile (periodic) re-sends queued rows whose message may be lost, and requeues, then
fails, running rows that stopped showing life. Every step holds the row's lock.

What only one kind records (the scores, the baseline's submission) its own module writes,
through the hooks of its `RunKind` and the `record` callback of `finish`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import CursorResult, ScalarResult, inspect, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import PENDING_RUN_STATUSES

PENDING = tuple(str(status) for status in PENDING_RUN_STATUSES)
"""Where a run is not settled; every kind spells these states alike, with its own StrEnum."""

Status = TypeVar("Status", bound=StrEnum)


class ClaimableRun(Protocol[Status]):
    """The columns of a row that workers claim and settle."""

    id: int
    status: Status
    attempts: int
    claimed_task_id: str | None
    """The broker message that runs the current attempt; tells a redelivery from a duplicate."""
    error: str
    updated_at: datetime
    """The last change or sign of life; the reconciler's timeouts count from it."""


Row = TypeVar("Row")
Run = TypeVar("Run", bound=ClaimableRun[Any])
Outcome = TypeVar("Outcome")


def _nothing(run: Any, now: datetime) -> None:
    """Record nothing more."""


@dataclass(frozen=True)
class RunKind(Generic[Run]):
    """What sets one kind of run apart: its table, its words, the timestamps it keeps."""

    model: type[Run]
    statuses: type[StrEnum]
    """The enum of the model's status column."""
    done: str
    """The status of a finished run."""
    out_of_attempts: Callable[[int], str]
    """Why a claim fails a run that used up its attempts, given their number."""
    timed_out: Callable[[int], str]
    """Why the reconciler fails a stuck run that used up its attempts."""
    started: Callable[[Run, datetime], None] = _nothing
    """Called when a claim starts an attempt."""
    settled: Callable[[Run, datetime], None] = _nothing
    """Called when the run becomes done or failed."""


def locked(*, session: Session, model: type[Row], row_id: int) -> Row | None:
    """Re-read a row under a row lock, so that no claim or settlement interleaves."""
    # OF the table: PostgreSQL refuses to lock the outer-joined rows of eager loads.
    return session.get(model, row_id, with_for_update={"of": model}, populate_existing=True)


def _settle(kind: RunKind[Run], run: Run, status: str, error: str, now: datetime) -> None:
    run.status = kind.statuses(status)
    run.error = error
    run.updated_at = now
    kind.settled(run, now)


def claim(
    *,
    session: Session,
    kind: RunKind[Run],
    run_id: int,
    max_attempts: int,
    task_id: str | None = None,
) -> Run | None:
    """Start an attempt of a run for message `task_id`; None when there is nothing to do."""
    run = locked(session=session, model=kind.model, row_id=run_id)
    if run is None or run.status not in PENDING:
        return None
    if run.status == "running" and (task_id is None or task_id != run.claimed_task_id):
        return None
    now = utcnow()
    if run.attempts >= max_attempts:
        _settle(kind, run, "failed", kind.out_of_attempts(run.attempts), now)
        return None
    run.status = kind.statuses("running")
    run.attempts += 1
    run.claimed_task_id = task_id
    run.updated_at = now
    kind.started(run, now)
    return run


def heartbeat(
    *, session: Session, kind: RunKind[Run], run_id: int, task_id: str | None = None
) -> bool:
    """Show that message `task_id` still runs the row; False when the row is no longer its."""
    columns = inspect(kind.model).columns
    # One UPDATE without reading the row: cheap enough to call every few seconds.
    touched = session.execute(
        update(inspect(kind.model).local_table)
        .where(
            columns["id"] == run_id,
            columns["status"] == "running",
            columns["claimed_task_id"].is_not_distinct_from(task_id),
        )
        .values(updated_at=utcnow())
    )
    assert isinstance(touched, CursorResult)  # what an UPDATE returns
    return touched.rowcount > 0


def finish(
    *,
    session: Session,
    kind: RunKind[Run],
    run_id: int,
    record: Callable[[Run], Outcome],
) -> Outcome | None:
    """Settle a running run as done and `record` its outcome; None when it was not running."""
    run = locked(session=session, model=kind.model, row_id=run_id)
    if run is None or run.status != "running":
        return None
    _settle(kind, run, kind.done, "", utcnow())
    return record(run)


def fail(*, session: Session, kind: RunKind[Run], run_id: int, reason: str) -> bool:
    """Record why a pending run cannot complete; False when it was settled already."""
    run = locked(session=session, model=kind.model, row_id=run_id)
    if run is None or run.status not in PENDING:
        return False
    _settle(kind, run, "failed", reason, utcnow())
    return True


def requeue(
    *, kind: RunKind[Run], run: Run, now: datetime | None = None, fresh: bool = False
) -> None:
    """Put a run back in the queue for the next message to claim.

    `fresh` forgets the attempts so far and the last error (an organizer's rescore).
    """
    run.status = kind.statuses("queued")
    run.claimed_task_id = None
    run.updated_at = now or utcnow()
    if fresh:
        run.attempts = 0
        run.error = ""


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciler pass did; the caller sends `resent` and `requeued` again."""

    resent: list[int]
    requeued: list[int]
    failed: list[int]


def _quiet_since(
    session: Session, model: type[Run], status: str, before: datetime
) -> ScalarResult[Run]:
    columns = inspect(model).columns
    return session.scalars(
        select(model)
        .where(columns["status"] == status, columns["updated_at"] < before)
        .with_for_update(skip_locked=True, of=inspect(model).local_table)
    )


def reconcile(
    *,
    session: Session,
    kind: RunKind[Run],
    resend_after: timedelta,
    running_timeout: timedelta,
    max_attempts: int,
    now: datetime | None = None,
) -> Reconciliation:
    """Find runs whose message may be lost, and runs that stopped showing life.

    A queued run is sent again at most once per `resend_after`. A run locked by someone
    else is left for the next pass.
    """
    now = now or utcnow()
    resent, requeued, failed = [], [], []
    for run in _quiet_since(session, kind.model, "queued", now - resend_after):
        run.updated_at = now
        resent.append(run.id)
    for run in _quiet_since(session, kind.model, "running", now - running_timeout):
        if run.attempts >= max_attempts:
            _settle(kind, run, "failed", kind.timed_out(run.attempts), now)
            failed.append(run.id)
        else:
            requeue(kind=kind, run=run, now=now)
            requeued.append(run.id)
    return Reconciliation(resent, requeued, failed)
