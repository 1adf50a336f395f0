"""The database unavailable for a few seconds while a real worker scores a submission: the
task retries and the submission ends scored exactly once, with the scoring core's numbers.

The worker reaches PostgreSQL through a proxy that cuts every connection and refuses new
ones for a few seconds. The outage starts when the worker sends a given row-locking
statement: the first one is the claim (queued -> running), the second one records the
scores after they were computed, the worst moment to lose the database.
"""

import pytest
from sqlalchemy.engine import make_url

from tests.factories import make_phase, make_team, make_user, prediction_zip
from tests.live import LiveStack
from tests.reliability.faults import faulty_proxy, redis_server
from tests.workers.conftest import (
    assert_scored_like,
    expected_score,
    leaderboard_version,
    reload,
    submit,
    worker_environment,
)

OUTAGE_S = 3


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("locking_statement", "attempts"),
    [pytest.param(1, 1, id="while-claiming"), pytest.param(2, 2, id="while-recording-scores")],
)
def test_scoring_retries_through_a_database_outage_and_scores_once(
    settings,
    session,
    sessions,
    storage,
    tmp_path,
    task_client,
    watcher,
    locking_statement,
    attempts,
):
    phase, masks = make_phase(session, storage, tmp_path)
    user = make_user(session, email="outage@example.org")
    make_team(session, phase.challenge, user, name="Outage")
    session.commit()
    upload = prediction_zip(tmp_path / "preds.zip", masks, damage=0.2, seed=5)
    expected = expected_score(storage, phase, upload)  # before submit() moves the file
    version = leaderboard_version(sessions, phase.id)
    direct = make_url(settings.database_url)

    with (
        redis_server(tmp_path / "redis") as broker,
        faulty_proxy((direct.host or "127.0.0.1", direct.port or 5432)) as proxy,
    ):
        # sslmode=disable: the proxy must see the statements to time the outage.
        proxied = direct.set(host="127.0.0.1", port=proxy.port, query={"sslmode": "disable"})
        worker_settings = settings.model_copy(
            update={
                "broker_url": broker.url,
                "database_url": proxied.render_as_string(hide_password=False),
            }
        )
        stack = LiveStack("", worker_environment(worker_settings), tmp_path / "logs")
        try:
            worker = stack.start_worker("worker")  # no beat: only the task's retries help
            proxy.cut_on(b"FOR UPDATE", locking_statement, OUTAGE_S)
            submission = submit(
                session, storage, phase, user, upload, task_client(worker_settings).score
            )
            row = watcher.wait_for(
                submission.id,
                ("scored", "failed"),
                timeout=120,
                every=0.05,
                alive=lambda: worker.output()[-6000:],
            )
        finally:
            for process in stack.processes.values():
                process.stop()

    log = worker.output()
    assert proxy.triggered.is_set(), "the outage never happened"
    assert "OperationalError" in log, log[-6000:]
    assert "Retry in" in log, log[-6000:]
    assert_scored_like(reload(sessions, submission.id), expected)
    # Cut while recording, the first run's scores were lost with the connection: the retry
    # takes the run over (same task id) and scores again. Either way the scores are
    # recorded once, which the leaderboard version counts.
    assert row["attempts"] == attempts
    assert leaderboard_version(sessions, phase.id) == version + 1
