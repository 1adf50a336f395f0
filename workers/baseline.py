"""The GPU worker's task: predict a phase with a registered baseline checkpoint.

The predictions become a submission of the reserved baseline team, which the scoring
workers score like any other. torch is imported inside the task, never at module import:
scoring workers load this module too and must stay light, and CUDA must not be touched
before the prefork pool has forked.
"""

import io
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_failure
from PIL import Image
from sqlalchemy.exc import DBAPIError, OperationalError

from app.db import transaction
from app.errors import DomainError
from app.queue import RUN_BASELINE, TaskSender
from app.schemas.jobs import RunBaselineJob
from app.scoring.classes import BACKGROUND
from app.services import baselines as baselines_service
from workers.celery_app import celery_app
from workers.tasks import RUN_TASK_OPTIONS, WorkerContext, context, row_past_hard_limit

if TYPE_CHECKING:
    from reference_models.mlps.inference import Segmenter

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A checkpoint loaded on this process's device, kept for the next run."""

    sha256: str
    segmenter: "Segmenter"
    device: str
    details: dict[str, Any]


_loaded: LoadedModel | None = None


def load_model(path: Path, sha256: str) -> LoadedModel:
    """Load the checkpoint once per process (and again only when another one is asked for)."""
    global _loaded
    if _loaded is not None and _loaded.sha256 == sha256:
        return _loaded
    import torch

    from reference_models.mlps.checkpoint import Checkpoint
    from reference_models.mlps.inference import Segmenter

    cuda = torch.cuda.is_available()
    # With the Segmenter's fixed batch shape, tuning happens once: about 20 % faster on an H100.
    torch.backends.cudnn.benchmark = cuda
    checkpoint = Checkpoint.load(path)
    device = torch.cuda.get_device_name(0) if cuda else "CPU"
    details = {
        "preset": checkpoint.preset.name,
        "training": {k: v for k, v in checkpoint.info.items() if k != "versions"},
        "versions": checkpoint.info.get("versions", {}),
    }
    _loaded = LoadedModel(sha256, Segmenter(checkpoint, "cuda" if cuda else "cpu"), device, details)
    return _loaded


def _png(mask: np.ndarray) -> bytes:
    from reference_models.mlps.inference import mask_image

    buffer = io.BytesIO()
    mask_image(mask).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def predict_phase_archive(
    model: LoadedModel, data_archive: Path, image_sizes: dict[str, Any], out: Path
) -> int:
    """Write a submission zip of every image of the phase; returns how many were predicted.

    An image missing from the phase's download (the real validation split lacks 9 of 40)
    gets an all-background mask, which counts as a miss for all its tissue pixels.
    """
    from reference_models.mlps.inference import read_background

    predicted = 0
    with zipfile.ZipFile(data_archive) as data, zipfile.ZipFile(out, "w") as submission:
        members = set(data.namelist())
        for name, (width, height) in sorted(image_sizes.items()):
            if f"img/{name}" not in members:
                mask = np.full((height, width), BACKGROUND, dtype=np.uint8)
            else:
                with Image.open(data.open(f"img/{name}")) as image:
                    pixels = np.asarray(image.convert("RGB"))
                background = None
                if f"background-mask/{name}" in members:
                    with data.open(f"background-mask/{name}") as stream:
                        background = read_background(stream, name, (height, width))
                mask = model.segmenter.predict(pixels, background)
                predicted += 1
            submission.writestr(name, _png(mask))
    return predicted


def run_baseline_job(run_id: int, ctx: WorkerContext, task_id: str | None = None) -> str:
    """Predict a phase with a baseline model and submit the result; returns what happened."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(baseline_run_id=run_id, task_id=task_id)
    with transaction(ctx.sessions) as session:
        claimed = baselines_service.claim_run(
            session=session,
            run_id=run_id,
            max_attempts=ctx.settings.scoring_max_attempts,
            task_id=task_id,
        )
    if claimed is None:
        return "skipped"
    started = time.perf_counter()
    out = ctx.storage.scratch_dir() / f"baseline-run-{run_id}-{claimed.attempt}.zip"
    try:
        model = load_model(ctx.storage.path(claimed.checkpoint_key), claimed.checkpoint_sha256)
        predicted = predict_phase_archive(
            model, ctx.storage.path(claimed.data_archive_key), claimed.image_sizes, out
        )
    except ValueError as error:  # a checkpoint or a phase archive the model cannot use
        out.unlink(missing_ok=True)
        return _fail(ctx, run_id, str(error))
    except SoftTimeLimitExceeded:
        out.unlink(missing_ok=True)
        return _fail(ctx, run_id, _past_time_limit(ctx))
    except (OperationalError, DBAPIError, OSError):
        out.unlink(missing_ok=True)
        raise
    except Exception:
        out.unlink(missing_ok=True)
        logger.exception("unexpected error in baseline run %s", run_id)
        return _fail(ctx, run_id, "an internal error stopped the run; see the GPU worker's log")
    seconds = time.perf_counter() - started
    details = {**model.details, "predicted_images": predicted}
    try:
        with transaction(ctx.sessions) as session:
            submission = baselines_service.finish_run(
                session=session,
                storage=ctx.storage,
                run_id=run_id,
                predictions=out,
                device=model.device,
                seconds=seconds,
                details=details,
                enqueue_score=TaskSender(celery_app).score,
            )
    except DomainError as error:  # the phase changed under the run (re-imported, say)
        return _fail(ctx, run_id, f"the predictions could not be submitted: {error.message}")
    finally:
        out.unlink(missing_ok=True)
    logger.info(
        "baseline run %s predicted %s images on %s in %.1f s: submission %s",
        run_id,
        predicted,
        model.device,
        seconds,
        submission.id if submission else None,
    )
    return "done" if submission else "skipped"


def _past_time_limit(ctx: WorkerContext) -> str:
    return f"the run took longer than {ctx.settings.baseline_time_limit_s} s and was stopped"


def _fail(ctx: WorkerContext, run_id: int, reason: str) -> str:
    with transaction(ctx.sessions) as session:
        baselines_service.fail_run(session=session, run_id=run_id, reason=reason)
    logger.info("baseline run %s failed: %s", run_id, reason)
    return "failed"


@celery_app.task(name=RUN_BASELINE, **RUN_TASK_OPTIONS)
def run_baseline(self: Task, run_id: int) -> str:
    """Predict a phase with a baseline model (idempotent: a settled run is left alone)."""
    job = RunBaselineJob(run_id=run_id)
    return run_baseline_job(job.run_id, context(), task_id=self.request.id)


@task_failure.connect(sender=run_baseline)
def fail_baseline_past_hard_time_limit(
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: tuple[object, ...] = (),
    kwargs: dict[str, object] | None = None,
    **_: object,
) -> None:
    """Fail a run killed at the hard time limit, in plain words, instead of retrying it."""
    run_id = row_past_hard_limit(exception, args, kwargs, "run_id")
    if run_id is not None:
        ctx = context()
        _fail(ctx, run_id, _past_time_limit(ctx))
