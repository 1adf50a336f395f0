"""The GPU worker's task: predict a phase with a registered baseline checkpoint.

The predictions become a submission of the reserved baseline team, which the scoring
workers score like any other. torch is imported inside the task, never at module import:
scoring workers load this module too and must stay light, and CUDA must not be touched
before the prefork pool has forked.
"""

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from celery import Task
from PIL import Image
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.queue import RUN_BASELINE, TaskSender
from app.schemas.jobs import RunBaselineJob
from app.scoring.classes import BACKGROUND
from app.services import baselines as baselines_service
from workers.celery_app import celery_app
from workers.context import WorkerContext
from workers.runs import RUN_TASK_OPTIONS, RunFailed, RunJob, fail_past_hard_time_limit, perform
from workers.tasks import context

if TYPE_CHECKING:
    from reference_models.mlps.inference import Segmenter


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
    model: LoadedModel,
    data_archive: Path,
    image_sizes: dict[str, Any],
    out: Path,
    *,
    after_image: Callable[[], None] = lambda: None,
) -> int:
    """Write a submission zip of every image of the phase; returns how many were predicted.

    An image missing from the phase's download (the real validation split lacks 9 of 40)
    gets an all-background mask, which counts as a miss for all its tissue pixels.
    `after_image` is called after each image (the run's heartbeat).
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
            after_image()
    return predicted


@dataclass(frozen=True)
class Predictions:
    """A run's predictions zip, with what the model was and did."""

    path: Path
    model: LoadedModel
    predicted: int


class BaselineJob(RunJob[baselines_service.ClaimedBaselineRun, Predictions]):
    """Predicting a phase with a baseline checkpoint, then submitting the predictions."""

    kind = baselines_service.BASELINE_RUN
    noun = "baseline run"
    task_argument = "run_id"
    log_key = "baseline_run_id"
    done = "done"
    past_time_limit = "the run took longer than {seconds} s and was stopped"
    internal_error = "an internal error stopped the run; see the GPU worker's log"

    @property
    def time_limit_s(self) -> int:
        """Return the baseline time limit."""
        return self.ctx.settings.baseline_time_limit_s

    def claim(
        self, session: Session, run_id: int, *, max_attempts: int, task_id: str | None
    ) -> baselines_service.ClaimedBaselineRun | None:
        """Claim the baseline run."""
        return baselines_service.claim_run(
            session=session, run_id=run_id, max_attempts=max_attempts, task_id=task_id
        )

    def _scratch(self, claimed: baselines_service.ClaimedBaselineRun) -> Path:
        return (
            self.ctx.storage.scratch_dir() / f"baseline-run-{claimed.run_id}-{claimed.attempt}.zip"
        )

    def work(
        self, claimed: baselines_service.ClaimedBaselineRun, heartbeat: Callable[[], None]
    ) -> Predictions:
        """Predict every image of the phase into a scratch zip."""
        out = self._scratch(claimed)
        try:
            model = load_model(
                self.ctx.storage.path(claimed.checkpoint_key), claimed.checkpoint_sha256
            )
            predicted = predict_phase_archive(
                model,
                self.ctx.storage.path(claimed.data_archive_key),
                claimed.image_sizes,
                out,
                after_image=heartbeat,
            )
        except ValueError as error:  # a checkpoint or a phase archive the model cannot use
            raise RunFailed(str(error)) from error
        return Predictions(out, model, predicted)

    def finish(
        self, session: Session, run_id: int, outcome: Predictions, seconds: float
    ) -> str | None:
        """Submit the predictions as the baseline team's submission."""
        try:
            submission = baselines_service.finish_run(
                session=session,
                storage=self.ctx.storage,
                run_id=run_id,
                predictions=outcome.path,
                device=outcome.model.device,
                seconds=seconds,
                details={**outcome.model.details, "predicted_images": outcome.predicted},
                enqueue_score=TaskSender(celery_app).score,
            )
        except DomainError as error:  # the phase changed under the run (re-imported, say)
            raise RunFailed(f"the predictions could not be submitted: {error.message}") from error
        if submission is None:
            return None
        return (
            f"{outcome.predicted} images predicted on {outcome.model.device}: "
            f"submission {submission.id}"
        )

    def clean_up(self, claimed: baselines_service.ClaimedBaselineRun) -> None:
        """Remove the scratch zip (a finished run's was moved into storage)."""
        self._scratch(claimed).unlink(missing_ok=True)


def run_baseline_job(run_id: int, ctx: WorkerContext, task_id: str | None = None) -> str:
    """Predict a phase with a baseline model and submit the result; returns what happened."""
    return perform(BaselineJob(ctx), run_id, task_id)


@celery_app.task(name=RUN_BASELINE, **RUN_TASK_OPTIONS)
def run_baseline(self: Task, run_id: int) -> str:
    """Predict a phase with a baseline model (idempotent: a settled run is left alone)."""
    job = RunBaselineJob(run_id=run_id)
    return run_baseline_job(job.run_id, context(), task_id=self.request.id)


fail_baseline_past_hard_time_limit = fail_past_hard_time_limit(run_baseline, BaselineJob, context)
"""Fails a baseline run killed at the hard time limit, in plain words, instead of retrying it."""
