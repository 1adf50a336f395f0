"""Redis killed and restarted empty while submissions wait in its queue, under a running
worker: the worker reconnects, the reconciler re-sends the lost messages, all end scored.

tests/workers/test_broker_loss.py empties the shared Redis (FLUSHDB) before any worker
starts. Here a private redis-server without persistence really dies (SIGKILL) and comes
back on the same port, and the worker has to survive the lost connection: Celery workers
have been known to stop consuming after a reconnect (celery#8030).
"""

import os
import signal

import pytest

from tests.factories import make_phase, make_team, make_user, prediction_zip
from tests.live import LiveStack
from tests.reliability.faults import redis_server
from tests.workers.conftest import (
    assert_scored_like,
    expected_score,
    leaderboard_version,
    reload,
    submit,
    worker_environment,
)

SUBMISSIONS = 3


@pytest.mark.parametrize("database_url", ["postgresql", "sqlite"], indirect=True)
def test_submissions_queued_in_a_redis_that_restarts_empty_are_all_scored(
    settings, session, sessions, storage, tmp_path, task_client, watcher
):
    phase, masks = make_phase(session, storage, tmp_path)
    user = make_user(session, email="restart@example.org")
    make_team(session, phase.challenge, user, name="Redis Restart")
    session.commit()
    version = leaderboard_version(sessions, phase.id)

    with redis_server(tmp_path / "redis") as broker:
        worker_settings = settings.model_copy(
            update={"broker_url": broker.url, "reconcile_every_s": 1, "stale_queued_after_s": 2}
        )
        stack = LiveStack("", worker_environment(worker_settings), tmp_path / "logs")
        try:
            worker = stack.start_worker("worker", "--beat")
            # Freeze the worker (and its beat) so the messages stay in Redis.
            os.killpg(worker.popen.pid, signal.SIGSTOP)
            sender = task_client(worker_settings)
            uploads = [
                prediction_zip(tmp_path / f"p{i}.zip", masks, damage=0.1, seed=i)
                for i in range(SUBMISSIONS)
            ]
            expected = [expected_score(storage, phase, upload) for upload in uploads]
            ids = [submit(session, storage, phase, user, u, sender.score).id for u in uploads]
            with broker.client() as client:
                # The frozen worker's pending BRPOP may already have taken one of them into
                # its socket buffer; the others wait in the queue.
                assert client.llen("scoring") >= SUBMISSIONS - 1

            broker.kill()
            broker.start()  # same port, nothing in it
            with broker.client() as client:
                assert client.dbsize() == 0

            os.killpg(worker.popen.pid, signal.SIGCONT)
            rows = [
                watcher.wait_for(
                    i,
                    ("scored", "failed"),
                    timeout=90,
                    every=0.05,
                    alive=lambda: worker.output()[-6000:],
                )
                for i in ids
            ]
            assert worker.popen.poll() is None, "the worker died with its broker"
        finally:
            for process in stack.processes.values():
                if process.popen.poll() is None:
                    os.killpg(process.popen.pid, signal.SIGCONT)
                process.stop()

    assert [row["attempts"] for row in rows] == [1] * SUBMISSIONS
    for submission_id, score in zip(ids, expected, strict=True):
        assert_scored_like(reload(sessions, submission_id), score)
    assert leaderboard_version(sessions, phase.id) == version + SUBMISSIONS
    assert "reconciler" in worker.output(), "the reconciler re-sent nothing"
