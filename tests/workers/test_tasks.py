"""The scoring task body and the reconciler, run in this process on both databases.

No broker is involved: `run_scoring` is what the Celery task calls, given a context built
from the test settings, and `reconcile_submissions` is called like beat would call it.
"""

from datetime import timedelta

import numpy as np
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session, sessionmaker

import workers.runs
import workers.tasks
from app.db import transaction, utcnow
from app.models import Phase, Submission
from app.services import scoring_runs
from app.services import submissions as submissions_service
from tests.factories import RecordingTasks, png_bytes, prediction_zip, write_zip
from tests.workers.conftest import (
    assert_scored_like,
    expected_score,
    leaderboard_version,
    reload,
    submit,
)
from workers.context import WorkerContext
from workers.tasks import run_scoring


@pytest.fixture
def ctx(settings):
    """A worker's context on the test database and DATA_DIR."""
    context = WorkerContext(settings)
    yield context
    if "sessions" in vars(context):
        context.sessions.kw["bind"].dispose()


@pytest.fixture
def tasks():
    return RecordingTasks()


@pytest.fixture
def queued(session, storage, tmp_path, phase_setup, tasks):
    """A queued submission predicting the phase with some damage."""
    phase, masks, user, _ = phase_setup
    upload = prediction_zip(tmp_path / "preds.zip", masks, damage=0.2, seed=3)
    return submit(session, storage, phase, user, upload, tasks.score)


def used(sessions: sessionmaker[Session], phase_id: int, team) -> tuple[int, int]:
    """Return the team's (total, today) submissions that count toward the limits.

    A fresh session each time: on SQLite every transaction holds the write lock, so a
    test session left in a transaction would block the worker.
    """
    with sessions() as fresh:
        phase = fresh.get(Phase, phase_id)
        assert phase is not None
        left = submissions_service.remaining(session=fresh, phase=phase, team=team)
        return left.used_total, left.used_today


def test_run_scoring_scores_like_the_scoring_core(ctx, sessions, storage, queued, tasks):
    assert tasks.sent == [queued.id]
    before = leaderboard_version(sessions, queued.phase_id)

    assert run_scoring(queued.id, ctx) == "scored"

    scored = reload(sessions, queued.id)
    expected = expected_score(storage, queued.phase, storage.path(queued.archive_key))
    assert expected.miou is not None and 0 < expected.miou < 1
    assert_scored_like(scored, expected)
    assert scored.attempts == 1
    assert scored.scoring_seconds is not None and scored.scoring_seconds >= 0
    assert scored.started_at is not None and scored.finished_at is not None
    assert scored.started_at <= scored.finished_at
    assert leaderboard_version(sessions, queued.phase_id) == before + 1


def test_run_scoring_twice_changes_nothing(ctx, sessions, queued):
    assert run_scoring(queued.id, ctx) == "scored"
    first = reload(sessions, queued.id)
    version = leaderboard_version(sessions, queued.phase_id)

    assert run_scoring(queued.id, ctx) == "skipped"
    assert run_scoring(queued.id, ctx) == "skipped"

    again = reload(sessions, queued.id)
    columns = [column.key for column in Submission.__table__.columns]
    assert {c: getattr(again, c) for c in columns} == {c: getattr(first, c) for c in columns}
    assert again.attempts == 1
    assert leaderboard_version(sessions, queued.phase_id) == version


def test_an_unknown_submission_is_skipped(ctx, settings):
    assert run_scoring(12345, ctx) == "skipped"


def test_a_bad_mask_fails_in_plain_words_and_gives_the_quota_back(
    ctx, session, sessions, storage, tmp_path, phase_setup, tasks
):
    phase, masks, user, team = phase_setup
    names = sorted(masks)
    entries = {}
    for name in names:
        prediction = np.where(masks[name] == 3, 0, masks[name]).astype(np.uint8)
        if name == names[1]:
            prediction[:4, :4] = 7  # passes the structural pre-check, fails on decoding
        entries[name] = png_bytes(prediction, "L")
    upload = write_zip(tmp_path / "bad.zip", entries)
    submission = submit(session, storage, phase, user, upload, tasks.score)
    assert used(sessions, phase.id, team) == (1, 1)

    assert run_scoring(submission.id, ctx) == "failed"

    failed = reload(sessions, submission.id)
    assert failed.status == "failed"
    assert failed.attempts == 1
    assert failed.miou is None and failed.result is None
    assert names[1] in failed.error
    assert "7" in failed.error
    assert "expected class indices 0..3" in failed.error
    assert "Traceback" not in failed.error
    assert not failed.counts_toward_limit
    assert used(sessions, phase.id, team) == (0, 0)
    # A failed submission stays failed when its message is delivered again.
    assert run_scoring(submission.id, ctx) == "skipped"
    assert reload(sessions, submission.id).error == failed.error


def test_a_missing_ground_truth_fails_with_a_reason_for_participants(
    ctx, sessions, storage, queued
):
    ground_truth = storage.path(queued.phase.ground_truth_key)
    ground_truth.rename(ground_truth.with_name("moved-away"))

    assert run_scoring(queued.id, ctx) == "failed"

    failed = reload(sessions, queued.id)
    assert failed.status == "failed"
    assert "organizers will rescore it" in failed.error


def test_claim_fails_a_submission_at_max_attempts(ctx, session, sessions, queued):
    max_attempts = ctx.settings.scoring_max_attempts
    row = session.get(Submission, queued.id)
    row.attempts = max_attempts
    session.commit()

    assert run_scoring(queued.id, ctx) == "skipped"

    failed = reload(sessions, queued.id)
    assert failed.status == "failed"
    assert failed.attempts == max_attempts
    assert failed.miou is None
    assert f"after {max_attempts} attempts" in failed.error
    assert not failed.counts_toward_limit


def test_a_run_left_behind_by_a_lost_worker_is_claimed_again(ctx, sessions, storage, queued):
    with transaction(sessions) as session:
        run = scoring_runs.claim(
            session=session, submission_id=queued.id, max_attempts=3, task_id="message-1"
        )
    assert run is not None and run.attempt == 1
    # The worker died here; the broker delivers the same message again.

    assert run_scoring(queued.id, ctx, task_id="message-1") == "scored"

    scored = reload(sessions, queued.id)
    assert scored.attempts == 2
    assert_scored_like(scored, expected_score(storage, queued.phase, storage.path(run.archive_key)))


def test_a_duplicate_message_leaves_a_live_run_alone(ctx, sessions, queued):
    with transaction(sessions) as session:
        scoring_runs.claim(
            session=session, submission_id=queued.id, max_attempts=1, task_id="message-1"
        )
    # A second message for the same submission (a re-send) arrives while it runs.
    assert run_scoring(queued.id, ctx, task_id="message-2") == "skipped"
    assert run_scoring(queued.id, ctx) == "skipped"
    row = reload(sessions, queued.id)
    assert (row.status, row.attempts, row.claimed_task_id) == ("running", 1, "message-1")


def test_a_run_killed_at_the_hard_time_limit_fails_in_plain_words(ctx, sessions, queued):
    from celery.exceptions import TimeLimitExceeded

    with transaction(sessions) as session:
        scoring_runs.claim(
            session=session, submission_id=queued.id, max_attempts=3, task_id="message-1"
        )
    workers.tasks._context = ctx
    try:
        workers.tasks.fail_run_past_hard_time_limit(
            task_id="message-1",
            exception=TimeLimitExceeded(10),
            kwargs={"submission_id": queued.id},
        )
        workers.tasks.fail_run_past_hard_time_limit(
            task_id="message-1", exception=ValueError("other"), kwargs={"submission_id": 0}
        )
    finally:
        workers.tasks._context = None
    failed = reload(sessions, queued.id)
    assert failed.status == "failed"
    assert f"longer than {ctx.settings.scoring_time_limit_s} s" in failed.error


def test_a_run_past_the_soft_time_limit_fails_in_plain_words(ctx, sessions, queued, monkeypatch):
    def too_slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(workers.tasks, "score_path", too_slow)

    assert run_scoring(queued.id, ctx) == "failed"

    failed = reload(sessions, queued.id)
    assert failed.status == "failed"
    assert f"longer than {ctx.settings.scoring_time_limit_s} s" in failed.error
    assert not failed.counts_toward_limit


# --- The reconciler ------------------------------------------------------------------


def reconcile(sessions, settings, *, later: timedelta = timedelta(0)):
    """One reconciler pass as the beat task runs it, `later` after now."""
    with transaction(sessions) as session:
        return scoring_runs.reconcile(
            session=session,
            stale_queued_after=timedelta(seconds=settings.stale_queued_after_s),
            running_timeout=timedelta(seconds=settings.scoring_time_limit_s * 1.2),
            max_attempts=settings.scoring_max_attempts,
            now=utcnow() + later,
        )


def test_reconcile_resends_stale_queued_submissions(settings, sessions, queued):
    fresh = reconcile(sessions, settings)
    assert (fresh.resent, fresh.requeued, fresh.failed) == ([], [], [])

    stale = reconcile(
        sessions, settings, later=timedelta(seconds=settings.stale_queued_after_s + 1)
    )

    assert (stale.resent, stale.requeued, stale.failed) == ([queued.id], [], [])
    row = reload(sessions, queued.id)
    assert (row.status, row.attempts) == ("queued", 0)
    # Re-sent rows are not re-sent again on the next pass.
    assert reconcile(sessions, settings).resent == []


def test_reconcile_requeues_stuck_runs_then_fails_them(ctx, settings, sessions, storage, queued):
    max_attempts = settings.scoring_max_attempts
    timeout = timedelta(seconds=settings.scoring_time_limit_s * 1.2)
    for attempt in range(1, max_attempts + 1):
        with transaction(sessions) as session:
            run = scoring_runs.claim(
                session=session, submission_id=queued.id, max_attempts=max_attempts
            )
        assert run is not None and run.attempt == attempt
        # Not stuck yet: a run younger than the timeout is left alone.
        assert reconcile(sessions, settings, later=timeout / 2).requeued == []

        outcome = reconcile(sessions, settings, later=timeout + timedelta(seconds=1))

        row = reload(sessions, queued.id)
        if attempt < max_attempts:
            assert (outcome.requeued, outcome.failed) == ([queued.id], [])
            assert (row.status, row.attempts) == ("queued", attempt)
        else:
            assert (outcome.requeued, outcome.failed) == ([], [queued.id])
            assert (row.status, row.attempts) == ("failed", max_attempts)
            assert f"after {max_attempts} attempts" in row.error
    assert run_scoring(queued.id, ctx) == "skipped"
    assert reload(sessions, queued.id).status == "failed"


def test_a_requeued_run_is_scored_on_the_next_delivery(ctx, settings, sessions, storage, queued):
    with transaction(sessions) as session:
        scoring_runs.claim(session=session, submission_id=queued.id, max_attempts=3)
    outcome = reconcile(
        sessions, settings, later=timedelta(seconds=settings.scoring_time_limit_s * 2)
    )
    assert outcome.requeued == [queued.id]

    assert run_scoring(queued.id, ctx) == "scored"

    scored = reload(sessions, queued.id)
    assert scored.attempts == 2
    assert_scored_like(
        scored, expected_score(storage, queued.phase, storage.path(queued.archive_key))
    )


def test_the_beat_task_resends_requeues_and_fails(
    ctx, settings, session, sessions, storage, tmp_path, phase_setup, monkeypatch
):
    phase, masks, user, _ = phase_setup
    ignored = RecordingTasks()
    stale = submit(
        session, storage, phase, user, prediction_zip(tmp_path / "a.zip", masks), ignored.score
    )
    stuck = submit(
        session, storage, phase, user, prediction_zip(tmp_path / "b.zip", masks), ignored.score
    )
    dead = submit(
        session, storage, phase, user, prediction_zip(tmp_path / "c.zip", masks), ignored.score
    )
    fresh = submit(
        session, storage, phase, user, prediction_zip(tmp_path / "d.zip", masks), ignored.score
    )
    long_ago = utcnow() - timedelta(hours=1)
    for submission, status, attempts in [
        (stale, "queued", 0),
        (stuck, "running", 1),
        (dead, "running", settings.scoring_max_attempts),
    ]:
        row = session.get(Submission, submission.id)
        row.status, row.attempts, row.updated_at = status, attempts, long_ago
    session.commit()
    sent = RecordingTasks()
    monkeypatch.setattr(workers.tasks, "_context", ctx)
    monkeypatch.setattr(workers.tasks, "TaskSender", lambda _celery: sent)

    outcome = workers.tasks.reconcile_submissions()

    assert outcome == {"resent": [stale.id], "requeued": [stuck.id], "failed": [dead.id]}
    assert sorted(sent.sent) == sorted([stale.id, stuck.id])
    assert reload(sessions, stuck.id).status == "queued"
    assert reload(sessions, dead.id).status == "failed"
    assert reload(sessions, fresh.id).status == "queued"
    for submission_id in sent.sent:
        assert run_scoring(submission_id, ctx) == "scored"


def test_an_unexpected_scoring_error_fails_the_run_instead_of_leaving_it_running(
    ctx, sessions, queued, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(workers.tasks, "score_path", broken)
    assert run_scoring(queued.id, ctx) == "failed"
    failed = reload(sessions, queued.id)
    assert failed.status == "failed"
    assert "internal error" in failed.error
    assert "a bug" not in failed.error


def test_the_worker_s_heartbeat_is_throttled_and_moves_the_running_timeout(
    ctx, settings, session, sessions, queued, monkeypatch
):
    with transaction(sessions) as claiming:
        scoring_runs.claim(
            session=claiming, submission_id=queued.id, max_attempts=3, task_id="message-1"
        )
    long_ago = utcnow() - timedelta(hours=1)
    row = session.get(Submission, queued.id)
    row.updated_at = long_ago
    session.commit()
    beat = workers.runs.Heartbeat(workers.tasks.ScoringJob(ctx), queued.id, "message-1")

    beat()
    assert reload(sessions, queued.id).updated_at == long_ago, "too soon after the claim"
    monkeypatch.setattr(workers.runs, "HEARTBEAT_EVERY_S", 0.0)
    beat()

    assert reload(sessions, queued.id).updated_at > long_ago
    outcome = reconcile(sessions, settings)
    assert outcome.requeued == [] and reload(sessions, queued.id).status == "running"
