"""The claimable-run state machine itself (app.services.runs), on scoring runs."""

from datetime import timedelta

from app.db import utcnow
from app.models import Submission, SubmissionStatus
from app.services import runs
from app.services.scoring_runs import SCORING_RUN
from tests.factories import prediction_zip
from tests.workers.conftest import phase_setup, submit

__all__ = ["phase_setup"]  # the fixture, shared with the worker tests


def _queued(session, storage, phase_setup, tmp_path):
    phase, masks, user, _ = phase_setup
    tmp_path.mkdir(parents=True, exist_ok=True)
    upload = prediction_zip(tmp_path / "p.zip", masks)
    return submit(session, storage, phase, user, upload, enqueue=lambda _id: None).id


def _claim(session, run_id, task_id, max_attempts=3):
    return runs.claim(
        session=session, kind=SCORING_RUN, run_id=run_id, max_attempts=max_attempts, task_id=task_id
    )


def test_only_the_claiming_message_takes_a_running_run_over(
    session, storage, phase_setup, tmp_path
):
    run_id = _queued(session, storage, phase_setup, tmp_path)
    claimed = _claim(session, run_id, "m1")
    assert claimed is not None and claimed.status is SubmissionStatus.RUNNING
    assert claimed.attempts == 1
    assert _claim(session, run_id, "m2") is None  # a duplicate leaves the live run alone
    again = _claim(session, run_id, "m1")  # the same message redelivered: its worker died
    assert again is not None and again.attempts == 2


def test_a_run_out_of_attempts_fails_instead_of_running(session, storage, phase_setup, tmp_path):
    run_id = _queued(session, storage, phase_setup, tmp_path)
    assert _claim(session, run_id, "m1", max_attempts=1) is not None
    runs.requeue(kind=SCORING_RUN, run=session.get(Submission, run_id))
    assert _claim(session, run_id, "m2", max_attempts=1) is None
    failed = session.get(Submission, run_id)
    assert failed.status is SubmissionStatus.FAILED
    assert "after 1 attempts" in failed.error
    assert failed.finished_at is not None


def test_a_heartbeat_counts_only_for_the_claiming_message(session, storage, phase_setup, tmp_path):
    run_id = _queued(session, storage, phase_setup, tmp_path)
    _claim(session, run_id, "m1")
    assert runs.heartbeat(session=session, kind=SCORING_RUN, run_id=run_id, task_id="m1")
    assert not runs.heartbeat(session=session, kind=SCORING_RUN, run_id=run_id, task_id="m2")


def test_settled_runs_are_left_alone(session, storage, phase_setup, tmp_path):
    run_id = _queued(session, storage, phase_setup, tmp_path)
    _claim(session, run_id, "m1")
    assert runs.fail(session=session, kind=SCORING_RUN, run_id=run_id, reason="broken")
    assert not runs.fail(session=session, kind=SCORING_RUN, run_id=run_id, reason="again")
    assert runs.finish(session=session, kind=SCORING_RUN, run_id=run_id, record=id) is None
    assert session.get(Submission, run_id).error == "broken"


def test_a_fresh_requeue_forgets_attempts_and_error(session, storage, phase_setup, tmp_path):
    run_id = _queued(session, storage, phase_setup, tmp_path)
    _claim(session, run_id, "m1")
    runs.fail(session=session, kind=SCORING_RUN, run_id=run_id, reason="broken")
    submission = session.get(Submission, run_id)
    runs.requeue(kind=SCORING_RUN, run=submission, fresh=True)
    assert (submission.status, submission.attempts, submission.error) == ("queued", 0, "")
    assert submission.claimed_task_id is None


def test_reconcile_resends_quiet_queued_runs_and_requeues_silent_running_ones(
    session, storage, phase_setup, tmp_path
):
    waiting = _queued(session, storage, phase_setup, tmp_path / "a")
    silent = _queued(session, storage, phase_setup, tmp_path / "b")
    _claim(session, silent, "m1")
    session.commit()
    later = utcnow() + timedelta(minutes=10)
    outcome = runs.reconcile(
        session=session,
        kind=SCORING_RUN,
        resend_after=timedelta(minutes=1),
        running_timeout=timedelta(minutes=5),
        max_attempts=3,
        now=later,
    )
    assert (outcome.resent, outcome.requeued, outcome.failed) == ([waiting], [silent], [])
    assert session.get(Submission, silent).status is SubmissionStatus.QUEUED
