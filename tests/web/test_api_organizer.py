"""Organizer endpoints of the REST API, and the interactive documentation."""

from sqlalchemy import select

from app.models import Submission
from app.services import accounts as accounts_service


def bearer(session, email):
    from app.models import User

    user = session.scalar(select(User).where(User.email == email))
    secret = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_organizer_endpoints_rescore_moderate_and_export(client, app, board, session):
    _, rows = board
    headers = bearer(session, "org@example.org")
    listed = client.get(
        "/api/v1/challenges/wsss4luad/phases/validation/submissions", headers=headers
    )
    assert sorted(item["id"] for item in listed.json()) == sorted(r.id for r in rows)
    hidden = client.post(
        f"/api/v1/submissions/{rows[0].id}/moderation",
        json={"action": "hide", "reason": "duplicate account"},
        headers=headers,
    )
    assert hidden.status_code == 200
    board_rows = client.get("/api/v1/challenges/wsss4luad/phases/validation/leaderboard").json()
    assert [row["team"] for row in board_rows["rows"]] == ["Beta", "Gamma"]
    latex = client.get(
        "/api/v1/challenges/wsss4luad/phases/validation/export/leaderboard.tex", headers=headers
    )
    assert latex.headers["content-type"].startswith("application/x-tex")
    assert r"\textbf{0.7000}" in latex.text
    rescored = client.post(f"/api/v1/submissions/{rows[1].id}/rescore", headers=headers)
    assert rescored.status_code == 202
    assert rescored.json() == {"queued": [rows[1].id]}
    assert app.state.tasks.sent == [rows[1].id]
    whole = client.post("/api/v1/challenges/wsss4luad/phases/validation/rescore", headers=headers)
    assert sorted(whole.json()["queued"]) == sorted([rows[0].id, rows[2].id])
    session.expire_all()
    assert set(session.scalars(select(Submission.status))) == {"queued"}


def test_organizer_endpoints_refuse_participants_and_other_organizers(client, board, session):
    _, rows = board
    for email in ("u1@example.org", "out@example.org"):
        headers = bearer(session, email)
        for method, path in (
            ("get", "/api/v1/challenges/wsss4luad/phases/validation/submissions"),
            ("post", f"/api/v1/submissions/{rows[0].id}/rescore"),
            ("post", "/api/v1/challenges/wsss4luad/phases/validation/rescore"),
            ("get", "/api/v1/challenges/wsss4luad/phases/validation/export/leaderboard.csv"),
        ):
            answer = getattr(client, method)(path, headers=headers).status_code
            assert answer in (403, 404), (email, path, answer)


def test_interactive_docs_use_the_vendored_swagger_ui(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui-bundle-5.35.0.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert client.get("/static/vendor/swagger-ui-bundle-5.35.0.js").status_code == 200
