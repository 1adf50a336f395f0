"""A TestClient on the real app (real database), with scoring tasks recorded, not sent."""

import re

import pytest
from fastapi.testclient import TestClient

from app.db import utcnow
from app.main import create_app
from app.models import Submission
from app.services import challenges as challenges_service
from tests.factories import PASSWORD, RecordingTasks, make_phase, make_team, make_user

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as test_client:
        app.state.tasks = RecordingTasks()
        yield test_client


def csrf(client: TestClient, path: str = "/login") -> str:
    """Load a page and return the CSRF token of its forms."""
    response = client.get(path)
    found = CSRF_FIELD.search(response.text)
    assert found, f"no CSRF field on {path} ({response.status_code})"
    return found.group(1)


def sign_up(client: TestClient, email: str = "pat@example.org", name: str = "Pat") -> None:
    """Create an account through the form and stay logged in."""
    response = client.post(
        "/signup",
        data={
            "csrf_token": csrf(client, "/signup"),
            "email": email,
            "password": PASSWORD,
            "display_name": name,
            "affiliation": "Uni",
            "country": "de",
        },
    )
    assert response.status_code == 303, response.text


def log_in(client: TestClient, email: str, password: str = PASSWORD):
    """Post the log-in form (also while logged in, as after a fixation attempt)."""
    token_page = "/account" if client.cookies.get("wsss_session") else "/login"
    return client.post(
        "/login",
        data={"csrf_token": csrf(client, token_page), "email": email, "password": password},
    )


@pytest.fixture
def board(session, storage, tmp_path):
    """A phase with an organizer, a second challenge's organizer and three scored teams."""
    phase, _ = make_phase(session, storage, tmp_path)
    other_phase, _ = make_phase(session, storage, tmp_path, challenge="other")
    organizer = make_user(session, email="org@example.org", name="Org")
    challenges_service.add_organizer(session=session, challenge=phase.challenge, user=organizer)
    outsider = make_user(session, email="out@example.org", name="Out")
    challenges_service.add_organizer(
        session=session, challenge=other_phase.challenge, user=outsider
    )
    rows = []
    for index, (name, miou) in enumerate([("A&B_team", 0.8), ("Beta", 0.7), ("Gamma", 0.6)]):
        user = make_user(session, email=f"u{index}@example.org", name=name)
        team = make_team(session, phase.challenge, user, name=name)
        submission = Submission(
            phase_id=phase.id,
            team_id=team.id,
            user_id=user.id,
            status="scored",
            archive_key="x.zip",
            miou=miou,
            iou_tumor=miou + 0.01,
            iou_stroma=miou - 0.01,
            iou_normal=miou,
            created_at=utcnow(),
        )
        session.add(submission)
        rows.append(submission)
    session.commit()
    return phase, rows
