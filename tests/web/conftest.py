"""A TestClient on the real app (real database), with scoring tasks recorded, not sent."""

import re

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.factories import PASSWORD, RecordingTasks

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
