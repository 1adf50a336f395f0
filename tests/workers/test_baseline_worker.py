"""The GPU worker end to end on the CPU: a real Celery worker on the gpu queue over Redis.

An organizer registers a tiny MLPS checkpoint and asks for a run on a phase; the worker
predicts the phase's images from the participants' download, submits them as the reserved
baseline team, and the scoring path scores them like any other submission.
"""

import shutil
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import transaction
from app.models import BaselineRun, Submission
from app.services import baselines as baselines_service
from app.services import challenges as challenges_service
from app.services import leaderboard as leaderboard_service
from app.services.storage import LocalStorage
from tests.factories import make_user
from tests.live import LiveStack
from tests.workers.conftest import expected_score, worker_environment

pytest.importorskip("torch", reason="the GPU worker needs the [baseline] extra")

DONE_WITHIN_S = 120


def _register(session, storage, challenge, checkpoint: Path, tmp_path: Path, name: str):
    staged = tmp_path / f"{name}.pt"
    shutil.copyfile(checkpoint, staged)
    return baselines_service.register_model(
        session=session,
        storage=storage,
        challenge=challenge,
        actor=None,
        checkpoint=staged,
        file_name="tiny.pt",
        name=name,
    )


def _wait_for_run(sessions, run_id: int, stack: LiveStack) -> BaselineRun:
    deadline = time.monotonic() + DONE_WITHIN_S
    while True:
        with sessions() as fresh:
            run = fresh.get(BaselineRun, run_id)
            assert run is not None
            submission = run.submission
            if run.status == "failed":
                pytest.fail(f"baseline run failed: {run.error}")
            if submission is not None and submission.status in ("scored", "failed"):
                fresh.expunge_all()
                found: BaselineRun = run
                return found
        if time.monotonic() > deadline:
            logs = "\n".join(p.output()[-3000:] for p in stack.processes.values())
            pytest.fail(f"baseline run {run_id} not done after {DONE_WITHIN_S} s\n{logs}")
        time.sleep(0.2)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_gpu_worker_posts_a_scored_baseline_row(
    settings, redis_url, session, sessions, storage, tmp_path, demo_data, tiny_checkpoint
):
    settings = settings.model_copy(update={"broker_url": redis_url})
    report = challenges_service.import_phase(
        session=session,
        storage=storage,
        challenge_slug="wsss4luad",
        phase_slug="validation",
        dataset_dir=demo_data / "2.validation",
    )
    phase = report.phase
    organizer = make_user(session, email="org@example.org")
    model = _register(session, storage, phase.challenge, tiny_checkpoint, tmp_path, "MLPS tiny")
    session.commit()

    from app.queue import TaskSender, make_celery

    celery = make_celery(settings)
    stack = LiveStack("", worker_environment(settings), tmp_path / "logs")
    try:
        with transaction(sessions) as work:
            run = baselines_service.request_run(
                session=work,
                phase=work.merge(phase),
                model=work.merge(model),
                actor=work.merge(organizer),
                enqueue=TaskSender(celery).baseline,
            )
            run_id = run.id
        with transaction(sessions) as work:
            again = baselines_service.request_run(
                session=work,
                phase=work.merge(phase),
                model=work.merge(model),
                actor=None,
                enqueue=TaskSender(celery).baseline,
            )
            assert again.id == run_id, "a second press while the run is pending is a no-op"
        stack.start_worker("gpu-worker", "--queues", "gpu,scoring")
        done = _wait_for_run(sessions, run_id, stack)
    finally:
        for process in stack.processes.values():
            process.stop(signal.SIGKILL)
        celery.close()

    assert done.status == "done" and done.device == "CPU"
    assert done.predict_seconds is not None and done.predict_seconds > 0
    with sessions() as check:
        submission = check.scalars(select(Submission)).one()
        assert submission.team.is_baseline
        assert submission.method_name == "MLPS tiny"
        assert submission.status == "scored", submission.error
        archive = LocalStorage(settings.data_dir).path(submission.archive_key)
        expected = expected_score(LocalStorage(settings.data_dir), phase, archive)
        assert submission.miou == expected.miou
        assert submission.miou >= 0.6, "the tiny model learnt the synthetic classes"
        stored = check.get(type(model), model.id)
        assert stored.details["preset"] == "tiny"
        assert stored.details["predicted_images"] == report.images
        rows = leaderboard_service.leaderboard(session=check, phase=check.merge(phase))
    assert [(row.baseline, row.rank) for row in rows] == [(True, None)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_checkpoint_the_model_cannot_read_fails_the_run_in_plain_words(
    settings, session, sessions, storage, tmp_path, demo_data
):
    from workers.baseline import run_baseline_job
    from workers.context import WorkerContext

    phase = challenges_service.import_phase(
        session=session,
        storage=storage,
        challenge_slug="wsss4luad",
        phase_slug="validation",
        dataset_dir=demo_data / "2.validation",
    ).phase
    import torch

    torch.save({"not": torch.zeros(1)}, tmp_path / "foreign.pt")
    model = _register(session, storage, phase.challenge, tmp_path / "foreign.pt", tmp_path, "odd")
    run = baselines_service.request_run(
        session=session, phase=phase, model=model, actor=None, enqueue=lambda _: None
    )
    session.commit()

    assert run_baseline_job(run.id, WorkerContext(settings), task_id="t-1") == "failed"
    with sessions() as check:
        failed = check.get(BaselineRun, run.id)
        assert failed.status == "failed"
        assert "not an MLPS checkpoint" in failed.error
        assert check.scalars(select(Submission)).all() == []
    assert not list((settings.data_dir / "tmp").glob("baseline-run-*"))
