"""Baseline runs as a state machine: claims, redeliveries, duplicates, the reconciler."""

import zipfile
from datetime import timedelta

import pytest

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.models import BaselineModel, Challenge
from app.services import baselines as baselines_service
from app.services import runs as runs_service
from tests.factories import make_phase


def checkpoint_file(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mlps/data.pkl", b"\x80\x02}q\x00.")
    return path


@pytest.fixture
def queued_run(session, storage, tmp_path):
    phase, _ = make_phase(session, storage, tmp_path)
    model = baselines_service.register_model(
        session=session,
        storage=storage,
        challenge=phase.challenge,
        actor=None,
        checkpoint=checkpoint_file(tmp_path / "m.pt"),
        file_name="m.pt",
        name="MLPS",
    )
    sent: list[int] = []
    run = baselines_service.request_run(
        session=session, phase=phase, model=model, actor=None, enqueue=sent.append
    )
    session.commit()
    assert sent == [run.id], "the task is sent once the run is committed"
    return run


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_only_the_claiming_message_may_take_a_running_run_over(session, queued_run):
    claim = baselines_service.claim_run
    first = claim(session=session, run_id=queued_run.id, max_attempts=3, task_id="a")
    assert first is not None and first.attempt == 1
    assert claim(session=session, run_id=queued_run.id, max_attempts=3, task_id="b") is None
    again = claim(session=session, run_id=queued_run.id, max_attempts=3, task_id="a")
    assert again is not None and again.attempt == 2, "a redelivery of message a takes over"
    assert claim(session=session, run_id=queued_run.id, max_attempts=2, task_id="a") is None
    session.commit()
    session.refresh(queued_run)
    assert queued_run.status == "failed" and "2 attempts" in queued_run.error


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_settled_run_is_never_finished_or_failed_again(session, storage, queued_run, tmp_path):
    assert baselines_service.fail_run(session=session, run_id=queued_run.id, reason="broken")
    assert not baselines_service.fail_run(session=session, run_id=queued_run.id, reason="again")
    finished = baselines_service.finish_run(
        session=session,
        storage=storage,
        run_id=queued_run.id,
        predictions=tmp_path / "unused.zip",
        device="CPU",
        seconds=1.0,
        details={},
        enqueue_score=lambda _: None,
    )
    assert finished is None
    session.commit()
    session.refresh(queued_run)
    assert (queued_run.status, queued_run.error) == ("failed", "broken")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_reconciler_resends_lost_runs_and_requeues_then_fails_stuck_ones(session, queued_run):
    reconcile = baselines_service.reconcile_runs
    limits = {"resend_after": timedelta(minutes=30), "running_timeout": timedelta(minutes=36)}
    now = utcnow()
    fresh = reconcile(session=session, max_attempts=2, now=now, **limits)
    assert fresh.resent == [] and fresh.failed == []

    later = now + timedelta(minutes=31)
    lost = reconcile(session=session, max_attempts=2, now=later, **limits)
    assert lost.resent == [queued_run.id]
    assert reconcile(session=session, max_attempts=2, now=later, **limits).resent == [], (
        "sent again at most once per period"
    )

    baselines_service.claim_run(session=session, run_id=queued_run.id, max_attempts=2, task_id="x")
    session.commit()
    stuck_at = utcnow() + timedelta(minutes=37)
    requeued = reconcile(session=session, max_attempts=2, now=stuck_at, **limits)
    assert requeued.resent == [queued_run.id]
    session.commit()
    session.refresh(queued_run)
    assert queued_run.status == "queued" and queued_run.claimed_task_id is None

    baselines_service.claim_run(session=session, run_id=queued_run.id, max_attempts=2, task_id="y")
    session.commit()
    gone = reconcile(session=session, max_attempts=2, now=utcnow() + timedelta(hours=1), **limits)
    assert gone.failed == [queued_run.id]
    session.commit()
    session.refresh(queued_run)
    assert queued_run.status == "failed" and "2 attempts" in queued_run.error


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_registration_refuses_non_checkpoints_and_taken_names(session, storage, tmp_path):
    phase, _ = make_phase(session, storage, tmp_path)
    register = baselines_service.register_model
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 32)
    with pytest.raises(InvalidInput) as refused:
        register(
            session=session, storage=storage, challenge=phase.challenge, actor=None,
            checkpoint=tmp_path / "weights.bin", file_name="weights.bin", name="x",
        )  # fmt: skip
    assert "weights.bin: not a PyTorch checkpoint" in refused.value.errors["checkpoint"]
    register(
        session=session, storage=storage, challenge=phase.challenge, actor=None,
        checkpoint=checkpoint_file(tmp_path / "a.pt"), file_name="a.pt", name="MLPS",
    )  # fmt: skip
    with pytest.raises(Conflict):
        register(
            session=session, storage=storage, challenge=phase.challenge, actor=None,
            checkpoint=checkpoint_file(tmp_path / "b.pt"), file_name="b.pt", name="MLPS",
        )  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_needs_a_model_of_the_same_challenge(session, storage, tmp_path):
    phase, _ = make_phase(session, storage, tmp_path)
    other = Challenge(slug="elsewhere", title="Elsewhere")
    session.add(other)
    session.flush()
    foreign = BaselineModel(
        challenge_id=other.id, name="x", checkpoint_key="k", checkpoint_sha256="0" * 64
    )
    session.add(foreign)
    session.flush()
    with pytest.raises(NotFound):
        baselines_service.request_run(
            session=session, phase=phase, model=foreign, actor=None, enqueue=lambda _: None
        )


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_heartbeat_keeps_only_the_claiming_message_s_run_alive(session, queued_run):
    kind = baselines_service.BASELINE_RUN
    beat = runs_service.heartbeat
    assert not beat(session=session, kind=kind, run_id=queued_run.id, task_id="a"), "queued"
    baselines_service.claim_run(session=session, run_id=queued_run.id, max_attempts=3, task_id="a")
    queued_run.updated_at = utcnow() - timedelta(hours=1)
    session.commit()

    assert not beat(session=session, kind=kind, run_id=queued_run.id, task_id="b")
    assert beat(session=session, kind=kind, run_id=queued_run.id, task_id="a")
    session.commit()

    outcome = baselines_service.reconcile_runs(
        session=session,
        resend_after=timedelta(minutes=30),
        running_timeout=timedelta(minutes=36),
        max_attempts=3,
    )
    assert outcome.resent == [], "the timeout counts from the last sign of life"
    session.commit()
    session.refresh(queued_run)
    assert queued_run.status == "running" and queued_run.claimed_task_id == "a"
