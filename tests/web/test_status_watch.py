"""The long poll's watcher: waiters wake when their submission's status changes."""

import threading

from app.models import Submission, SubmissionStatus
from app.web.status_watch import StatusWatcher
from tests.factories import prediction_zip
from tests.web.test_public_views import run_async
from tests.workers.conftest import phase_setup, submit

__all__ = ["phase_setup"]  # the fixture, shared with the worker tests


def _set_status(sessions, submission_id: int, status: SubmissionStatus) -> None:
    with sessions() as session:
        row = session.get(Submission, submission_id)
        row.status = status
        session.commit()


def test_a_waiter_wakes_when_the_status_changes(sessions, phase_setup, storage, tmp_path):
    phase, masks, user, _ = phase_setup
    upload = prediction_zip(tmp_path / "preds.zip", masks)
    with sessions() as session:
        submission = submit(session, storage, phase, user, upload, enqueue=lambda _id: None)
        submission_id = submission.id
    watcher = StatusWatcher(sessions, tick=0.02)

    async def scenario() -> tuple[bool, bool]:
        unchanged = await watcher.wait(submission_id, "queued", timeout=0.2)
        timer = threading.Timer(
            0.1, _set_status, (sessions, submission_id, SubmissionStatus.RUNNING)
        )
        timer.start()
        changed = await watcher.wait(submission_id, "queued", timeout=20)
        timer.join()
        return unchanged, changed

    unchanged, changed = run_async(scenario)
    assert unchanged is False
    assert changed is True


def test_a_waiter_that_knows_an_old_status_returns_at_once(
    sessions, phase_setup, storage, tmp_path
):
    phase, masks, user, _ = phase_setup
    upload = prediction_zip(tmp_path / "preds.zip", masks)
    with sessions() as session:
        submission = submit(session, storage, phase, user, upload, enqueue=lambda _id: None)
        submission_id = submission.id
    _set_status(sessions, submission_id, SubmissionStatus.SCORED)
    watcher = StatusWatcher(sessions, tick=0.02)
    assert run_async(lambda: watcher.wait(submission_id, "running", timeout=20)) is True
