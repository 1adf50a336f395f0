"""Scoring through a real `wsss4luad worker` process and a real broker.

Redis runs with PostgreSQL, the embedded filesystem broker with SQLite (the two ways the
site is deployed); the plain scoring test runs on all four combinations. Submissions are
created by the service and sent by the web side's TaskSender, exactly as an upload is.

The kill tests stop the worker with SIGKILL while a submission is 'running' and check
that it still ends scored exactly once, through each of the three ways back:
- the reconciler (beat) requeues a run older than 1.2 x the time limit; this is the only
  way back for the embedded broker, whose messages are files deleted when read;
- Redis puts an unacknowledged message back once its visibility timeout has passed
  (acks_late), when a worker starts again;
- when only the pool child dies (the OOM killer's choice), the worker's main process
  requeues the message at once (reject_on_worker_lost).
"""

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from app.config import Settings
from app.services import challenges as challenges_service
from tests.factories import (
    Mask,
    make_team,
    make_user,
    png_bytes,
    random_mask,
    write_ground_truth,
    zip_bytes,
)
from tests.factories import prediction_zip as write_prediction_zip
from tests.live import LiveStack, Process
from tests.workers.conftest import (
    assert_scored_like,
    expected_score,
    leaderboard_version,
    reload,
    submit,
    worker_environment,
)

ALL_COMBINATIONS = [
    pytest.param("postgresql", "redis", id="postgresql-redis"),
    pytest.param("sqlite", "embedded", id="sqlite-embedded"),
    pytest.param("postgresql", "embedded", id="postgresql-embedded"),
    pytest.param("sqlite", "redis", id="sqlite-redis"),
]
DEPLOYED_COMBINATIONS = ALL_COMBINATIONS[:2]

SCORED_WITHIN_S = 30
"""The bound on 'scored within seconds' for a small phase, generous for a loaded CI box."""


@pytest.fixture
def worker_stack(tmp_path: Path) -> Iterator[Callable[[Settings], LiveStack]]:
    """Build worker-only stacks for some settings; every process is stopped afterwards."""
    stacks: list[LiveStack] = []

    def build(settings: Settings) -> LiveStack:
        stack = LiveStack("", worker_environment(settings), tmp_path / "logs")
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        for process in stack.processes.values():
            process.stop(signal.SIGKILL)


def logs_of(stack: LiveStack) -> Callable[[], str]:
    """Return a function printing the tail of every worker log, for failure messages."""

    def tails() -> str:
        return "\n".join(
            f"--- {name}.log ---\n{process.output()[-4000:]}"
            for name, process in stack.processes.items()
        )

    return tails


def successes(worker: Process, outcome: str) -> int:
    """Count the score tasks the worker logged as finished with `outcome`."""
    return sum(
        1
        for line in worker.output().splitlines()
        if "workers.score_submission" in line and "succeeded in" in line and repr(outcome) in line
    )


@pytest.mark.parametrize(("database_url", "broker_url"), ALL_COMBINATIONS, indirect=True)
def test_a_real_worker_scores_a_submission_like_the_scoring_core(
    settings,
    broker_url,
    session,
    sessions,
    storage,
    tmp_path,
    phase_setup,
    task_client,
    worker_stack,
    watcher,
):
    settings = settings.model_copy(update={"broker_url": broker_url})
    stack = worker_stack(settings)
    worker = stack.start_worker("worker")
    phase, masks, user, _ = phase_setup
    upload = write_prediction_zip(tmp_path / "preds.zip", masks, damage=0.15, seed=11)
    expected = expected_score(storage, phase, upload)
    version = leaderboard_version(sessions, phase.id)
    client = task_client(settings)

    submission = submit(session, storage, phase, user, upload, client.score)
    row = watcher.wait_for(
        submission.id, ("scored", "failed"), timeout=SCORED_WITHIN_S, alive=logs_of(stack)
    )

    assert row["attempts"] == 1
    assert_scored_like(reload(sessions, submission.id), expected)
    assert leaderboard_version(sessions, phase.id) == version + 1

    # A duplicate message (the broker delivering twice) is absorbed by the worker.
    client.score(submission.id)
    deadline = time.monotonic() + SCORED_WITHIN_S
    while successes(worker, "skipped") < 1:
        assert time.monotonic() < deadline, logs_of(stack)()
        time.sleep(0.05)
    again = reload(sessions, submission.id)
    assert (again.status, again.attempts, again.miou) == ("scored", 1, expected.miou)
    assert leaderboard_version(sessions, phase.id) == version + 1


# --- Killing the worker mid-scoring --------------------------------------------------

KILL_SETTINGS = {
    # The smallest time limit the settings allow: a run older than 1.2 x 10 s counts as
    # stuck for the reconciler, and Redis redelivers an unacknowledged message after
    # its visibility timeout of 1.5 x 10 s.
    "scoring_time_limit_s": 10,
    "baseline_time_limit_s": 10,
    "reconcile_every_s": 1,
}
BIG_IMAGES, BIG_SIDE = 8, 3000


@pytest.fixture(scope="module")
def big_masks() -> dict[str, Mask]:
    """Masks big enough that scoring takes about a second (built once per xdist worker)."""
    return {
        f"{i:02d}.png": random_mask(np.random.default_rng(100 + i), BIG_SIDE, BIG_SIDE)
        for i in range(BIG_IMAGES)
    }


@pytest.fixture(scope="module")
def slow_archive(big_masks) -> bytes:
    """A prediction zip that is slow to score, so the worker can be killed mid-scoring.

    Scoring has to last long enough for a test polling the database every few
    milliseconds to see the row 'running' and kill the worker before it finishes. The
    decoder's fast path (8-bit P/L, unfiltered rows) inflates 8 x 9 Mpixels in a fraction
    of a second, and L images full of noise only add ~0.1 s while taking many seconds to
    encode. RGB masks go through Pillow and the palette-colour mapping instead: about a
    second of scoring here (more under load), and quick to encode because the blocky masks
    compress well. Every seventh row is relabelled so the score is not trivially 1.
    """
    entries = {}
    for name, mask in big_masks.items():
        prediction = np.where(mask == 3, 0, mask).astype(np.uint8)
        prediction[::7] = (prediction[::7] + 1) % 3
        entries[name] = png_bytes(prediction, "RGB")
    return zip_bytes(entries)


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory, big_masks) -> Path:
    """The big masks in the official layout, written once (no img/: it is optional)."""
    return write_ground_truth(tmp_path_factory.mktemp("big") / "dataset", big_masks)


@pytest.fixture
def big_phase_setup(session, storage, big_dataset):
    """A phase imported from the big dataset, with a team, committed."""
    report = challenges_service.import_phase(
        session=session,
        storage=storage,
        challenge_slug="wsss4luad",
        phase_slug="validation",
        dataset_dir=big_dataset,
    )
    user = make_user(session)
    team = make_team(session, report.phase.challenge, user)
    session.commit()
    return report.phase, user, team


def submit_and_catch_running(
    session, storage, tmp_path, big_phase_setup, slow_archive, send, watcher, stack
):
    """Submit the slow archive and return the submission once a worker has claimed it."""
    phase, user, _ = big_phase_setup
    upload = tmp_path / "slow.zip"
    upload.write_bytes(slow_archive)
    submission = submit(session, storage, phase, user, upload, send)
    watcher.wait_for(
        submission.id,
        ("running", "scored", "failed"),
        timeout=SCORED_WITHIN_S,
        every=0.002,
        alive=logs_of(stack),
    )
    return submission


def assert_killed_mid_scoring(watcher, submission_id: int, stack) -> None:
    """After the kill: the run was interrupted, not finished (else the test proves nothing)."""
    row = watcher.row(submission_id)
    if row["status"] != "running":
        pytest.fail(
            f"scoring ended ({row['status']}) before the worker was killed; the slow archive "
            f"is too fast on this machine\n{logs_of(stack)()}"
        )
    assert row["attempts"] == 1


def assert_scored_once(sessions, storage, watcher, submission, version: int, stack) -> None:
    """The submission ends scored by its second attempt, with one recorded score."""
    row = watcher.wait_for(
        submission.id, ("scored", "failed"), timeout=40, every=0.05, alive=logs_of(stack)
    )
    expected = expected_score(storage, submission.phase, storage.path(submission.archive_key))
    scored = reload(sessions, submission.id)
    assert_scored_like(scored, expected)
    assert row["attempts"] == 2
    assert leaderboard_version(sessions, submission.phase_id) == version + 1


@pytest.mark.parametrize(("database_url", "broker_url"), DEPLOYED_COMBINATIONS, indirect=True)
def test_a_worker_killed_mid_scoring_is_recovered_by_the_reconciler(
    settings,
    broker_url,
    session,
    sessions,
    storage,
    tmp_path,
    big_phase_setup,
    slow_archive,
    task_client,
    worker_stack,
    watcher,
):
    settings = settings.model_copy(update={"broker_url": broker_url, **KILL_SETTINGS})
    stack = worker_stack(settings)
    worker = stack.start_worker("worker", "--beat")
    version = leaderboard_version(sessions, big_phase_setup[0].id)
    submission = submit_and_catch_running(
        session,
        storage,
        tmp_path,
        big_phase_setup,
        slow_archive,
        task_client(settings).score,
        watcher,
        stack,
    )

    worker.stop(signal.SIGKILL)  # the whole process group: main process, pool child, beat

    assert_killed_mid_scoring(watcher, submission.id, stack)
    # With Redis the restart comes before the visibility timeout, so the message is not
    # yet redelivered; with the embedded broker it is gone. Either way the reconciler
    # requeues the run once it is 12 s old and sends the task again.
    stack.start_worker("worker-restarted", "--beat")
    assert_scored_once(sessions, storage, watcher, submission, version, stack)
    # Nothing else happens to it afterwards (the reconciler runs every second).
    time.sleep(1.5)
    assert reload(sessions, submission.id).attempts == 2
    assert leaderboard_version(sessions, submission.phase_id) == version + 1


@pytest.mark.parametrize(
    ("database_url", "broker_url"),
    [pytest.param("postgresql", "redis", id="postgresql-redis")],
    indirect=True,
)
def test_redis_redelivers_the_message_of_a_killed_worker(
    settings,
    broker_url,
    session,
    sessions,
    storage,
    tmp_path,
    big_phase_setup,
    slow_archive,
    task_client,
    worker_stack,
    watcher,
):
    settings = settings.model_copy(update={"broker_url": broker_url, **KILL_SETTINGS})
    visibility_timeout = settings.scoring_time_limit_s * 1.5
    stack = worker_stack(settings)
    worker = stack.start_worker("worker")  # no beat: only the broker can bring it back
    version = leaderboard_version(sessions, big_phase_setup[0].id)
    submission = submit_and_catch_running(
        session,
        storage,
        tmp_path,
        big_phase_setup,
        slow_archive,
        task_client(settings).score,
        watcher,
        stack,
    )
    claimed = time.monotonic()

    worker.stop(signal.SIGKILL)

    assert_killed_mid_scoring(watcher, submission.id, stack)
    # The message was delivered (and left unacknowledged: acks_late) just before the
    # claim. A worker restores messages older than the visibility timeout when it starts.
    time.sleep(max(0.0, claimed + visibility_timeout + 1 - time.monotonic()))
    stack.start_worker("worker-restarted")
    assert_scored_once(sessions, storage, watcher, submission, version, stack)


def pool_children(worker: Process) -> list[int]:
    """Return the pids of the worker's child processes (its prefork pool)."""
    pid = worker.popen.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


@pytest.mark.parametrize(("database_url", "broker_url"), DEPLOYED_COMBINATIONS, indirect=True)
def test_a_pool_process_killed_mid_scoring_is_replaced_and_the_task_rerun(
    settings,
    broker_url,
    session,
    sessions,
    storage,
    tmp_path,
    big_phase_setup,
    slow_archive,
    task_client,
    worker_stack,
    watcher,
):
    # Without the event loop (the embedded broker polls), billiard reports a lost pool
    # process only after worker_lost_wait (10 s); a time limit shorter than that would
    # fire first and ack the message as timed out, leaving the row to the reconciler.
    settings = settings.model_copy(update={"broker_url": broker_url, "scoring_time_limit_s": 60})
    stack = worker_stack(settings)
    worker = stack.start_worker("worker")  # no beat: the main process requeues the task
    (child,) = pool_children(worker)
    version = leaderboard_version(sessions, big_phase_setup[0].id)
    submission = submit_and_catch_running(
        session,
        storage,
        tmp_path,
        big_phase_setup,
        slow_archive,
        task_client(settings).score,
        watcher,
        stack,
    )

    os.kill(child, signal.SIGKILL)  # as the OOM killer would

    # attempts == 2 also proves the kill came mid-scoring: a finished first run would
    # have left the redelivered task nothing to claim.
    assert_scored_once(sessions, storage, watcher, submission, version, stack)
    assert worker.popen.poll() is None
    assert child not in pool_children(worker)
    assert "WorkerLostError" in worker.output()
