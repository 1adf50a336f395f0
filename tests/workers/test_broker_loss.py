"""Redis emptied while submissions wait: the reconciler re-sends them and all end scored."""

import pytest

from tests.factories import make_phase, make_team, make_user, prediction_zip
from tests.live import LiveStack
from tests.workers.conftest import flush_redis, submit, worker_environment


@pytest.mark.parametrize(("database_url", "broker_url"), [("postgresql", "redis")], indirect=True)
def test_queued_submissions_survive_an_emptied_redis(
    settings, broker_url, session, storage, tmp_path, task_client, watcher
):
    settings = settings.model_copy(
        update={"broker_url": broker_url, "reconcile_every_s": 1, "stale_queued_after_s": 1}
    )
    phase, masks = make_phase(session, storage, tmp_path)
    user = make_user(session, email="lost@example.org")
    make_team(session, phase.challenge, user, name="Lost Messages")
    session.commit()
    sender = task_client(settings)
    ids = [
        submit(
            session,
            storage,
            phase,
            user,
            prediction_zip(tmp_path / f"p{i}.zip", masks, damage=0.1, seed=i),
            sender.score,
        ).id
        for i in range(3)
    ]
    # No worker ran yet: the three messages wait in Redis. Now Redis loses everything,
    # as a restart without persistence would.
    flush_redis(broker_url)

    stack = LiveStack("", worker_environment(settings), tmp_path / "logs")
    try:
        stack.start_worker("worker", "--beat")
        rows = [watcher.wait_for(i, ("scored", "failed"), timeout=60) for i in ids]
    finally:
        for process in stack.processes.values():
            process.stop()
    assert [row["status"] for row in rows] == ["scored"] * 3
    assert [row["attempts"] for row in rows] == [1, 1, 1]
