"""The life of a scoring run, as the worker drives it; every step is idempotent.

claim: queued -> running, one attempt more. A running row is taken over only by a
redelivery of the very message that claimed it (its worker died); any other message for a
running row is a duplicate and leaves the live run alone;
finish: running -> scored, with the scores; fail: running -> failed, with a plain reason.
A submission that is already scored, failed or cancelled is left alone, so a redelivered
task changes nothing. reconcile (periodic) re-sends queued submissions whose message may
be lost, and requeues or fails runs that outlived the time limit.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Submission, SubmissionStatus
from app.scoring import ScoreResult
from app.services import leaderboard as leaderboard_service


@dataclass(frozen=True)
class ClaimedRun:
    """What the worker needs to score one submission."""

    submission_id: int
    archive_key: str
    ground_truth_key: str
    attempt: int


def _locked(session: Session, submission_id: int) -> Submission | None:
    # OF submission: PostgreSQL refuses to lock the outer-joined rows of eager loads.
    return session.scalar(
        select(Submission)
        .where(Submission.id == submission_id)
        .with_for_update(of=Submission)
        .execution_options(populate_existing=True)
    )


def claim(
    *,
    session: Session,
    submission_id: int,
    max_attempts: int,
    task_id: str | None = None,
) -> ClaimedRun | None:
    """Mark a submission running and return what to score, or None when there is nothing to do."""
    submission = _locked(session, submission_id)
    if submission is None or submission.status not in (
        SubmissionStatus.QUEUED,
        SubmissionStatus.RUNNING,
    ):
        return None
    now = utcnow()
    if submission.status == SubmissionStatus.RUNNING and (
        task_id is None or task_id != submission.claimed_task_id
    ):
        return None
    if submission.attempts >= max_attempts:
        _set_failed(
            submission,
            f"scoring did not complete after {submission.attempts} attempts; the organizers "
            "have been notified through the submission log",
            now,
        )
        return None
    submission.status = SubmissionStatus.RUNNING
    submission.attempts += 1
    submission.claimed_task_id = task_id
    submission.started_at = now
    submission.updated_at = now
    return ClaimedRun(
        submission.id,
        submission.archive_key,
        submission.phase.ground_truth_key,
        submission.attempts,
    )


def finish(*, session: Session, submission_id: int, result: ScoreResult, seconds: float) -> bool:
    """Record the scores of a running submission; False when it was no longer running."""
    submission = _locked(session, submission_id)
    if submission is None or submission.status != SubmissionStatus.RUNNING:
        return False
    now = utcnow()
    report: dict[str, Any] = result.to_dict()
    submission.status = SubmissionStatus.SCORED
    submission.miou = result.miou
    submission.iou_tumor = result.iou["tumor"]
    submission.iou_stroma = result.iou["stroma"]
    submission.iou_normal = result.iou["normal"]
    submission.result = report
    submission.scoring_seconds = seconds
    submission.error = ""
    submission.finished_at = now
    submission.updated_at = now
    leaderboard_service.invalidate(session=session, phase=submission.phase)
    return True


def fail(*, session: Session, submission_id: int, reason: str) -> bool:
    """Record why a running submission cannot be scored; False when it was not running."""
    submission = _locked(session, submission_id)
    if submission is None or submission.status not in (
        SubmissionStatus.QUEUED,
        SubmissionStatus.RUNNING,
    ):
        return False
    _set_failed(submission, reason, utcnow())
    return True


def _set_failed(submission: Submission, reason: str, now: datetime) -> None:
    submission.status = SubmissionStatus.FAILED
    submission.error = reason
    submission.finished_at = now
    submission.updated_at = now


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciler pass did."""

    resent: list[int]
    requeued: list[int]
    failed: list[int]


def reconcile(
    *,
    session: Session,
    stale_queued_after: timedelta,
    running_timeout: timedelta,
    max_attempts: int,
    now: datetime | None = None,
) -> Reconciliation:
    """Find stuck submissions; the caller re-sends the ids in `resent` and `requeued`."""
    now = now or utcnow()
    resent, requeued, failed = [], [], []
    stale = session.scalars(
        select(Submission)
        .where(
            Submission.status == SubmissionStatus.QUEUED,
            Submission.updated_at < now - stale_queued_after,
        )
        .with_for_update(skip_locked=True, of=Submission)
    )
    for submission in stale:
        submission.updated_at = now
        resent.append(submission.id)
    stuck = session.scalars(
        select(Submission)
        .where(
            Submission.status == SubmissionStatus.RUNNING,
            Submission.updated_at < now - running_timeout,
        )
        .with_for_update(skip_locked=True, of=Submission)
    )
    for submission in stuck:
        if submission.attempts >= max_attempts:
            _set_failed(
                submission,
                f"scoring did not finish in time after {submission.attempts} attempts",
                now,
            )
            failed.append(submission.id)
        else:
            submission.status = SubmissionStatus.QUEUED
            submission.updated_at = now
            requeued.append(submission.id)
    return Reconciliation(resent, requeued, failed)
