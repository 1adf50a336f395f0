"""The REST API with personal tokens: join, submit, poll, leaderboard, remaining."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.models import ApiToken, Submission
from app.scoring import PreparedGroundTruth, score_path
from app.services import accounts as accounts_service
from app.services import scoring_runs
from tests.factories import make_phase, make_user, prediction_zip


@pytest.fixture
def phase(session, storage, tmp_path):
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=2)
    session.commit()
    phase.masks = masks
    return phase


def token_for(session, email, **kwargs):
    user = make_user(session, email=email, name=email.split("@")[0])
    issued = accounts_service.create_api_token(session=session, user=user, **kwargs)
    session.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


def post_zip(
    client,
    headers,
    archive,
    path="/api/v1/challenges/wsss4luad/phases/validation/submissions",
    **extra,
):
    with archive.open("rb") as handle:
        return client.post(
            path,
            headers={**headers, **extra.pop("more_headers", {})},
            files={"file": (archive.name, handle, "application/zip")},
            data={"method_name": "api run", **extra},
        )


def test_schema_documents_the_fixed_paths(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/challenges/{challenge}/join",
        "/api/v1/challenges/{challenge}/phases/{phase}/submissions",
        "/api/v1/submissions/{submission_id}",
        "/api/v1/challenges/{challenge}/phases/{phase}/leaderboard",
        "/api/v1/challenges/{challenge}/phases/{phase}/remaining",
    ):
        assert path in paths


def test_anonymous_and_bad_tokens_get_401_json(client, phase):
    assert client.get("/api/v1/submissions/1").status_code == 401
    response = client.get(
        "/api/v1/challenges/wsss4luad/phases/validation/remaining",
        headers={"Authorization": "Bearer wsss_nope"},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "invalid" in response.json()["detail"]


def test_join_submit_poll_and_read_the_leaderboard(client, app, phase, session, storage, tmp_path):
    headers = token_for(session, "script@example.org")
    joined = client.post(
        "/api/v1/challenges/wsss4luad/join", json={"team": "Scripted"}, headers=headers
    )
    assert joined.status_code == 201
    assert joined.json()["status"] == "approved"
    again = client.post(
        "/api/v1/challenges/wsss4luad/join", json={"team": "scripted"}, headers=headers
    )
    assert again.status_code == 201
    other = client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Else"}, headers=headers)
    assert other.status_code == 409

    archive = prediction_zip(tmp_path / "p.zip", phase.masks, damage=0.1)
    created = post_zip(client, headers, archive)
    assert created.status_code == 202
    body = created.json()
    assert body["status"] == "queued"
    assert app.state.tasks.sent == [body["id"]]

    polled = client.get(f"/api/v1/submissions/{body['id']}", headers=headers).json()
    assert (polled["status"], polled["scores"]) == ("queued", None)

    run = scoring_runs.claim(session=session, submission_id=body["id"], max_attempts=3)
    assert run is not None
    result = score_path(PreparedGroundTruth(storage.path(run.ground_truth_key)), archive)
    scoring_runs.finish(session=session, submission_id=body["id"], result=result, seconds=0.1)
    session.commit()

    scored = client.get(f"/api/v1/submissions/{body['id']}", headers=headers).json()
    assert scored["status"] == "scored"
    assert scored["scores"]["miou"] == result.miou
    assert scored["scores"]["iou"] == dict(result.iou)

    board = client.get("/api/v1/challenges/wsss4luad/phases/validation/leaderboard").json()
    [row] = board["rows"]
    assert (row["rank"], row["team"], row["miou"], row["baseline"]) == (
        1,
        "Scripted",
        result.miou,
        False,
    )

    left = client.get(
        "/api/v1/challenges/wsss4luad/phases/validation/remaining", headers=headers
    ).json()
    assert (left["today"], left["used_today"]) == (1, 1)


def test_idempotency_key_makes_retries_safe(client, phase, session, tmp_path):
    headers = token_for(session, "retry@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Retry"}, headers=headers)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks)
    first = post_zip(client, headers, archive, more_headers={"Idempotency-Key": "abc-1"})
    second = post_zip(client, headers, archive, more_headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert session.scalar(select(Submission.id).where(Submission.id > 0)) == first.json()["id"]


def test_bad_archive_answers_422_listing_every_problem(client, phase, session, tmp_path):
    headers = token_for(session, "bad@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Bad"}, headers=headers)
    masks = dict(phase.masks)
    masks.pop("00.png")
    masks.pop("02.png")
    response = post_zip(client, headers, prediction_zip(tmp_path / "p.zip", masks))
    assert response.status_code == 422
    assert response.json()["problems"] == [
        "00.png: is missing: every image of the phase needs one prediction",
        "02.png: is missing: every image of the phase needs one prediction",
    ]


def test_limit_answers_429_with_the_next_allowed_time(client, phase, session, tmp_path):
    headers = token_for(session, "busy@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Busy"}, headers=headers)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks)
    for _ in range(2):
        assert post_zip(client, headers, archive).status_code == 202
    limited = post_zip(client, headers, archive)
    assert limited.status_code == 429
    assert "retry_at" in limited.json()
    assert int(limited.headers["retry-after"]) > 0


def test_other_teams_cannot_read_a_submission(client, phase, session, tmp_path):
    owner = token_for(session, "owner@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Owners"}, headers=owner)
    created = post_zip(client, owner, prediction_zip(tmp_path / "p.zip", phase.masks)).json()
    rival = token_for(session, "rival@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Rivals"}, headers=rival)
    assert client.get(f"/api/v1/submissions/{created['id']}", headers=rival).status_code == 404


def test_hidden_leaderboard_is_refused(client, phase, session):
    phase.leaderboard_visibility = "organizers"
    session.commit()
    path = "/api/v1/challenges/wsss4luad/phases/validation/leaderboard"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=token_for(session, "p@example.org")).status_code == 403


def test_revoked_and_expired_tokens_stop_working(client, phase, session):
    headers = token_for(session, "t@example.org")
    path = "/api/v1/challenges/wsss4luad/join"
    token = session.scalar(select(ApiToken))
    token.revoked_at = utcnow()
    session.commit()
    assert client.post(path, json={"team": "T"}, headers=headers).status_code == 401
    token.revoked_at = None
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert client.post(path, json={"team": "T"}, headers=headers).status_code == 401


def test_a_long_poll_answers_with_the_scores_when_they_land(
    client, phase, session, storage, tmp_path
):
    headers = token_for(session, "script@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Scripted"}, headers=headers)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks, damage=0.1)
    submission_id = post_zip(client, headers, archive).json()["id"]
    sessions = client.app.state.sessions

    def score() -> None:
        with sessions() as own:
            run = scoring_runs.claim(session=own, submission_id=submission_id, max_attempts=3)
            assert run is not None
            result = score_path(PreparedGroundTruth(storage.path(run.ground_truth_key)), archive)
            scoring_runs.finish(session=own, submission_id=submission_id, result=result, seconds=0)
            own.commit()

    worker = threading.Timer(0.3, score)
    worker.start()
    # Without the change the answer would be held for the whole 30 s.
    state = client.get(f"/api/v1/submissions/{submission_id}?wait=30", headers=headers).json()
    worker.join()
    assert state["status"] in ("running", "scored")
    if state["status"] == "running":
        state = client.get(
            f"/api/v1/submissions/{submission_id}?wait=30&since=running", headers=headers
        ).json()
    assert state["status"] == "scored"
    assert state["scores"]["miou"] is not None


def test_a_long_poll_longer_than_thirty_seconds_is_refused(client, phase, session, tmp_path):
    headers = token_for(session, "script@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Scripted"}, headers=headers)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks)
    submission_id = post_zip(client, headers, archive).json()["id"]
    response = client.get(f"/api/v1/submissions/{submission_id}?wait=31", headers=headers)
    assert response.status_code == 422
    assert "wait" in response.text


def test_a_refused_file_is_named_as_its_owner_named_it(client, phase, session, tmp_path):
    headers = token_for(session, "script@example.org")
    client.post("/api/v1/challenges/wsss4luad/join", json={"team": "Scripted"}, headers=headers)
    refused = client.post(
        "/api/v1/challenges/wsss4luad/phases/validation/submissions",
        headers=headers,
        files={"file": ("my predictions.zip", b"this is no zip archive")},
    )
    assert refused.status_code == 422
    [problem] = refused.json()["problems"]
    assert problem.startswith("my predictions.zip: not a readable zip archive")
