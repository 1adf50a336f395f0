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
