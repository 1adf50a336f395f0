"""The organizer console: approvals, rescoring, moderation, exports, audit and access."""

import csv
import io

from sqlalchemy import select

from app.models import AuditEntry, Submission, TeamStatus
from tests.factories import make_user
from tests.web.conftest import csrf, log_in


def test_participants_and_other_organizers_get_403_and_404_for_what_they_cannot_see(client, board):
    """403 on the public challenge's console; 404 on a submission only its team and the
    organizers know of, 403 on it for its own team."""
    _, rows = board
    paths = [
        "/organizer/wsss4luad",
        "/organizer/wsss4luad/phases/validation/submissions",
        "/organizer/wsss4luad/phases/validation/export/leaderboard.csv",
        "/organizer/wsss4luad/audit",
    ]
    archive = f"/organizer/submissions/{rows[0].id}/archive"
    assert client.get(paths[0]).status_code == 303  # anonymous: log in first
    for email, hidden in (
        ("u0@example.org", 403),
        ("u1@example.org", 404),
        ("out@example.org", 404),
    ):
        client.cookies.clear()
        log_in(client, email)
        for path in paths:
            assert client.get(path).status_code == 403, (email, path)
        assert client.get(archive).status_code == hidden, email
        token = csrf(client, "/account")
        response = client.post(
            f"/organizer/submissions/{rows[0].id}/moderate",
            data={"csrf_token": token, "action": "hide", "reason": "x"},
        )
        assert response.status_code == hidden, email


def test_hide_and_undo_with_audit_entries(client, board, session):
    _, rows = board
    log_in(client, "org@example.org")
    token = csrf(client, "/account")
    refused = client.post(
        f"/organizer/submissions/{rows[0].id}/moderate",
        data={"csrf_token": token, "action": "hide"},
    )
    assert refused.status_code == 422
    hidden = client.post(
        f"/organizer/submissions/{rows[0].id}/moderate",
        data={"csrf_token": token, "action": "hide", "reason": "test data leak"},
    )
    assert hidden.status_code == 303
    teams = [
        r.team
        for r in client.get("/challenges/wsss4luad/phases/validation/leaderboard").context["rows"]
    ]
    assert teams == ["Beta", "Gamma"]
    client.post(
        f"/organizer/submissions/{rows[0].id}/moderate",
        data={"csrf_token": token, "action": "unhide"},
    )
    teams = [
        r.team
        for r in client.get("/challenges/wsss4luad/phases/validation/leaderboard").context["rows"]
    ]
    assert teams == ["A&B_team", "Beta", "Gamma"]
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    session.commit()
    assert actions == ["hide", "unhide"]
    audit = client.get("/organizer/wsss4luad/audit")
    assert "test data leak" in audit.text


def test_rescore_all_confirms_the_count_and_spares_the_limits(client, app, board, session):
    _, rows = board
    log_in(client, "org@example.org")
    confirm = client.get("/organizer/wsss4luad/phases/validation/rescore")
    assert confirm.context["count"] == 3
    done = client.post(
        "/organizer/wsss4luad/phases/validation/rescore",
        data={"csrf_token": csrf(client, "/account"), "expected": "3"},
    )
    assert done.status_code == 303
    assert sorted(app.state.tasks.sent) == sorted(r.id for r in rows)
    statuses = set(session.scalars(select(Submission.status)))
    assert statuses == {"queued"}
    assert session.scalar(select(AuditEntry.action)) == "rescore"


def test_cancel_only_queued_submissions(client, board, session):
    _, rows = board
    log_in(client, "org@example.org")
    token = csrf(client, "/account")
    assert (
        client.post(
            f"/organizer/submissions/{rows[1].id}/cancel", data={"csrf_token": token}
        ).status_code
        == 409
    )
    rows[1].status = "queued"
    session.commit()
    assert (
        client.post(
            f"/organizer/submissions/{rows[1].id}/cancel", data={"csrf_token": token}
        ).status_code
        == 303
    )
    session.expire_all()
    assert session.get(Submission, rows[1].id).status == "cancelled"


def test_exports_csv_and_latex_in_the_paper_layout(client, board):
    log_in(client, "org@example.org")
    leaderboard = client.get("/organizer/wsss4luad/phases/validation/export/leaderboard.csv")
    assert leaderboard.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(leaderboard.text)))
    assert [(r["rank"], r["team"], r["miou"]) for r in parsed] == [
        ("1", "A&B_team", "0.8000"),
        ("2", "Beta", "0.7000"),
        ("3", "Gamma", "0.6000"),
    ]
    latex = client.get("/organizer/wsss4luad/phases/validation/export/leaderboard.tex").text
    assert r"Team & mIoU & Tumor & Normal & Stroma \\" in latex
    assert (
        r"A\&B\_team & \textbf{0.8000} & \textbf{0.8100} & \textbf{0.8000} & \textbf{0.7900} \\"
        in latex
    )
    everything = client.get("/organizer/wsss4luad/phases/validation/export/submissions.csv")
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) == 3


def test_approve_a_pending_team_and_publish_a_hidden_board(client, board, session):
    phase, _ = board
    phase.leaderboard_visibility = "organizers"
    pending_user = make_user(session, email="p@example.org")
    from app.services import teams as teams_service

    team = teams_service.register_team(
        session=session,
        challenge=phase.challenge,
        user=pending_user,
        name="Later",
        accept_rules=True,
    )
    team.status = TeamStatus.PENDING
    session.commit()
    log_in(client, "org@example.org")
    dashboard = client.get("/organizer/wsss4luad")
    assert [t.name for t in dashboard.context["pending"]] == ["Later"]
    token = csrf(client, "/account")
    client.post(
        f"/organizer/wsss4luad/teams/{team.id}/status",
        data={"csrf_token": token, "status": "approved"},
    )
    client.post("/organizer/wsss4luad/phases/validation/publish", data={"csrf_token": token})
    session.expire_all()
    assert session.get(type(team), team.id).status == "approved"
    session.commit()  # end the read: SQLite transactions hold the write lock
    client.cookies.clear()
    assert client.get("/challenges/wsss4luad/phases/validation/leaderboard").context["visible"]


def test_edit_settings_and_phase_and_import_a_zip(client, board, session, tmp_path):
    import zipfile

    phase, _ = board
    log_in(client, "org@example.org")
    token = csrf(client, "/account")
    saved = client.post(
        "/organizer/wsss4luad/settings",
        data={
            "csrf_token": token,
            "title": "WSSS4LUAD 2022",
            "registration_mode": "manual",
            "rules_md": "1. Rules",
        },
    )
    assert saved.status_code == 303
    edited = client.post(
        "/organizer/wsss4luad/phases/validation/settings",
        data={
            "csrf_token": token,
            "title": "Val",
            "starts_at": "2026-01-01T00:00",
            "ends_at": "2025-01-01T00:00",
            "visibility": "after_end",
            "counting": "latest",
        },
    )
    assert edited.status_code == 422
    assert "after the start" in edited.context["errors"]["ends_at"]
    edited = client.post(
        "/organizer/wsss4luad/phases/validation/settings",
        data={
            "csrf_token": token,
            "title": "Val",
            "starts_at": "2026-01-01T00:00",
            "ends_at": "2027-01-01T00:00",
            "daily_limit": "7",
            "total_limit": "",
            "visibility": "after_end",
            "counting": "latest",
        },
    )
    assert edited.status_code == 303
    session.expire_all()
    refreshed = session.get(type(phase), phase.id)
    assert (refreshed.title, refreshed.daily_limit, refreshed.total_limit) == ("Val", 7, None)
    assert (refreshed.leaderboard_visibility, refreshed.counting, refreshed.show_details) == (
        "after_end",
        "latest",
        False,
    )
    assert refreshed.challenge.registration_mode == "manual"
    session.commit()

    dataset = tmp_path / "wsss4luad-validation"
    archive = tmp_path / "split.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(dataset.rglob("*.png")):
            handle.write(path, f"2.validation/{path.relative_to(dataset)}")
        handle.writestr("2.validation/../../evil.png", b"x")
    with archive.open("rb") as upload:
        imported = client.post(
            "/organizer/wsss4luad/import",
            data={"csrf_token": token, "phase_slug": "test", "title": "Test"},
            files={"file": ("split.zip", upload, "application/zip")},
        )
    assert imported.status_code == 200
    assert imported.context["report"].images == 3
    assert not (tmp_path.parent / "evil.png").exists()
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"edit challenge", "edit phase", "import phase"} <= actions


def test_site_admins_create_a_challenge_and_organize_it(client, session):
    make_user(session, email="admin@example.org", name="Admin", is_admin=True)
    session.commit()
    log_in(client, "admin@example.org")
    token = csrf(client, "/account")
    created = client.post(
        "/organizer", data={"csrf_token": token, "slug": "wsss4luad-2", "title": "Second"}
    )
    assert created.headers["location"] == "/organizer/wsss4luad-2/import"
    listing = client.get("/organizer")
    assert [c.slug for c in listing.context["organized"]] == ["wsss4luad-2"]
    again = client.post("/organizer", data={"csrf_token": token, "slug": "wsss4luad-2"})
    assert again.status_code == 409


def test_exports_neutralise_spreadsheet_formulas(client, board, session):
    from app.models import Team

    team = session.scalar(select(Team).where(Team.name == "Beta"))
    team.name = '=HYPERLINK("http://x","a")'
    session.commit()
    log_in(client, "org@example.org")
    text = client.get("/organizer/wsss4luad/phases/validation/export/leaderboard.csv").text
    teams = [row["team"] for row in csv.DictReader(io.StringIO(text))]
    assert '\'=HYPERLINK("http://x","a")' in teams


def test_rescoring_a_failed_submission_does_not_use_quota(client, board, session):
    from app.services import submissions as submissions_service

    phase, rows = board
    phase.total_limit = 1
    rows[0].status = "failed"
    session.commit()
    team = rows[0].team
    before = submissions_service.remaining(session=session, phase=phase, team=team)
    session.commit()
    log_in(client, "org@example.org")
    client.post(
        f"/organizer/submissions/{rows[0].id}/rescore",
        data={"csrf_token": csrf(client, "/account")},
    )
    session.expire_all()
    after = submissions_service.remaining(session=session, phase=phase, team=team)
    assert before.used_total == after.used_total == 0
    assert session.get(Submission, rows[0].id).status == "queued"


def test_bad_filters_and_limits_are_answered_not_crashed(client, board, storage):
    _, rows = board
    log_in(client, "org@example.org")
    listing = client.get("/organizer/wsss4luad/phases/validation/submissions?day=9999-12-31")
    assert listing.status_code == 200
    saved = client.post(
        "/organizer/wsss4luad/phases/validation/settings",
        data={
            "csrf_token": csrf(client, "/account"),
            "title": "V",
            "daily_limit": "99999999999999",
        },
    )
    assert saved.status_code == 422
    assert client.get(f"/organizer/submissions/{rows[0].id}/archive").status_code == 404


def test_the_submissions_export_neutralises_a_formula_in_an_email(client, board, session):
    from app.models import Submission, User

    submitter = session.scalar(select(Submission)).user
    session.get(User, submitter.id).email = "=cmd@example.org"
    session.commit()
    log_in(client, "org@example.org")
    text = client.get("/organizer/wsss4luad/phases/validation/export/submissions.csv").text
    emails = {row["submitted_by"] for row in csv.DictReader(io.StringIO(text))}
    assert "'=cmd@example.org" in emails
    assert "=cmd@example.org" not in emails
