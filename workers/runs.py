"""How a worker carries out one run of any kind: delivery, claim, work, then finish or fail.

A kind of run (scoring a submission, a baseline run) is a `RunJob`: how to claim the row,
do the work and record the outcome, and its words for failures. `perform` does the rest
the same way for every kind: the states (`app.services.runs`), the time limits, heartbeats
and which errors fail the run in plain words and which ones the task retries.
"""

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_failure
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db import transaction
from app.services import runs as runs_service
from workers.context import WorkerContext

logger = logging.getLogger(__name__)

RETRIED = (OperationalError, DBAPIError, OSError)
"""Database or storage hiccups: the task is retried with backoff instead of failing the run."""

RUN_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRIED,
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 10,
}
"""Delivery of the tasks that run something for a row (scoring, a baseline run): acked only
when done, back to the queue when the worker dies, retried with backoff on database or
storage errors."""

HEARTBEAT_EVERY_S = 30.0
"""How often a long run tells the database it is alive; far below any running timeout."""

Claimed = TypeVar("Claimed")
Outcome = TypeVar("Outcome")


class RunFailed(Exception):
    """The run cannot succeed; `reason` tells the people who asked for it why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunJob(ABC, Generic[Claimed, Outcome]):
    """One kind of run, as `perform` drives it for a worker."""

    kind: ClassVar[runs_service.RunKind[Any]]
    noun: ClassVar[str]
    """What the logs call one run: 'submission', 'baseline run'."""
    task_argument: ClassVar[str]
    """The task's keyword argument naming the row."""
    log_key: ClassVar[str]
    """The log context's key for the row's id."""
    done: ClassVar[str]
    """What `perform` returns when the outcome was recorded."""
    past_time_limit: ClassVar[str]
    """Why a run stopped at the time limit; `{seconds}` is the limit."""
    internal_error: ClassVar[str]
    """Why a run stopped on an unexpected error (the traceback goes to the log only)."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @property
    @abstractmethod
    def time_limit_s(self) -> int:
        """Return the run's soft time limit."""

    @abstractmethod
    def claim(
        self, session: Session, run_id: int, *, max_attempts: int, task_id: str | None
    ) -> Claimed | None:
        """Claim the row and return what the work needs; None when there is nothing to do."""

    @abstractmethod
    def work(self, claimed: Claimed, heartbeat: Callable[[], None]) -> Outcome:
        """Do the run's work, calling `heartbeat` now and then; raise RunFailed to fail it."""

    @abstractmethod
    def finish(self, session: Session, run_id: int, outcome: Outcome, seconds: float) -> str | None:
        """Record the outcome and return a note for the log; None when the row was settled."""

    def clean_up(self, claimed: Claimed) -> None:
        """Remove what the attempt left behind, whatever became of it."""

    def time_limit_reason(self) -> str:
        """Return why a run stopped at the time limit."""
        return self.past_time_limit.format(seconds=self.time_limit_s)


def perform(job: RunJob[Claimed, Outcome], run_id: int, task_id: str | None = None) -> str:
    """Carry out one run end to end; return what happened (`job.done`, 'failed', 'skipped').

    `task_id` identifies the broker message, so that its redelivery after a lost worker may
    take over the run while a duplicate message may not.
    """
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{job.log_key: run_id}, task_id=task_id)
    with transaction(job.ctx.sessions) as session:
        claimed = job.claim(
            session,
            run_id,
            max_attempts=job.ctx.settings.scoring_max_attempts,
            task_id=task_id,
        )
    if claimed is None:
        return "skipped"
    try:
        return _carry_out(job, run_id, claimed, task_id)
    finally:
        job.clean_up(claimed)


def _carry_out(
    job: RunJob[Claimed, Outcome], run_id: int, claimed: Claimed, task_id: str | None
) -> str:
    started = time.perf_counter()
    try:
        outcome = job.work(claimed, Heartbeat(job, run_id, task_id))
    except RunFailed as failure:
        return fail(job, run_id, failure.reason)
    except SoftTimeLimitExceeded:
        return fail(job, run_id, job.time_limit_reason())
    except RETRIED:
        raise
    except Exception:
        logger.exception("unexpected error in %s %s", job.noun, run_id)
        return fail(job, run_id, job.internal_error)
    seconds = time.perf_counter() - started
    try:
        with transaction(job.ctx.sessions) as session:
            note = job.finish(session, run_id, outcome, seconds)
    except RunFailed as failure:
        return fail(job, run_id, failure.reason)
    logger.info(
        "%s %s %s in %.3f s: %s",
        job.noun,
        run_id,
        "finished" if note is not None else "already settled",
        seconds,
        note,
    )
    return job.done if note is not None else "skipped"


def fail(job: RunJob[Any, Any], run_id: int, reason: str) -> str:
    """Record why a run failed, unless it was settled already; return 'failed'."""
    with transaction(job.ctx.sessions) as session:
        runs_service.fail(session=session, kind=job.kind, run_id=run_id, reason=reason)
    logger.info("%s %s failed: %s", job.noun, run_id, reason.splitlines()[0])
    return "failed"


class Heartbeat:
    """Tells the database, at most every HEARTBEAT_EVERY_S, that a running row is alive."""

    def __init__(self, job: RunJob[Any, Any], run_id: int, task_id: str | None) -> None:
        self.job, self.run_id, self.task_id = job, run_id, task_id
        self.last = time.monotonic()

    def __call__(self) -> None:
        """Touch the row when the last sign of life is old enough."""
        now = time.monotonic()
        if now - self.last < HEARTBEAT_EVERY_S:
            return
        self.last = now
        try:
            with transaction(self.job.ctx.sessions) as session:
                runs_service.heartbeat(
                    session=session, kind=self.job.kind, run_id=self.run_id, task_id=self.task_id
                )
        except SQLAlchemyError:
            # A missed heartbeat only brings the reconciler's timeout nearer; the run goes on.
            logger.warning("%s %s: heartbeat not recorded", self.job.noun, self.run_id)


def _row_past_hard_limit(
    exception: BaseException | None,
    args: tuple[object, ...],
    kwargs: dict[str, object] | None,
    key: str,
) -> int | None:
    """The row id of a task killed at its hard time limit, else None."""
    if not isinstance(exception, TimeLimitExceeded):
        return None
    row_id = (kwargs or {}).get(key, args[0] if args else None)
    return row_id if isinstance(row_id, int) else None


def fail_past_hard_time_limit(
    task: Task, job_type: type[RunJob[Any, Any]], context: Callable[[], WorkerContext]
) -> Callable[..., None]:
    """Connect, and return, the handler failing the runs of `task` killed at the hard limit.

    The pool process is gone by then, so the handler runs in the worker's main process;
    without it the row would wait for the reconciler and be tried again, hitting the limit
    again.
    """

    def handler(
        task_id: str | None = None,
        exception: BaseException | None = None,
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
        **_: object,
    ) -> None:
        run_id = _row_past_hard_limit(exception, args, kwargs, job_type.task_argument)
        if run_id is not None:
            job = job_type(context())
            fail(job, run_id, job.time_limit_reason())

    task_failure.connect(handler, sender=task, weak=False)
    return handler
