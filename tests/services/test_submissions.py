"""Submission creation: limits, idempotency, structural refusals, access."""

import threading
from datetime import timedelta

import pytest

from app.db import utcnow
from app.errors import InvalidInput, LimitReached, NotFound, PermissionDenied
from app.models import Submission
from app.services import submissions as submissions_service
from tests.factories import RecordingTasks, make_phase, make_team, make_user, prediction_zip


@pytest.fixture
def phase_setup(session, storage, tmp_path):
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=2, total_limit=3)
    user = make_user(session)
    team = make_team(session, phase.challenge, user)
    session.commit()
    return phase, masks, user, team


def submit(session, storage, tmp_path, phase, user, masks, tasks, **kwargs):
    upload = prediction_zip(tmp_path / f"upload-{len(tasks.sent)}.zip", masks)
    submission = submissions_service.create_submission(
        session=session,
        storage=storage,
        phase=phase,
        user=user,
        upload=upload,
        archive_name="preds.zip",
        sha256="0" * 64,
        enqueue=tasks.score,
        **kwargs,
    )
    session.commit()
    return submission


def test_submission_is_stored_queued_and_sent_after_commit(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    tasks = RecordingTasks()
    upload = prediction_zip(tmp_path / "u.zip", masks)
    submission = submissions_service.create_submission(
        session=session,
        storage=storage,
        phase=phase,
        user=user,
        upload=upload,
        archive_name="../../evil/preds.zip",
        sha256="a" * 64,
        enqueue=tasks.score,
    )
    assert tasks.sent == [], "the task must not be sent before the row is committed"
    session.commit()
    assert tasks.sent == [submission.id]
    assert submission.status == "queued"
    assert submission.archive_name == "preds.zip"
    assert storage.path(submission.archive_key).is_file()
    assert not upload.exists()


def test_rollback_sends_nothing(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    tasks = RecordingTasks()
    submissions_service.create_submission(
        session=session,
        storage=storage,
        phase=phase,
        user=user,
        upload=prediction_zip(tmp_path / "u.zip", masks),
        archive_name="p.zip",
        sha256="",
        enqueue=tasks.score,
    )
    session.rollback()
    assert tasks.sent == []
    assert session.query(Submission).count() == 0
    assert list(storage.root.glob("submissions/**/*.zip")) == [], "no file without its row"


def test_daily_limit_refuses_with_the_reset_time(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    tasks = RecordingTasks()
    submit(session, storage, tmp_path, phase, user, masks, tasks)
    submit(session, storage, tmp_path, phase, user, masks, tasks)
    with pytest.raises(LimitReached) as refused:
        submit(session, storage, tmp_path, phase, user, masks, tasks)
    session.rollback()
    assert refused.value.retry_at == submissions_service.day_start(utcnow()) + timedelta(days=1)
    assert session.query(Submission).count() == 2


def test_failed_submissions_do_not_count(session, storage, tmp_path, phase_setup):
    phase, masks, user, team = phase_setup
    tasks = RecordingTasks()
    first = submit(session, storage, tmp_path, phase, user, masks, tasks)
    first.status = "failed"
    session.commit()
    left = submissions_service.remaining(session=session, phase=phase, team=team)
    assert (left.today, left.total, left.used_today) == (2, 3, 0)


def test_idempotency_key_returns_the_first_submission(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    tasks = RecordingTasks()
    first = submit(session, storage, tmp_path, phase, user, masks, tasks, idempotency_key="k1")
    again = submit(session, storage, tmp_path, phase, user, masks, tasks, idempotency_key="k1")
    assert again.id == first.id
    assert session.query(Submission).count() == 1


def test_structurally_bad_archive_is_refused_without_a_row(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    broken = dict(masks)
    broken.pop("01.png")
    with pytest.raises(InvalidInput) as refused:
        submit(session, storage, tmp_path, phase, user, broken, RecordingTasks())
    session.rollback()
    assert "01.png: is missing" in refused.value.errors["file"]
    assert session.query(Submission).count() == 0
    assert list(storage.root.glob("submissions/**/*.zip")) == []


def test_unapproved_or_unregistered_users_cannot_submit(session, storage, tmp_path, phase_setup):
    phase, masks, _, team = phase_setup
    stranger = make_user(session, email="x@example.org")
    with pytest.raises(PermissionDenied, match="register a team"):
        submit(session, storage, tmp_path, phase, stranger, masks, RecordingTasks())
    session.rollback()
    team.status = "pending"
    session.commit()
    with pytest.raises(PermissionDenied, match="pending"):
        submit(session, storage, tmp_path, phase, team.members[0].user, masks, RecordingTasks())


def test_closed_phase_refuses(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    phase.ends_at = utcnow() - timedelta(minutes=1)
    session.commit()
    with pytest.raises(PermissionDenied, match="closed"):
        submit(session, storage, tmp_path, phase, user, masks, RecordingTasks())


def test_other_teams_cannot_read_a_submission(session, storage, tmp_path, phase_setup):
    phase, masks, user, _ = phase_setup
    submission = submit(session, storage, tmp_path, phase, user, masks, RecordingTasks())
    rival = make_user(session, email="rival@example.org")
    make_team(session, phase.challenge, rival, name="Rivals")
    session.commit()
    with pytest.raises(NotFound):
        submissions_service.get_submission(session=session, submission_id=submission.id, user=rival)
    found = submissions_service.get_submission(
        session=session, submission_id=submission.id, user=user
    )
    assert found.id == submission.id


def test_concurrent_uploads_never_exceed_the_daily_limit(sessions, storage, tmp_path, phase_setup):
    phase, masks, user, team = phase_setup
    archives = [prediction_zip(tmp_path / f"c{i}.zip", masks) for i in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(archives))

    def attempt(archive):
        barrier.wait()
        try:
            with sessions() as own, own.begin():
                submissions_service.create_submission(
                    session=own,
                    storage=storage,
                    phase=own.merge(phase),
                    user=own.merge(user),
                    upload=archive,
                    archive_name="p.zip",
                    sha256="",
                    enqueue=lambda _id: None,
                )
            outcomes.append("accepted")
        except LimitReached:
            outcomes.append("limited")

    threads = [threading.Thread(target=attempt, args=(a,)) for a in archives]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("accepted") == 2
    assert outcomes.count("limited") == 6
    with sessions() as check:
        assert check.query(Submission).filter_by(team_id=team.id).count() == 2
