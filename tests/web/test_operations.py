"""Health, readiness and metrics endpoints."""

from fastapi.testclient import TestClient

from app.main import create_app
from tests.factories import prediction_zip
from tests.web.conftest import sign_up
from tests.web.test_challenge_pages import register, upload


def test_health_and_readiness(client):
    assert client.get("/healthz").text == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"database": "ok", "broker": "ok"}


def test_readiness_fails_when_the_broker_is_unreachable(settings):
    app = create_app(settings.model_copy(update={"broker_url": "redis://127.0.0.1:6390/0"}))
    with TestClient(app) as test_client:
        ready = test_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "ok"
    assert ready.json()["broker"] != "ok"


def test_metrics_count_submissions_and_requests(client, session, storage, tmp_path):
    from tests.factories import make_phase

    phase, masks = make_phase(session, storage, tmp_path)
    assert phase.challenge.slug == "wsss4luad"  # load it now: later reads would hold the lock
    session.commit()
    sign_up(client)
    register(client)
    upload(client, phase, prediction_zip(tmp_path / "p.zip", masks))
    text = client.get("/metrics").text
    assert 'wsss4luad_submissions{status="queued"} 1.0' in text
    assert 'wsss4luad_submissions{status="scored"} 0.0' in text
    assert "wsss4luad_scoring_duration_seconds_count 0.0" in text
    assert "wsss4luad_queue_depth" in text
    assert 'route="/challenges/{slug}/register"' in text
    assert "wsss4luad_http_request_duration_seconds_count" in text


def test_request_ids_are_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32


def test_json_logs_carry_the_bound_context(capsys):
    import json
    import logging

    import structlog

    from app.logs import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(json=True)
        structlog.contextvars.bind_contextvars(submission_id=42)
        structlog.get_logger("workers.test").info("scored", miou=0.5)
        logging.getLogger("celery.test").warning("plain stdlib record")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert lines[0]["event"] == "scored"
    assert lines[0]["submission_id"] == 42
    assert lines[0]["level"] == "info"
    assert lines[1]["event"] == "plain stdlib record"
    assert lines[1]["logger"] == "celery.test"


def test_metrics_ask_for_their_token_when_one_is_set(settings):
    app = create_app(settings.model_copy(update={"metrics_token": "scrape-me"}))
    with TestClient(app) as test_client:
        refused = test_client.get("/metrics")
        wrong = test_client.get("/metrics", headers={"Authorization": "Bearer nope"})
        scraped = test_client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert refused.headers["www-authenticate"] == "Bearer"
    assert scraped.status_code == 200
    assert "wsss4luad_submissions" in scraped.text


def test_the_api_reference_can_be_unpublished(settings):
    app = create_app(settings.model_copy(update={"api_docs": False}))
    with TestClient(app) as test_client:
        assert test_client.get("/docs").status_code == 404
        assert test_client.get("/openapi.json").status_code == 404


def test_an_https_site_tells_browsers_to_stay_on_https(settings):
    app = create_app(settings.model_copy(update={"base_url": "https://wsss4luad.example.org"}))
    with TestClient(app) as test_client:
        assert test_client.get("/").headers["strict-transport-security"] == "max-age=31536000"


def test_a_plain_http_site_sends_no_strict_transport(client):
    assert "strict-transport-security" not in client.get("/").headers
