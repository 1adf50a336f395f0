"""Challenge, registration, data download, submission and leaderboard pages."""

import io
import threading
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.models import Submission, Team
from app.scoring import PreparedGroundTruth, score_path
from app.services import scoring_runs
from tests.factories import make_phase, make_team, make_user, prediction_zip
from tests.web.conftest import csrf, sign_up


@pytest.fixture
def phase(session, storage, tmp_path):
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=2)
    phase.challenge.description_md = "# Welcome\n\n<script>alert(1)</script>\n\n**bold**"
    phase.challenge.rules_md = "Only the training data."
    session.commit()
    phase.masks = masks
    return phase


def register(client, slug="wsss4luad", name="Team Pat"):
    return client.post(
        f"/challenges/{slug}/register",
        data={
            "csrf_token": csrf(client, f"/challenges/{slug}/register"),
            "action": "create",
            "team_name": name,
            "accept_rules": "true",
        },
    )


def upload(client, phase, archive, **fields):
    path = f"/challenges/{phase.challenge.slug}/phases/{phase.slug}"
    with archive.open("rb") as handle:
        return client.post(
            f"{path}/submissions",
            data={"csrf_token": csrf(client, f"{path}/submit"), "method_name": "m", **fields},
            files={"file": ("preds.zip", handle, "application/zip")},
        )


def test_challenge_page_renders_sanitised_markdown(client, phase):
    page = client.get("/challenges/wsss4luad")
    assert page.status_code == 200
    assert "<h1>Welcome</h1>" in page.text
    assert "<strong>bold</strong>" in page.text
    assert "<script>alert" not in page.text
    assert page.context["challenge"].slug == "wsss4luad"


def test_registration_requires_accepting_the_rules(client, phase):
    sign_up(client)
    refused = client.post(
        "/challenges/wsss4luad/register",
        data={
            "csrf_token": csrf(client, "/challenges/wsss4luad/register"),
            "action": "create",
            "team_name": "T",
        },
    )
    assert refused.status_code == 422
    assert "accept the challenge rules" in refused.context["errors"]["accept_rules"]


def test_team_mate_joins_with_the_invite_code(client, phase, session):
    sign_up(client)
    assert register(client).status_code == 303
    team = session.scalar(select(Team))
    session.commit()  # end the read transaction: SQLite transactions hold the write lock
    client.cookies.clear()
    sign_up(client, email="mate@example.org", name="Mate")
    joined = client.post(
        "/challenges/wsss4luad/register",
        data={
            "csrf_token": csrf(client, "/challenges/wsss4luad/register"),
            "action": "join",
            "invite_code": team.invite_code,
            "accept_rules": "true",
        },
    )
    assert joined.headers["location"] == "/challenges/wsss4luad/team?notice=joined"
    page = client.get("/challenges/wsss4luad/team")
    assert [m.user.display_name for m in page.context["team"].members] == ["Pat", "Mate"]


def test_manual_approval_keeps_teams_pending(client, phase, session):
    phase.challenge.registration_mode = "manual"
    session.commit()
    sign_up(client)
    assert register(client).headers["location"].endswith("notice=pending")
    data = client.get("/challenges/wsss4luad/phases/validation/data")
    assert data.status_code == 403


def test_data_download_has_images_and_background_masks_but_no_ground_truth(client, phase):
    assert client.get("/challenges/wsss4luad/phases/validation/data").status_code == 303
    sign_up(client)
    assert client.get("/challenges/wsss4luad/phases/validation/data").status_code == 403
    register(client)
    download = client.get("/challenges/wsss4luad/phases/validation/data")
    assert download.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert sorted(n for n in names if n.startswith("img/")) == [
        f"img/{n}" for n in sorted(phase.masks)
    ]
    assert any(n.startswith("background-mask/") for n in names)
    assert not any(n.startswith("mask/") for n in names)


def test_upload_queues_a_submission_and_redirects_to_it(client, app, phase, session, tmp_path):
    sign_up(client)
    register(client)
    response = upload(client, phase, prediction_zip(tmp_path / "p.zip", phase.masks))
    assert response.status_code == 303
    submission = session.scalar(select(Submission))
    session.commit()
    assert response.headers["location"] == f"/submissions/{submission.id}"
    assert app.state.tasks.sent == [submission.id]
    status = client.get(f"/submissions/{submission.id}/status")
    assert status.context["submission"].status == "queued"
    assert f'/submissions/{submission.id}/status?since=queued"' in status.text
    assert 'hx-trigger="load, every 30s"' in status.text


def test_the_status_card_answers_when_the_status_changes(client, phase, session, tmp_path):
    sign_up(client)
    register(client)
    upload(client, phase, prediction_zip(tmp_path / "p.zip", phase.masks))
    submission = session.scalar(select(Submission))
    session.commit()
    claim = threading.Timer(
        0.3,
        _claim_in_own_session,
        (client.app.state.sessions, submission.id),
    )
    claim.start()
    # Without the change the request would be held for STATUS_POLL_SECONDS.
    card = client.get(f"/submissions/{submission.id}/status?since=queued")
    claim.join()
    assert card.context["submission"].status == "running"
    assert "?since=running" in card.text


def test_the_status_card_answers_at_once_when_the_caller_is_behind(
    client, phase, session, tmp_path
):
    sign_up(client)
    register(client)
    upload(client, phase, prediction_zip(tmp_path / "p.zip", phase.masks))
    submission = session.scalar(select(Submission))
    session.commit()
    card = client.get(f"/submissions/{submission.id}/status?since=running")
    assert card.context["submission"].status == "queued"


def _claim_in_own_session(sessions, submission_id):
    with sessions() as own:
        assert scoring_runs.claim(session=own, submission_id=submission_id, max_attempts=3)
        own.commit()


def test_scored_submission_shows_the_scores_and_stops_polling(
    client, phase, session, storage, tmp_path
):
    sign_up(client)
    register(client)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks, damage=0.2)
    upload(client, phase, archive)
    submission = session.scalar(select(Submission))
    run = scoring_runs.claim(session=session, submission_id=submission.id, max_attempts=3)
    assert run is not None
    result = score_path(PreparedGroundTruth(storage.path(run.ground_truth_key)), archive)
    scoring_runs.finish(session=session, submission_id=submission.id, result=result, seconds=0.1)
    session.commit()
    page = client.get(f"/submissions/{submission.id}/status")
    assert "hx-trigger" not in page.text
    assert f"{result.miou:.4f}" in page.text
    board = client.get("/challenges/wsss4luad/phases/validation/leaderboard")
    [row] = board.context["rows"]
    assert (row.rank, row.team, row.miou) == (1, "Team Pat", result.miou)


def test_bad_archive_lists_problems_and_stores_nothing(client, phase, session, tmp_path):
    sign_up(client)
    register(client)
    masks = dict(phase.masks)
    masks.pop("00.png")
    response = upload(client, phase, prediction_zip(tmp_path / "p.zip", masks))
    assert response.status_code == 422
    assert "00.png: is missing" in response.text
    assert session.scalar(select(Submission)) is None


def test_json_upload_answers_with_id_and_limit_with_retry_time(client, phase, tmp_path):
    sign_up(client)
    register(client)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks)
    headers = {"Accept": "application/json"}
    path = "/challenges/wsss4luad/phases/validation"
    for _ in range(2):
        with archive.open("rb") as handle:
            ok = client.post(
                f"{path}/submissions",
                files={"file": ("p.zip", handle)},
                headers={**headers, "X-CSRF-Token": csrf(client, f"{path}/submit")},
            )
        assert ok.status_code == 200
        assert ok.json()["status"] == "queued"
    with archive.open("rb") as handle:
        limited = client.post(
            f"{path}/submissions",
            files={"file": ("p.zip", handle)},
            headers={**headers, "X-CSRF-Token": csrf(client, f"{path}/submit")},
        )
    assert limited.status_code == 429
    assert "retry_at" in limited.json()


def test_precheck_lists_problems_without_counting(client, phase, session, tmp_path):
    sign_up(client)
    register(client)
    masks = dict(phase.masks)
    masks.pop("01.png")
    path = "/challenges/wsss4luad/phases/validation"
    with prediction_zip(tmp_path / "p.zip", masks).open("rb") as handle:
        result = client.post(
            f"{path}/precheck",
            files={"file": ("p.zip", handle)},
            headers={"X-CSRF-Token": csrf(client, f"{path}/submit")},
        ).json()
    assert result["ok"] is False
    assert result["problems"] == [
        {"entry": "01.png", "message": "is missing: every image of the phase needs one prediction"}
    ]
    assert session.scalar(select(Submission)) is None


def test_other_teams_get_404_for_a_submission(client, phase, session, tmp_path):
    sign_up(client)
    register(client)
    upload(client, phase, prediction_zip(tmp_path / "p.zip", phase.masks))
    submission = session.scalar(select(Submission))
    session.commit()
    client.cookies.clear()
    sign_up(client, email="rival@example.org", name="Rival")
    register(client, name="Rivals")
    assert client.get(f"/submissions/{submission.id}").status_code == 404
    assert client.get(f"/submissions/{submission.id}/status").status_code == 404


def test_hidden_leaderboard_until_the_phase_ends(client, phase, session, tmp_path):
    phase.leaderboard_visibility = "after_end"
    phase.ends_at = utcnow() + timedelta(days=1)
    session.commit()
    board = client.get("/challenges/wsss4luad/phases/validation/leaderboard")
    assert board.context["visible"] is False
    assert board.context["rows"] == []
    organizer = make_user(session, email="org@example.org", is_admin=True)
    session.commit()
    from tests.web.conftest import log_in

    log_in(client, organizer.email)
    assert client.get("/challenges/wsss4luad/phases/validation/leaderboard").context["visible"]


def test_leaderboard_ranks_by_miou_ties_by_time_and_leaves_baselines_unranked(
    client, phase, session
):
    from app.services import teams as teams_service

    scores = [("A", 0.70), ("B", 0.80), ("C", 0.70)]
    start = utcnow() - timedelta(hours=1)
    for index, (name, miou) in enumerate(scores):
        user = make_user(session, email=f"{name}@example.org", name=name)
        team = make_team(session, phase.challenge, user, name=f"Team {name}")
        session.add(
            Submission(
                phase_id=phase.id,
                team_id=team.id,
                user_id=user.id,
                status="scored",
                archive_key="x",
                miou=miou,
                iou_tumor=miou,
                iou_stroma=miou,
                iou_normal=miou,
                created_at=start + timedelta(minutes=index),
            )
        )
    baseline = teams_service.ensure_baseline_team(session=session, challenge=phase.challenge)
    session.add(
        Submission(
            phase_id=phase.id,
            team_id=baseline.id,
            status="scored",
            archive_key="x",
            miou=0.75,
            created_at=start,
        )
    )
    phase.leaderboard_version += 1
    session.commit()
    rows = client.get("/challenges/wsss4luad/phases/validation/leaderboard").context["rows"]
    assert [(r.rank, r.team) for r in rows] == [
        (1, "Team B"),
        (None, "Baseline (organizers)"),
        (2, "Team A"),
        (3, "Team C"),
    ]
    by_team = client.get(
        "/challenges/wsss4luad/phases/validation/leaderboard?sort=team&order=desc"
    ).context["rows"]
    assert [r.team for r in by_team][:3] == ["Team C", "Team B", "Team A"]


def test_oversized_body_is_refused_with_413(client, phase, settings):
    sign_up(client)
    limit = settings.max_upload_bytes
    response = client.post(
        "/challenges/wsss4luad/phases/validation/submissions",
        content=b"x" * 16,
        headers={"Content-Length": str(limit + 1), "Content-Type": "application/zip"},
    )
    assert response.status_code == 413


def test_unknown_pages_and_phases_are_404(client, phase):
    assert client.get("/challenges/nope").status_code == 404
    assert client.get("/challenges/wsss4luad/phases/nope/leaderboard").status_code == 404


def test_production_settings_refuse_unsafe_defaults(tmp_path):
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError) as refused:
        Settings(environment="production", data_dir=tmp_path)
    message = str(refused.value)
    assert "SECRET_KEY" in message
    assert "PostgreSQL" in message
    assert "Redis" in message


def test_chunked_oversized_upload_is_refused_with_413(app, phase, settings):
    from fastapi.testclient import TestClient

    app.state.settings = settings
    with TestClient(app) as test_client:

        def chunks():
            for _ in range(settings.max_upload_bytes // 65536 + 2):
                yield b"x" * 65536

        response = test_client.post(
            "/challenges/wsss4luad/phases/validation/submissions",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=abc"},
        )
    assert response.status_code == 413


def test_empty_or_lookalike_csrf_cookies_do_not_break_pages(client, phase):
    for cookie in ("wsss_csrf=", "xwsss_csrf=1"):
        response = client.get("/login", headers={"Cookie": cookie})
        assert response.status_code == 200
        assert response.context["csrf_token"]


def test_cross_origin_posts_are_refused(client, phase):
    token = csrf(client, "/login")
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "a@example.org", "password": "x" * 12},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_team_names_compare_without_wildcards(client, phase):
    sign_up(client)
    register(client, name="Alpha")
    client.cookies.clear()
    sign_up(client, email="b@example.org", name="B")
    assert register(client, name="Alph_").status_code == 303
    client.cookies.clear()
    sign_up(client, email="c@example.org", name="C")
    assert register(client, name="ALPHA").status_code == 409


def test_selection_is_frozen_once_the_phase_ends(session, storage, tmp_path):
    from app.errors import Conflict
    from app.services import submissions as submissions_service

    phase, _ = make_phase(session, storage, tmp_path)
    phase.counting = "selected"
    user = make_user(session)
    team = make_team(session, phase.challenge, user)
    submission = Submission(
        phase_id=phase.id, team_id=team.id, status="scored", archive_key="x", miou=0.5
    )
    session.add(submission)
    phase.ends_at = utcnow() - timedelta(seconds=1)
    session.commit()
    with pytest.raises(Conflict, match="closed"):
        submissions_service.select_submission(session=session, submission=submission)


def test_details_stay_hidden_where_the_phase_says_so(client, phase, session, storage, tmp_path):
    phase.show_details = False
    session.commit()
    sign_up(client)
    register(client)
    archive = prediction_zip(tmp_path / "p.zip", phase.masks, damage=0.1)
    upload(client, phase, archive)
    submission = session.scalar(select(Submission))
    run = scoring_runs.claim(session=session, submission_id=submission.id, max_attempts=3)
    assert run is not None
    result = score_path(PreparedGroundTruth(storage.path(run.ground_truth_key)), archive)
    scoring_runs.finish(session=session, submission_id=submission.id, result=result, seconds=0.1)
    session.commit()
    page = client.get(f"/submissions/{submission.id}")
    assert f"{result.miou:.4f}" in page.text
    assert 'class="confusion' not in page.text
    assert "per-image scores" not in page.text
    assert '<td class="mono">00.png</td>' not in page.text
    phase.show_details = True
    session.commit()
    shown = client.get(f"/submissions/{submission.id}")
    assert '<td class="mono">00.png</td>' in shown.text
    assert 'class="confusion' in shown.text


def test_upload_answers_quickly_and_stays_queued_when_the_broker_is_down(
    settings, phase, session, tmp_path
):
    import time

    from fastapi.testclient import TestClient

    from app.main import create_app

    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:6390/0"})
    app = create_app(down)
    with TestClient(app, follow_redirects=False) as test_client:
        sign_up(test_client)
        register(test_client)
        started = time.monotonic()
        response = upload(test_client, phase, prediction_zip(tmp_path / "p.zip", phase.masks))
        elapsed = time.monotonic() - started
    assert response.status_code == 303
    assert session.scalar(select(Submission.status)) == "queued"
    assert elapsed < 5, "an unreachable broker must not hold the upload for long"
