"""Celery tasks: thin wrappers that load ids, call the services and the scoring core."""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_failure
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, transaction
from app.queue import RECONCILE_SUBMISSIONS, SCORE_SUBMISSION, TaskSender
from app.schemas.jobs import ScoreSubmissionJob
from app.scoring import GroundTruthError, PreparedGroundTruth, SubmissionRejected, score_path
from app.services import baselines as baselines_service
from app.services import scoring_runs
from app.services.storage import LocalStorage
from workers.celery_app import celery_app

logger = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """Per-process resources, built lazily after the prefork pool has forked."""

    settings: Settings
    _ground_truths: dict[str, PreparedGroundTruth] = field(default_factory=dict)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Return this process's session factory."""
        return make_sessionmaker(make_engine(self.settings.database_url))

    @cached_property
    def storage(self) -> LocalStorage:
        """Return the shared storage."""
        return LocalStorage(self.settings.data_dir)

    def ground_truth(self, key: str) -> PreparedGroundTruth:
        """Return a phase's prepared ground truth, loaded once per process."""
        if key not in self._ground_truths:
            self._ground_truths[key] = PreparedGroundTruth(self.storage.path(key))
        return self._ground_truths[key]


_context: WorkerContext | None = None


def context() -> WorkerContext:
    """Return this process's context, creating it on first use."""
    global _context
    if _context is None:
        _context = WorkerContext(get_settings())
    return _context


def run_scoring(submission_id: int, ctx: WorkerContext, task_id: str | None = None) -> str:
    """Score one submission end to end; return what happened ('scored', 'failed', 'skipped').

    `task_id` identifies the broker message, so that its redelivery after a lost worker may
    take over the run while a duplicate message may not.
    """
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(submission_id=submission_id, task_id=task_id)
    with transaction(ctx.sessions) as session:
        run = scoring_runs.claim(
            session=session,
            submission_id=submission_id,
            max_attempts=ctx.settings.scoring_max_attempts,
            task_id=task_id,
        )
    if run is None:
        return "skipped"
    started = time.perf_counter()
    try:
        ground_truth = ctx.ground_truth(run.ground_truth_key)
        result = score_path(ground_truth, ctx.storage.path(run.archive_key), threads=2)
    except SubmissionRejected as rejected:
        return _fail(ctx, submission_id, rejected.summary())
    except GroundTruthError:
        logger.exception("ground truth unusable while scoring submission %s", submission_id)
        return _fail(
            ctx,
            submission_id,
            "the phase's reference data could not be read; the organizers will rescore it",
        )
    except SoftTimeLimitExceeded:
        return _fail(
            ctx,
            submission_id,
            f"scoring took longer than {ctx.settings.scoring_time_limit_s} s and was stopped",
        )
    except OSError:
        raise  # storage hiccup: the task retries with backoff
    except Exception:
        logger.exception("unexpected error while scoring submission %s", submission_id)
        return _fail(
            ctx,
            submission_id,
            "an internal error stopped the scoring; the organizers have the details and will "
            "rescore it",
        )
    seconds = time.perf_counter() - started
    with transaction(ctx.sessions) as session:
        recorded = scoring_runs.finish(
            session=session, submission_id=submission_id, result=result, seconds=seconds
        )
    logger.info(
        "submission %s %s in %.3f s (mIoU %s)",
        submission_id,
        "scored" if recorded else "already settled",
        seconds,
        result.miou,
    )
    return "scored" if recorded else "skipped"


def _fail(ctx: WorkerContext, submission_id: int, reason: str) -> str:
    with transaction(ctx.sessions) as session:
        scoring_runs.fail(session=session, submission_id=submission_id, reason=reason)
    logger.info("submission %s failed: %s", submission_id, reason.splitlines()[0])
    return "failed"


RUN_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, DBAPIError, OSError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 10,
}
"""Delivery of the tasks that run something for a row (scoring, a baseline run): acked only
when done, back to the queue when the worker dies, retried with backoff on database or
storage errors."""


def row_past_hard_limit(
    exception: BaseException | None,
    args: tuple[object, ...],
    kwargs: dict[str, object] | None,
    key: str,
) -> int | None:
    """The row id of a task killed at its hard time limit (from task_failure), else None."""
    if not isinstance(exception, TimeLimitExceeded):
        return None
    row_id = (kwargs or {}).get(key, args[0] if args else None)
    return row_id if isinstance(row_id, int) else None


@celery_app.task(name=SCORE_SUBMISSION, **RUN_TASK_OPTIONS)
def score_submission(self: Task, submission_id: int) -> str:
    """Score a submission by id (idempotent: a settled submission is left alone)."""
    job = ScoreSubmissionJob(submission_id=submission_id)
    return run_scoring(job.submission_id, context(), task_id=self.request.id)


@task_failure.connect(sender=score_submission)
def fail_run_past_hard_time_limit(
    sender: object = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: tuple[object, ...] = (),
    kwargs: dict[str, object] | None = None,
    **_: object,
) -> None:
    """Fail a submission whose run was killed at the hard time limit, in plain words.

    The pool process is gone by then, so this runs in the worker's main process; without it
    the row would wait for the reconciler and be tried again, hitting the limit again.
    """
    submission_id = row_past_hard_limit(exception, args, kwargs, "submission_id")
    if submission_id is None:
        return
    ctx = context()
    _fail(
        ctx,
        submission_id,
        f"scoring took longer than {ctx.settings.scoring_time_limit_s} s and was stopped",
    )


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
