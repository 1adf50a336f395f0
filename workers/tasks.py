"""Celery tasks: thin wrappers that load ids, call the services and the scoring core."""

import logging
from collections.abc import Callable
from datetime import timedelta

import structlog
from celery import Task
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import transaction
from app.queue import RECONCILE_SUBMISSIONS, SCORE_SUBMISSION, TaskSender
from app.schemas.jobs import ScoreSubmissionJob
from app.scoring import GroundTruthError, ScoreResult, SubmissionRejected, score_path
from app.services import baselines as baselines_service
from app.services import scoring_runs
from workers.celery_app import celery_app
from workers.context import WorkerContext
from workers.runs import RUN_TASK_OPTIONS, RunFailed, RunJob, fail_past_hard_time_limit, perform

logger = logging.getLogger(__name__)

_context: WorkerContext | None = None


def context() -> WorkerContext:
    """Return this process's context, creating it on first use."""
    global _context
    if _context is None:
        _context = WorkerContext(get_settings())
    return _context


class ScoringJob(RunJob[scoring_runs.ClaimedRun, ScoreResult]):
    """Scoring a submission against its phase's ground truth."""

    kind = scoring_runs.SCORING_RUN
    noun = "submission"
    task_argument = "submission_id"
    log_key = "submission_id"
    done = "scored"
    past_time_limit = "scoring took longer than {seconds} s and was stopped"
    internal_error = (
        "an internal error stopped the scoring; the organizers have the details and will rescore it"
    )

    @property
    def time_limit_s(self) -> int:
        """Return the scoring time limit."""
        return self.ctx.settings.scoring_time_limit_s

    def claim(
        self, session: Session, run_id: int, *, max_attempts: int, task_id: str | None
    ) -> scoring_runs.ClaimedRun | None:
        """Claim the submission."""
        return scoring_runs.claim(
            session=session, submission_id=run_id, max_attempts=max_attempts, task_id=task_id
        )

    def work(self, claimed: scoring_runs.ClaimedRun, heartbeat: Callable[[], None]) -> ScoreResult:
        """Score the archive; a bad archive or unusable reference data fails the run."""
        try:
            ground_truth = self.ctx.ground_truth(claimed.ground_truth_key)
            return score_path(ground_truth, self.ctx.storage.path(claimed.archive_key), threads=2)
        except SubmissionRejected as rejected:
            raise RunFailed(rejected.summary()) from rejected
        except GroundTruthError as error:
            logger.exception(
                "ground truth unusable while scoring submission %s", claimed.submission_id
            )
            raise RunFailed(
                "the phase's reference data could not be read; the organizers will rescore it"
            ) from error

    def finish(
        self, session: Session, run_id: int, outcome: ScoreResult, seconds: float
    ) -> str | None:
        """Record the scores."""
        recorded = scoring_runs.finish(
            session=session, submission_id=run_id, result=outcome, seconds=seconds
        )
        return f"mIoU {outcome.miou}" if recorded else None


def run_scoring(submission_id: int, ctx: WorkerContext, task_id: str | None = None) -> str:
    """Score one submission end to end; return what happened ('scored', 'failed', 'skipped')."""
    return perform(ScoringJob(ctx), submission_id, task_id)


@celery_app.task(name=SCORE_SUBMISSION, **RUN_TASK_OPTIONS)
def score_submission(self: Task, submission_id: int) -> str:
    """Score a submission by id (idempotent: a settled submission is left alone)."""
    job = ScoreSubmissionJob(submission_id=submission_id)
    return run_scoring(job.submission_id, context(), task_id=self.request.id)


fail_run_past_hard_time_limit = fail_past_hard_time_limit(score_submission, ScoringJob, context)
"""Fails a submission whose scoring was killed at the hard time limit, in plain words."""


@celery_app.task(name=RECONCILE_SUBMISSIONS, ignore_result=True)
def reconcile_submissions() -> dict[str, list[int]]:
    """Re-send lost tasks, requeue or fail runs that outlived the time limit."""
    structlog.contextvars.clear_contextvars()
    ctx = context()
    settings = ctx.settings
    with transaction(ctx.sessions) as session:
        outcome = scoring_runs.reconcile(
            session=session,
            stale_queued_after=timedelta(seconds=settings.stale_queued_after_s),
            running_timeout=timedelta(seconds=settings.scoring_time_limit_s * 1.2),
            max_attempts=settings.scoring_max_attempts,
        )
        baseline_outcome = baselines_service.reconcile_runs(
            session=session,
            resend_after=timedelta(
                seconds=max(settings.stale_queued_after_s, settings.baseline_time_limit_s)
            ),
            running_timeout=timedelta(seconds=settings.baseline_time_limit_s * 1.2),
            max_attempts=settings.scoring_max_attempts,
        )
    sender = TaskSender(celery_app)
    for submission_id in outcome.resent + outcome.requeued:
        sender.score(submission_id)
    for run_id in baseline_outcome.resent:
        sender.baseline(run_id)
    if baseline_outcome.resent or baseline_outcome.failed:
        logger.warning("reconciler, baseline runs: %s", baseline_outcome)
    if outcome.resent or outcome.requeued or outcome.failed:
        logger.warning("reconciler: %s", outcome)
    return {"resent": outcome.resent, "requeued": outcome.requeued, "failed": outcome.failed}
