"""The scoring run of a submission: what its claim hands the worker, what finishing records.

The states and their changes are those of every claimable run (`app.services.runs`):
claim (queued -> running), finish (running -> scored, with the scores), fail (-> failed,
with a plain reason) and reconcile. A submission that is already scored, failed or
cancelled is left alone, so a redelivered task changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.models import Submission, SubmissionStatus
from app.scoring import ScoreResult
from app.services import leaderboard as leaderboard_service
from app.services import runs as runs_service


def _started(submission: Submission, now: datetime) -> None:
    submission.started_at = now


def _finished(submission: Submission, now: datetime) -> None:
    submission.finished_at = now


SCORING_RUN = runs_service.RunKind(
    Submission,
    SubmissionStatus,
    done=SubmissionStatus.SCORED,
    out_of_attempts=lambda attempts: (
        f"scoring did not complete after {attempts} attempts; the organizers have been "
        "notified through the submission log"
    ),
    timed_out=lambda attempts: f"scoring did not finish in time after {attempts} attempts",
    started=_started,
    settled=_finished,
)


@dataclass(frozen=True)
class ClaimedRun:
    """What the worker needs to score one submission."""

    submission_id: int
    archive_key: str
    ground_truth_key: str
    attempt: int


def claim(
    *,
    session: Session,
    submission_id: int,
    max_attempts: int,
    task_id: str | None = None,
) -> ClaimedRun | None:
    """Mark a submission running and return what to score, or None when there is nothing to do."""
    submission = runs_service.claim(
        session=session,
        kind=SCORING_RUN,
        run_id=submission_id,
        max_attempts=max_attempts,
        task_id=task_id,
    )
    if submission is None:
        return None
    return ClaimedRun(
        submission.id,
        submission.archive_key,
        submission.phase.ground_truth_key,
        submission.attempts,
    )


def finish(*, session: Session, submission_id: int, result: ScoreResult, seconds: float) -> bool:
    """Record the scores of a running submission; False when it was no longer running."""

    def record(submission: Submission) -> Submission:
        report: dict[str, Any] = result.to_dict()
        submission.miou = result.miou
        submission.iou_tumor = result.iou["tumor"]
        submission.iou_stroma = result.iou["stroma"]
        submission.iou_normal = result.iou["normal"]
        submission.result = report
        submission.scoring_seconds = seconds
        leaderboard_service.invalidate(session=session, phase=submission.phase)
        return submission

    scored = runs_service.finish(
        session=session, kind=SCORING_RUN, run_id=submission_id, record=record
    )
    return scored is not None


def fail(*, session: Session, submission_id: int, reason: str) -> bool:
    """Record why a running submission cannot be scored; False when it was not running."""
    return runs_service.fail(session=session, kind=SCORING_RUN, run_id=submission_id, reason=reason)


def reconcile(
    *,
    session: Session,
    stale_queued_after: timedelta,
    running_timeout: timedelta,
    max_attempts: int,
    now: datetime | None = None,
) -> runs_service.Reconciliation:
    """Find stuck submissions; the caller re-sends the ids in `resent` and `requeued`."""
    return runs_service.reconcile(
        session=session,
        kind=SCORING_RUN,
        resend_after=stale_queued_after,
        running_timeout=running_timeout,
        max_attempts=max_attempts,
        now=now,
    )
