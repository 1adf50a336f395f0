"""The Celery configuration shared by the web side (a client) and the workers.

The web side only sends tasks by name with ids; it never imports `workers`. A broker
that is down never loses a submission: the row is already committed as queued, and the
reconciler re-sends it.
"""

import logging

from celery import Celery
from kombu.entity import Queue

from app.config import Settings
from app.schemas.jobs import RunBaselineJob, ScoreSubmissionJob

SCORE_SUBMISSION = "workers.score_submission"
RECONCILE_SUBMISSIONS = "workers.reconcile_submissions"
RUN_BASELINE = "workers.run_baseline"
SCORING_QUEUE = "scoring"
DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"

logger = logging.getLogger(__name__)


def make_celery(settings: Settings, *, client: bool = False) -> Celery:
    """Build a Celery app for these settings; connects to nothing until used.

    A `client` (the web side) gives up on an unreachable broker within about a second:
    the submission is committed already and the reconciler sends it later, so an upload
    must not hang on a broker outage.
    """
    app = Celery("wsss4luad", broker=settings.broker_url, set_as_current=False)
    limit = settings.scoring_time_limit_s
    transport_options: dict[str, object] = {
        # A late-acked task running past the visibility timeout would be delivered again
        # in parallel, so it must exceed the longest hard time limit (a baseline run's).
        "visibility_timeout": int(max(limit, settings.baseline_time_limit_s) * 1.5),
    }
    if client and not settings.uses_embedded_broker:
        transport_options.update(
            max_retries=1, interval_start=0, socket_connect_timeout=1, socket_timeout=2
        )
    if settings.uses_embedded_broker:
        messages = settings.broker_dir / "messages"
        messages.mkdir(parents=True, exist_ok=True)
        transport_options.update(
            data_folder_in=str(messages),
            data_folder_out=str(messages),
            # Without it, kombu keeps its exchange table in ./control of whatever directory
            # the process was started in.
            control_folder=str(settings.broker_dir / "control"),
            store_processed=False,
            polling_interval=0.1,
        )
    app.conf.update(
        task_queues=(Queue(DEFAULT_QUEUE), Queue(SCORING_QUEUE), Queue(GPU_QUEUE)),
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=False,
        task_annotations={
            RUN_BASELINE: {
                "time_limit": settings.baseline_time_limit_s,
                "soft_time_limit": int(settings.baseline_time_limit_s * 0.9),
            }
        },
        task_routes={
            SCORE_SUBMISSION: {"queue": SCORING_QUEUE},
            RUN_BASELINE: {"queue": GPU_QUEUE},
        },
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=limit,
        task_soft_time_limit=int(limit * 0.9),
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_max_memory_per_child=1_500_000,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options=transport_options,
        beat_schedule={
            "reconcile-submissions": {
                "task": RECONCILE_SUBMISSIONS,
                "schedule": float(settings.reconcile_every_s),
            }
        },
    )
    return app


class TaskSender:
    """Sends scoring tasks; a broker failure is logged and left to the reconciler."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def score(self, submission_id: int) -> None:
        """Ask a worker to score a submission."""
        job = ScoreSubmissionJob(submission_id=submission_id)
        try:
            self.celery.send_task(
                SCORE_SUBMISSION, kwargs=job.model_dump(), queue=SCORING_QUEUE, retry=False
            )
        except Exception:  # the row stays queued; the reconciler re-sends it
            logger.exception("could not send submission %s to the broker", submission_id)

    def baseline(self, run_id: int) -> None:
        """Ask a GPU worker to predict a phase with a baseline model."""
        job = RunBaselineJob(run_id=run_id)
        try:
            self.celery.send_task(
                RUN_BASELINE, kwargs=job.model_dump(), queue=GPU_QUEUE, retry=False
            )
        except Exception:  # the run stays queued; the reconciler re-sends it
            logger.exception("could not send baseline run %s to the broker", run_id)
