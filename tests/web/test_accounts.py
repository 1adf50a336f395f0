"""Accounts through the browser-facing pages: sign-up, log-in, lockout, reset, CSRF."""

import json

from app.config import Settings
from app.services import accounts as accounts_service
from tests.factories import PASSWORD
from tests.web.conftest import csrf, log_in, sign_up


def test_sign_up_logs_in_with_a_safe_session_cookie(client):
    sign_up(client)
    cookie = client.cookies.get("wsss_session")
    assert cookie
    page = client.get("/account")
    assert page.status_code == 200
    assert page.context["user"].email == "pat@example.org"
    assert page.context["user"].country == "DE"


def test_session_cookie_flags(client):
    response = client.post(
        "/signup",
        data={
            "csrf_token": csrf(client, "/signup"),
            "email": "a@example.org",
            "password": PASSWORD,
            "display_name": "A",
        },
    )
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=lax" in header


def test_duplicate_email_and_short_password_are_explained(client):
    sign_up(client)
    client.cookies.clear()
    token = csrf(client, "/signup")
    again = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "PAT@example.org",
            "password": PASSWORD,
            "display_name": "P",
        },
    )
    assert again.status_code == 409
    assert "already exists" in again.context["errors"]["email"]
    short = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "new@example.org",
            "password": "short",
            "display_name": "P",
        },
    )
    assert short.status_code == 422
    assert "at least 10" in short.context["errors"]["password"]


def test_forms_without_csrf_token_are_refused(client):
    client.get("/signup")
    response = client.post(
        "/signup", data={"email": "x@example.org", "password": PASSWORD, "display_name": "X"}
    )
    assert response.status_code == 403
    forged = client.post(
        "/signup",
        data={
            "csrf_token": "0" * 64,
            "email": "x@example.org",
            "password": PASSWORD,
            "display_name": "X",
        },
    )
    assert forged.status_code == 403


def test_cross_site_posts_are_refused_even_with_a_token(client):
    token = csrf(client, "/signup")
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "x@example.org", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403


def test_log_out_ends_the_session_server_side(client):
    sign_up(client)
    stolen = client.cookies.get("wsss_session")
    response = client.post("/logout", data={"csrf_token": csrf(client, "/account")})
    assert response.status_code == 303
    client.cookies.clear()
    client.cookies.set("wsss_session", stolen)
    assert client.get("/account").status_code == 303  # back to the log-in form


def test_log_in_rotates_the_session_id(client):
    sign_up(client)
    first = client.cookies.get("wsss_session")
    assert log_in(client, "pat@example.org").status_code == 303
    second = client.cookies.get("wsss_session")
    assert second != first
    client.cookies.clear()
    client.cookies.set("wsss_session", first)
    assert client.get("/account").status_code == 303


def test_failed_log_ins_lock_the_account(client, settings):
    sign_up(client)
    client.cookies.clear()
    for _ in range(settings.login_failures_allowed):
        assert log_in(client, "pat@example.org", "wrong-password").status_code == 401
    locked = log_in(client, "pat@example.org")
    assert locked.status_code == 429
    assert "too many failed log-ins" in locked.text


def test_unknown_account_and_wrong_password_read_the_same(client):
    sign_up(client)
    client.cookies.clear()
    wrong = log_in(client, "pat@example.org", "wrong-password")
    unknown = log_in(client, "nobody@example.org", "wrong-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.context["error"] == unknown.context["error"]


def test_password_reset_by_emailed_link(client, settings: Settings):
    sign_up(client)
    client.cookies.clear()
    client.post(
        "/password/forgot",
        data={"csrf_token": csrf(client, "/password/forgot"), "email": "pat@example.org"},
    )
    [message] = [json.loads(p.read_text()) for p in (settings.data_dir / "outbox").iterdir()]
    link = next(line for line in message["body"].splitlines() if "/password/reset/" in line)
    path = link.split(settings.base_url.rstrip("/"))[1]
    changed = client.post(
        path, data={"csrf_token": csrf(client, path), "password": "a-new-password-1"}
    )
    assert changed.status_code == 303
    assert log_in(client, "pat@example.org").status_code == 401
    assert log_in(client, "pat@example.org", "a-new-password-1").status_code == 303
    reused = client.post(
        path, data={"csrf_token": csrf(client, path), "password": "another-one-22"}
    )
    assert reused.status_code == 422


def test_security_headers_on_every_page(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_next_parameter_cannot_leave_the_site(client):
    sign_up(client)
    client.cookies.clear()
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf(client),
            "email": "pat@example.org",
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


def test_csrf_tokens_are_bound_to_the_login_session(client):
    sign_up(client)
    token = csrf(client, "/account")
    seed = client.cookies.get("wsss_csrf")
    mine = client.cookies.get("wsss_session")
    client.cookies.clear()
    sign_up(client, email="other@example.org", name="Other")
    theirs = client.cookies.get("wsss_session")
    client.cookies.clear()
    client.cookies.set("wsss_csrf", seed)
    client.cookies.set("wsss_session", theirs)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 403
    client.cookies.set("wsss_session", mine)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303


def test_api_tokens_are_created_shown_once_and_revoked_from_the_account_page(client):
    sign_up(client)
    created = client.post(
        "/account/tokens",
        data={"csrf_token": csrf(client, "/account"), "name": "cluster", "days": "30"},
    )
    assert created.status_code == 200
    secret = created.context["new_token"].secret
    assert secret in created.text
    page = client.get("/account")
    assert secret not in page.text
    [token] = page.context["tokens"]
    assert token.name == "cluster"
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/submissions/999", headers=headers).status_code == 404
    revoked = client.post(
        f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf(client, "/account")}
    )
    assert revoked.status_code == 303
    assert client.get("/api/v1/submissions/999", headers=headers).status_code == 401


CHANGED = "Your WSSS4LUAD password was changed"


def _outbox(settings: Settings) -> list[dict[str, str]]:
    folder = settings.data_dir / "outbox"
    return [json.loads(p.read_text()) for p in sorted(folder.iterdir())] if folder.exists() else []


def test_a_reset_revokes_the_api_tokens_and_every_other_link(client, settings, session):
    sign_up(client)
    user = accounts_service.get_user_by_email(session=session, email="pat@example.org")
    token = accounts_service.create_api_token(session=session, user=user, name="cluster")
    session.commit()
    client.cookies.clear()
    for _ in range(2):
        client.post(
            "/password/forgot",
            data={"csrf_token": csrf(client, "/password/forgot"), "email": "pat@example.org"},
        )
    links = [
        line.split(settings.base_url.rstrip("/"))[1]
        for message in _outbox(settings)
        for line in message["body"].splitlines()
        if "/password/reset/" in line
    ]
    assert len(links) == 2
    used = client.post(
        links[0], data={"csrf_token": csrf(client, links[0]), "password": "a-new-password-1"}
    )
    assert used.status_code == 303
    other = client.post(
        links[1], data={"csrf_token": csrf(client, links[1]), "password": "another-one-22"}
    )
    assert other.status_code == 422  # the older link died with the change
    api = client.get("/api/v1/submissions/1", headers={"Authorization": f"Bearer {token.secret}"})
    assert api.status_code == 401
    [notice] = [m for m in _outbox(settings) if m["subject"] == CHANGED]
    assert f"cluster ({token.token.prefix}…)" in notice["body"]


def test_a_password_change_needs_the_current_one_and_revokes_tokens(client, settings, session):
    sign_up(client)
    user = accounts_service.get_user_by_email(session=session, email="pat@example.org")
    token = accounts_service.create_api_token(session=session, user=user, name="laptop")
    session.commit()
    wrong = client.post(
        "/account/password",
        data={
            "csrf_token": csrf(client, "/account"),
            "current_password": "not-my-password",
            "password": "a-new-password-1",
        },
    )
    assert wrong.status_code == 422
    assert wrong.context["errors"] == {"current_password": "this is not your current password"}
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": csrf(client, "/account"),
            "current_password": PASSWORD,
            "password": "a-new-password-1",
        },
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/account?notice=password_updated"
    assert client.get("/account").status_code == 200  # this browser stays logged in
    api = client.get("/api/v1/submissions/1", headers={"Authorization": f"Bearer {token.secret}"})
    assert api.status_code == 401
    [notice] = [m for m in _outbox(settings) if m["subject"] == CHANGED]
    assert "laptop" in notice["body"]
    client.cookies.clear()
    assert log_in(client, "pat@example.org", "a-new-password-1").status_code == 303
