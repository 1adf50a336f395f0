"""Fifty simultaneous uploads from one team against a daily limit of five, over real HTTP."""

from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from sqlalchemy import func, select

from app.models import Submission
from app.services import accounts as accounts_service
from tests.factories import make_phase, make_team, make_user, prediction_zip
from tests.live import live_stack


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_fifty_simultaneous_uploads_accept_exactly_the_limit(
    settings, session, sessions, storage, tmp_path
):
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=5)
    user = make_user(session, email="rush@example.org")
    make_team(session, phase.challenge, user, name="Rush")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    archive = prediction_zip(tmp_path / "p.zip", masks).read_bytes()

    with live_stack(settings, tmp_path / "logs", worker=False) as stack:
        url = f"{stack.base_url}/api/v1/challenges/wsss4luad/phases/validation/submissions"

        def submit(index: int) -> int:
            response = httpx2.post(
                url,
                headers={"Authorization": f"Bearer {token}"},
                files={"file": (f"p{index}.zip", archive)},
                timeout=120,
            )
            return response.status_code

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(submit, range(50)))

    assert sorted(set(answers)) == [202, 429], answers
    assert answers.count(202) == 5
    with sessions() as check:
        stored = check.scalar(select(func.count(Submission.id)))
    assert stored == 5
    archives = list(storage.root.glob("submissions/**/*.zip"))
    assert len(archives) == 5, "refused uploads leave no file behind"
    assert list((storage.root / "tmp").glob("*")) == []


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_crowd_larger_than_the_thread_pool_never_starves_the_request_holding_the_lock(
    settings, session, storage, tmp_path
):
    """Every handler thread may wait on the lock one request holds; that request still ends.

    A transaction held across FastAPI's thread hops (dependencies, endpoint, response
    validation) needs a free thread to finish; with three threads and twenty uploads, a
    server that keeps it open deadlocks (PostgreSQL) or times out (SQLite).
    """
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=5)
    user = make_user(session, email="crowd@example.org")
    make_team(session, phase.challenge, user, name="Crowd")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    archive = prediction_zip(tmp_path / "p.zip", masks).read_bytes()
    board = "/api/v1/challenges/wsss4luad/phases/validation/leaderboard"

    with live_stack(settings, tmp_path / "logs", worker=False, WSSS4LUAD_WEB_THREADS="3") as stack:
        submissions = f"{stack.base_url}/api/v1/challenges/wsss4luad/phases/validation/submissions"
        headers = {"Authorization": f"Bearer {token}"}

        def call(index: int) -> int:
            if index % 2:
                return httpx2.get(stack.base_url + board, headers=headers, timeout=25).status_code
            files = {"file": (f"p{index}.zip", archive)}
            return httpx2.post(submissions, headers=headers, files=files, timeout=25).status_code

        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(call, range(40)))

    uploads = answers[0::2]
    assert sorted(set(uploads)) == [202, 429], uploads
    assert uploads.count(202) == 5
    assert set(answers[1::2]) == {200}
