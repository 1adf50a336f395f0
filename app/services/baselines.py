"""Baseline checkpoints and runs: organizers register a model, a GPU worker predicts a phase.

The GPU worker's predictions become a submission of the challenge's reserved baseline
team and are scored by the normal scoring path, so the baseline row is scored exactly like
every participant's. This module never reads the checkpoint's weights (that needs torch,
which only the GPU worker has); it checks that the file is a PyTorch archive.
"""

import hashlib
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import after_commit, on_rollback
from app.errors import Conflict, InvalidInput, NotFound
from app.models import (
    PENDING_RUN_STATUSES,
    BaselineModel,
    BaselineRun,
    Challenge,
    Phase,
    RunStatus,
    Submission,
    User,
)
from app.services import moderation as moderation_service
from app.services import runs as runs_service
from app.services import submissions as submissions_service
from app.services import teams as teams_service
from app.services.storage import Storage

MAX_NAME_LENGTH = 120


@dataclass(frozen=True)
class ClaimedBaselineRun:
    """What a GPU worker needs to predict a phase."""

    run_id: int
    checkpoint_key: str
    checkpoint_sha256: str
    data_archive_key: str
    image_sizes: dict[str, Any]
    attempt: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_checkpoint_file(path: Path, name: str) -> None:
    """Refuse anything but a PyTorch zip archive (what torch.save writes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        raise InvalidInput(
            {"checkpoint": f"{name}: not a PyTorch checkpoint (torch.save writes a zip archive)"}
        ) from None
    if not any(entry.endswith("data.pkl") for entry in names):
        raise InvalidInput({"checkpoint": f"{name}: a zip archive, but not a PyTorch checkpoint"})


def register_model(
    *,
    session: Session,
    storage: Storage,
    challenge: Challenge,
    actor: User | None,
    checkpoint: Path,
    file_name: str,
    name: str,
    sha256: str | None = None,
) -> BaselineModel:
    """Store a checkpoint under a name unique within the challenge; the file is moved.

    `sha256` is the file's digest when the caller computed it while receiving the file.
    """
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME_LENGTH:
        raise InvalidInput({"name": f"give the model a name of 1 to {MAX_NAME_LENGTH} characters"})
    taken = session.scalar(
        select(BaselineModel.id).where(
            BaselineModel.challenge_id == challenge.id, BaselineModel.name == clean
        )
    )
    if taken is not None:
        raise Conflict(f"a baseline model named {clean!r} exists already")
    _check_checkpoint_file(checkpoint, file_name)
    key = f"baselines/{challenge.slug}/{uuid.uuid4().hex}.pt"
    model = BaselineModel(
        challenge_id=challenge.id,
        name=clean,
        checkpoint_key=key,
        checkpoint_bytes=checkpoint.stat().st_size,
        checkpoint_sha256=sha256 or _sha256(checkpoint),
        details={"file_name": Path(file_name).name[:255]},
        created_by_id=actor.id if actor else None,
    )
    session.add(model)
    session.flush()
    storage.put_file(key, checkpoint)
    on_rollback(session, lambda: storage.delete(key))
    moderation_service.audit(
        session=session,
        challenge=challenge,
        actor=actor,
        action="baseline.register",
        target=clean,
        details={"sha256": model.checkpoint_sha256, "bytes": model.checkpoint_bytes},
    )
    return model


def list_models(*, session: Session, challenge: Challenge) -> list[BaselineModel]:
    """The challenge's baseline models, newest first."""
    return list(
        session.scalars(
            select(BaselineModel)
            .where(BaselineModel.challenge_id == challenge.id)
            .order_by(BaselineModel.created_at.desc(), BaselineModel.id.desc())
        )
    )


def model_by_id(*, session: Session, challenge: Challenge, model_id: int) -> BaselineModel:
    """A model of the challenge by id; another challenge's model is not found."""
    model = session.get(BaselineModel, model_id)
    if model is None or model.challenge_id != challenge.id:
        raise NotFound("no such baseline model in this challenge")
    return model


def get_model(*, session: Session, challenge: Challenge, name_or_id: str) -> BaselineModel:
    """A model of the challenge by name (or by id)."""
    condition = BaselineModel.name == name_or_id
    if name_or_id.isdigit():
        condition = condition | (BaselineModel.id == int(name_or_id))
    model = session.scalar(
        select(BaselineModel).where(BaselineModel.challenge_id == challenge.id, condition)
    )
    if model is None:
        raise NotFound(f"no baseline model {name_or_id!r} in this challenge")
    return model


def list_runs(*, session: Session, challenge: Challenge, limit: int = 100) -> list[BaselineRun]:
    """The challenge's baseline runs, newest first."""
    return list(
        session.scalars(
            select(BaselineRun)
            .join(Phase, Phase.id == BaselineRun.phase_id)
            .where(Phase.challenge_id == challenge.id)
            .order_by(BaselineRun.id.desc())
            .limit(limit)
        )
    )


def request_run(
    *,
    session: Session,
    phase: Phase,
    model: BaselineModel,
    actor: User | None,
    enqueue: Callable[[int], None],
) -> BaselineRun:
    """Queue a GPU run of the model on the phase; a second press while one is pending is a no-op."""
    if model.challenge_id != phase.challenge_id:
        raise NotFound("that baseline model belongs to another challenge")
    if not phase.data_archive_key:
        raise Conflict("import the phase's dataset before running a baseline on it")
    pending = session.scalar(
        select(BaselineRun).where(
            BaselineRun.phase_id == phase.id,
            BaselineRun.model_id == model.id,
            BaselineRun.status.in_(PENDING_RUN_STATUSES),
        )
    )
    if pending is not None:
        return pending
    run = BaselineRun(
        phase_id=phase.id, model_id=model.id, requested_by_id=actor.id if actor else None
    )
    session.add(run)
    session.flush()
    run_id = run.id
    after_commit(session, lambda: enqueue(run_id))
    moderation_service.audit(
        session=session,
        challenge=phase.challenge,
        actor=actor,
        action="baseline.run",
        target=f"{model.name} on {phase.slug}",
        details={"run": run_id},
    )
    return run


BASELINE_RUN = runs_service.RunKind(
    BaselineRun,
    RunStatus,
    done=RunStatus.DONE,
    out_of_attempts=lambda attempts: (
        f"the GPU worker did not complete the run in {attempts} attempts"
    ),
    timed_out=lambda attempts: f"the GPU worker did not finish the run after {attempts} attempts",
)
"""A baseline run follows the states of every claimable run (`app.services.runs`)."""


def claim_run(
    *, session: Session, run_id: int, max_attempts: int, task_id: str | None = None
) -> ClaimedBaselineRun | None:
    """Mark a run running and return what to predict; None when there is nothing to do.

    A running run is taken over only by a redelivery of the message that claimed it.
    """
    run = runs_service.claim(
        session=session,
        kind=BASELINE_RUN,
        run_id=run_id,
        max_attempts=max_attempts,
        task_id=task_id,
    )
    if run is None:
        return None
    return ClaimedBaselineRun(
        run.id,
        run.model.checkpoint_key,
        run.model.checkpoint_sha256,
        run.phase.data_archive_key,
        dict(run.phase.image_sizes),
        run.attempts,
    )


def finish_run(
    *,
    session: Session,
    storage: Storage,
    run_id: int,
    predictions: Path,
    device: str,
    seconds: float,
    details: dict[str, Any],
    enqueue_score: Callable[[int], None],
) -> Submission | None:
    """Turn a run's predictions (a zip, moved into storage) into a baseline submission."""

    def record(run: BaselineRun) -> Submission:
        team = teams_service.ensure_baseline_team(session=session, challenge=run.phase.challenge)
        preset = details.get("preset", "")
        predicted, total = details.get("predicted_images"), len(run.phase.image_sizes)
        coverage = (
            f"; {predicted} of {total} images predicted, the others (missing from the phase's "
            "download) count as background"
            if isinstance(predicted, int) and predicted < total
            else ""
        )
        submission = submissions_service.create_submission(
            session=session,
            storage=storage,
            phase=run.phase,
            user=run.requested_by,
            team=team,
            upload=predictions,
            archive_name=f"baseline-{run.id}.zip",
            sha256=_sha256(predictions),
            method_name=run.model.name[:120],
            description=(
                f"MLPS baseline{f' ({preset} preset)' if preset else ''}, predicted on {device} "
                f"in {seconds:.1f} s{coverage}"
            ),
            enqueue=enqueue_score,
        )
        run.device = device[:120]
        run.predict_seconds = seconds
        run.submission_id = submission.id
        run.model.details = {**run.model.details, **details}
        return submission

    return runs_service.finish(session=session, kind=BASELINE_RUN, run_id=run_id, record=record)


def fail_run(*, session: Session, run_id: int, reason: str) -> bool:
    """Record why a run could not complete; False when it was not pending."""
    return runs_service.fail(session=session, kind=BASELINE_RUN, run_id=run_id, reason=reason)


@dataclass(frozen=True)
class BaselineReconciliation:
    """What one reconciler pass did to baseline runs; the caller sends `resent` again."""

    resent: list[int]
    failed: list[int]


def reconcile_runs(
    *,
    session: Session,
    resend_after: timedelta,
    running_timeout: timedelta,
    max_attempts: int,
    now: datetime | None = None,
) -> BaselineReconciliation:
    """Re-send runs whose message may be lost; requeue, then fail, runs stuck running.

    A queued run is sent again at most once per `resend_after`: a GPU worker busy with a
    long run leaves the next ones queued for that long without anything being lost.
    """
    outcome = runs_service.reconcile(
        session=session,
        kind=BASELINE_RUN,
        resend_after=resend_after,
        running_timeout=running_timeout,
        max_attempts=max_attempts,
        now=now,
    )
    return BaselineReconciliation(outcome.resent + outcome.requeued, outcome.failed)
