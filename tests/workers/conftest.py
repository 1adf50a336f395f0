"""Fixtures for the scoring workers: a phase with a team, worker contexts, brokers, senders."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import EMBEDDED_BROKER_URL, Settings
from app.models import Phase, Submission
from app.queue import TaskSender, make_celery
from app.scoring import PreparedGroundTruth, ScoreResult, score_path
from app.services import submissions as submissions_service
from app.services.storage import LocalStorage
from tests.factories import make_phase, make_team, make_user
from tests.live import environment

REDIS_URL = os.environ.get("WSSS4LUAD_TEST_REDIS", "redis://127.0.0.1:6379")
FIRST_REDIS_DB = 12
"""Databases 12..15 belong to these tests (one per xdist worker); 0..11 are left alone."""


@pytest.fixture
def phase_setup(session, storage, tmp_path):
    """A small open phase, one approved team and its member, committed."""
    phase, masks = make_phase(session, storage, tmp_path)
    user = make_user(session)
    team = make_team(session, phase.challenge, user)
    session.commit()
    return phase, masks, user, team


def submit(session, storage, phase, user, upload: Path, enqueue: Callable[[int], None]):
    """Create a submission from a prediction zip through the service and commit it."""
    submission = submissions_service.create_submission(
        session=session,
        storage=storage,
        phase=phase,
        user=user,
        upload=upload,
        archive_name=upload.name,
        sha256="0" * 64,
        enqueue=enqueue,
    )
    session.commit()
    return submission


def reload(sessions: sessionmaker[Session], submission_id: int) -> Submission:
    """Read a submission in a fresh, short session."""
    with sessions() as fresh:
        submission = fresh.get(Submission, submission_id)
        assert submission is not None
        return submission


def leaderboard_version(sessions: sessionmaker[Session], phase_id: int) -> int:
    """Return a phase's leaderboard version; every recorded score increments it."""
    with sessions() as fresh:
        phase = fresh.get(Phase, phase_id)
        assert phase is not None
        return phase.leaderboard_version


def expected_score(storage: LocalStorage, phase, archive: Path) -> ScoreResult:
    """Score an archive with the scoring core directly, as `wsss4luad score` does."""
    return score_path(PreparedGroundTruth(storage.path(phase.ground_truth_key)), archive)


def assert_scored_like(submission, expected: ScoreResult) -> None:
    """Check that a submission row carries exactly the numbers of `expected`."""
    assert submission.status == "scored", submission.error
    assert submission.error == ""
    assert submission.miou == expected.miou
    assert submission.iou_tumor == expected.iou["tumor"]
    assert submission.iou_stroma == expected.iou["stroma"]
    assert submission.iou_normal == expected.iou["normal"]
    assert submission.result == expected.to_dict()


# --- Real workers -------------------------------------------------------------------


def redis_db_index(worker_id: str) -> int:
    """Return the Redis database of this xdist worker ('master' when not distributed)."""
    number = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    return FIRST_REDIS_DB + number % 4


def flush_redis(url: str) -> None:
    with redis.Redis.from_url(url, socket_connect_timeout=3) as client:
        client.flushdb()


@pytest.fixture
def redis_url(worker_id: str) -> Iterator[str]:
    """This xdist worker's own Redis database, emptied before and after the test.

    Skips without Redis, or fails when the CI variable is set (as for PostgreSQL).
    """
    url = f"{REDIS_URL}/{redis_db_index(worker_id)}"
    try:
        flush_redis(url)
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    yield url
    flush_redis(url)  # a killed worker leaves unacknowledged messages behind


@pytest.fixture
def broker_url(request: pytest.FixtureRequest) -> str:
    """The broker a test names by indirect parametrization: "redis" or "embedded"."""
    kind = request.param
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    assert kind == "embedded", kind
    return EMBEDDED_BROKER_URL


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment of a worker process that shares every relevant setting with the test."""
    return environment(
        settings,
        WSSS4LUAD_SCORING_TIME_LIMIT_S=str(settings.scoring_time_limit_s),
        WSSS4LUAD_BASELINE_TIME_LIMIT_S=str(settings.baseline_time_limit_s),
        WSSS4LUAD_SCORING_MAX_ATTEMPTS=str(settings.scoring_max_attempts),
        WSSS4LUAD_RECONCILE_EVERY_S=str(settings.reconcile_every_s),
        WSSS4LUAD_STALE_QUEUED_AFTER_S=str(settings.stale_queued_after_s),
    )


class TaskClient:
    """The web side's task sender for some settings; closes its broker connections."""

    def __init__(self, settings: Settings) -> None:
        self.celery = make_celery(settings)
        self.sender = TaskSender(self.celery)

    def score(self, submission_id: int) -> None:
        self.sender.score(submission_id)

    def close(self) -> None:
        self.celery.close()


@pytest.fixture
def task_client() -> Iterator[Callable[[Settings], TaskClient]]:
    """Build senders for given settings; every one is closed after the test."""
    clients: list[TaskClient] = []

    def build(settings: Settings) -> TaskClient:
        clients.append(TaskClient(settings))
        return clients[-1]

    yield build
    for client in clients:
        client.close()


class Watcher:
    """Reads a submission's row from outside the app, as often as a test needs.

    SQLite engines from `make_engine` begin every transaction IMMEDIATE (the write lock);
    polling through them every few milliseconds would compete with the worker's writes.
    A plain engine reads without taking any lock.
    """

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url)

    def row(self, submission_id: int) -> dict[str, object]:
        table = Submission.__table__
        with self.engine.connect() as connection:
            found = connection.execute(table.select().where(table.c.id == submission_id)).mappings()
            return dict(found.one())

    def wait_for(
        self,
        submission_id: int,
        statuses: tuple[str, ...],
        *,
        timeout: float,
        every: float = 0.005,
        alive: Callable[[], str | None] = lambda: None,
    ) -> dict[str, object]:
        """Poll until the status is one of `statuses`; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        row = self.row(submission_id)
        while row["status"] not in statuses:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"submission {submission_id} still {row['status']!r} after {timeout} s "
                    f"(attempts {row['attempts']}, error {row['error']!r})\n{alive() or ''}"
                )
            time.sleep(every)
            row = self.row(submission_id)
        return row

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def watcher(settings) -> Iterator[Watcher]:
    """Polls submission rows of the test database."""
    watching = Watcher(settings.database_url)
    yield watching
    watching.close()
