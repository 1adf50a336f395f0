"""Every route against every kind of caller.

Roles: anonymous, a participant (member of the team that owns the submission), a rival
(another team), an organizer of another challenge, the challenge's organizer, a site admin.
"allow" means the request got past authorization (any answer but 401/403/404 or a bounce
to the log-in page); "login" means it was sent to log in (pages) or got 401 (API);
"forbidden" means 403, for what the caller may see but not change; "hidden" means 404, for
what the caller may not know exists (app.web.guards). Console and API answer alike.
"""

from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from app.models import BaselineModel, Team
from app.services import accounts as accounts_service
from app.web import api
from app.web.pages import accounts, baselines, challenges, organizer, submissions
from tests.factories import make_user
from tests.web.conftest import csrf, log_in

ROLES = ("anonymous", "participant", "rival", "other_organizer", "organizer", "admin")

PUBLIC = dict.fromkeys(ROLES, "allow")
SIGNED_IN = {"anonymous": "login"} | dict.fromkeys(ROLES[1:], "allow")
OWNER = {
    "anonymous": "login",
    "participant": "allow",
    "rival": "hidden",
    "other_organizer": "hidden",
    "organizer": "allow",
    "admin": "allow",
}
ORGANIZER = {
    "anonymous": "login",
    "participant": "forbidden",
    "rival": "forbidden",
    "other_organizer": "forbidden",
    "organizer": "allow",
    "admin": "allow",
}
# A submission's team sees it but may not moderate it; nobody else may know it exists.
ORGANIZED_SUBMISSION = ORGANIZER | {"rival": "hidden", "other_organizer": "hidden"}
MEMBER = {
    "anonymous": "login",
    "participant": "allow",
    "rival": "allow",
    "other_organizer": "forbidden",
    "organizer": "allow",
    "admin": "allow",
}
NOT_A_TEAM = {"organizer": "forbidden", "admin": "forbidden"}

P = "/challenges/wsss4luad/phases/validation"
ORG = "/organizer/wsss4luad"
A = "/api/v1"

# (method, route path) -> (concrete path, form or JSON body, expectations)
MATRIX = {
    ("GET", "/signup"): ("/signup", None, PUBLIC),
    ("POST", "/signup"): ("/signup", {}, PUBLIC),
    ("GET", "/login"): ("/login", None, PUBLIC),
    ("POST", "/login"): ("/login", {}, PUBLIC),
    ("POST", "/logout"): ("/logout", {}, PUBLIC),
    ("GET", "/password/forgot"): ("/password/forgot", None, PUBLIC),
    ("POST", "/password/forgot"): ("/password/forgot", {"email": "x@example.org"}, PUBLIC),
    ("GET", "/password/reset/{token}"): ("/password/reset/abc", None, PUBLIC),
    ("POST", "/password/reset/{token}"): ("/password/reset/abc", {"password": "x"}, PUBLIC),
    ("GET", "/account"): ("/account", None, SIGNED_IN),
    ("POST", "/account/tokens"): ("/account/tokens", {"name": "t"}, SIGNED_IN),
    # A wrong current password: refused by the form, not by authorization.
    ("POST", "/account/password"): (
        "/account/password",
        {"current_password": "not-it", "password": "a-new-password-1"},
        SIGNED_IN,
    ),
    # Revoking someone else's (here: a missing) token; revoking one's own is in test_accounts.
    ("POST", "/account/tokens/{token_id}/revoke"): (
        "/account/tokens/10000/revoke",
        {},
        {**SIGNED_IN, **dict.fromkeys(ROLES[1:], "hidden")},
    ),
    ("GET", "/"): ("/", None, PUBLIC),
    ("GET", "/challenges/{slug}"): ("/challenges/wsss4luad", None, PUBLIC),
    ("GET", "/challenges/{slug}/register"): ("/challenges/wsss4luad/register", None, SIGNED_IN),
    ("POST", "/challenges/{slug}/register"): (
        "/challenges/wsss4luad/register",
        {"action": "create", "team_name": "Z"},
        SIGNED_IN,
    ),
    ("GET", "/challenges/{slug}/team"): ("/challenges/wsss4luad/team", None, SIGNED_IN),
    ("GET", "/challenges/{slug}/phases/{phase_slug}/data"): (f"{P}/data", None, MEMBER),
    ("GET", "/challenges/{slug}/phases/{phase_slug}/leaderboard"): (
        f"{P}/leaderboard",
        None,
        PUBLIC,
    ),
    ("GET", "/challenges/{slug}/phases/{phase_slug}/submit"): (f"{P}/submit", None, SIGNED_IN),
    ("POST", "/challenges/{slug}/phases/{phase_slug}/submissions"): (
        f"{P}/submissions",
        "file",
        {**MEMBER, **NOT_A_TEAM},
    ),
    ("POST", "/challenges/{slug}/phases/{phase_slug}/precheck"): (
        f"{P}/precheck",
        "file",
        {**MEMBER, **NOT_A_TEAM},
    ),
    ("GET", "/challenges/{slug}/phases/{phase_slug}/submissions"): (
        f"{P}/submissions",
        None,
        SIGNED_IN,
    ),
    ("GET", "/submissions/{submission_id}"): ("/submissions/{submission_id}", None, OWNER),
    ("GET", "/submissions/{submission_id}/status"): (
        "/submissions/{submission_id}/status",
        None,
        OWNER,
    ),
    ("POST", "/submissions/{submission_id}/select"): (
        "/submissions/{submission_id}/select",
        {},
        OWNER,
    ),
    ("GET", "/organizer"): ("/organizer", None, SIGNED_IN),
    ("POST", "/organizer"): (
        "/organizer",
        {"slug": "brand-new", "title": "New"},
        {"anonymous": "login"} | dict.fromkeys(ROLES[1:5], "forbidden") | {"admin": "allow"},
    ),
    ("GET", "/organizer/{slug}"): (ORG, None, ORGANIZER),
    ("POST", "/organizer/{slug}/teams/{team_id}/status"): (
        ORG + "/teams/{team_id}/status",
        {"status": "approved"},
        ORGANIZER,
    ),
    ("GET", "/organizer/{slug}/phases/{phase_slug}/submissions"): (
        f"{ORG}/phases/validation/submissions",
        None,
        ORGANIZER,
    ),
    ("POST", "/organizer/submissions/{submission_id}/rescore"): (
        "/organizer/submissions/{submission_id}/rescore",
        {},
        ORGANIZED_SUBMISSION,
    ),
    ("GET", "/organizer/{slug}/phases/{phase_slug}/rescore"): (
        f"{ORG}/phases/validation/rescore",
        None,
        ORGANIZER,
    ),
    ("POST", "/organizer/{slug}/phases/{phase_slug}/rescore"): (
        f"{ORG}/phases/validation/rescore",
        {"expected": "0"},
        ORGANIZER,
    ),
    ("POST", "/organizer/submissions/{submission_id}/cancel"): (
        "/organizer/submissions/{submission_id}/cancel",
        {},
        ORGANIZED_SUBMISSION,
    ),
    ("POST", "/organizer/submissions/{submission_id}/moderate"): (
        "/organizer/submissions/{submission_id}/moderate",
        {"action": "unhide"},
        ORGANIZED_SUBMISSION,
    ),
    ("GET", "/organizer/submissions/{submission_id}/archive"): (
        "/organizer/submissions/{submission_id}/archive",
        None,
        ORGANIZED_SUBMISSION,
    ),
    ("POST", "/organizer/{slug}/phases/{phase_slug}/publish"): (
        f"{ORG}/phases/validation/publish",
        {},
        ORGANIZER,
    ),
    ("GET", "/organizer/{slug}/phases/{phase_slug}/export/{name}"): (
        f"{ORG}/phases/validation/export/leaderboard.csv",
        None,
        ORGANIZER,
    ),
    ("GET", "/organizer/{slug}/audit"): (f"{ORG}/audit", None, ORGANIZER),
    ("GET", "/organizer/{slug}/settings"): (f"{ORG}/settings", None, ORGANIZER),
    ("POST", "/organizer/{slug}/settings"): (f"{ORG}/settings", {"title": "W"}, ORGANIZER),
    ("GET", "/organizer/{slug}/phases/{phase_slug}/settings"): (
        f"{ORG}/phases/validation/settings",
        None,
        ORGANIZER,
    ),
    ("POST", "/organizer/{slug}/phases/{phase_slug}/settings"): (
        f"{ORG}/phases/validation/settings",
        {"title": "V"},
        ORGANIZER,
    ),
    ("GET", "/organizer/{slug}/import"): (f"{ORG}/import", None, ORGANIZER),
    ("POST", "/organizer/{slug}/import"): (f"{ORG}/import", "file", ORGANIZER),
    ("GET", "/organizer/{slug}/baselines"): (f"{ORG}/baselines", None, ORGANIZER),
    ("POST", "/organizer/{slug}/baselines"): (f"{ORG}/baselines", "file", ORGANIZER),
    ("POST", "/organizer/{slug}/phases/{phase_slug}/baseline"): (
        f"{ORG}/phases/validation/baseline",
        {"model_id": "{model_id}"},
        ORGANIZER,
    ),
    ("POST", "/api/v1/challenges/{challenge}/join"): (
        f"{A}/challenges/wsss4luad/join",
        {"team": "Zed", "accept_rules": False},
        {**SIGNED_IN},
    ),
    ("POST", "/api/v1/challenges/{challenge}/phases/{phase}/submissions"): (
        f"{A}{P}/submissions",
        "file",
        {**MEMBER, **NOT_A_TEAM},
    ),
    ("GET", "/api/v1/submissions/{submission_id}"): (
        A + "/submissions/{submission_id}",
        None,
        OWNER,
    ),
    ("GET", "/api/v1/challenges/{challenge}/phases/{phase}/leaderboard"): (
        f"{A}{P}/leaderboard",
        None,
        PUBLIC,
    ),
    ("GET", "/api/v1/challenges/{challenge}/phases/{phase}/remaining"): (
        f"{A}{P}/remaining",
        None,
        {**MEMBER, **NOT_A_TEAM},
    ),
    ("GET", "/api/v1/challenges/{challenge}/phases/{phase}/submissions"): (
        f"{A}{P}/submissions",
        None,
        ORGANIZER,
    ),
    ("POST", "/api/v1/submissions/{submission_id}/rescore"): (
        A + "/submissions/{submission_id}/rescore",
        {},
        ORGANIZED_SUBMISSION,
    ),
    ("POST", "/api/v1/challenges/{challenge}/phases/{phase}/rescore"): (
        f"{A}{P}/rescore",
        {},
        ORGANIZER,
    ),
    ("POST", "/api/v1/submissions/{submission_id}/cancel"): (
        A + "/submissions/{submission_id}/cancel",
        {},
        ORGANIZED_SUBMISSION,
    ),
    ("POST", "/api/v1/submissions/{submission_id}/moderation"): (
        A + "/submissions/{submission_id}/moderation",
        {"action": "unhide"},
        ORGANIZED_SUBMISSION,
    ),
    ("GET", "/api/v1/challenges/{challenge}/phases/{phase}/export/{name}"): (
        f"{A}{P}/export/leaderboard.csv",
        None,
        ORGANIZER,
    ),
}


def all_routes():
    found = set()
    for module in (accounts, challenges, submissions, *organizer.PARTS, baselines, api):
        for route in module.router.routes:
            if isinstance(route, APIRoute):
                found |= {(method, route.path) for method in route.methods or ()}
    return found


def test_the_matrix_covers_every_route():
    assert all_routes() == set(MATRIX)


@pytest.fixture
def world(board, session):
    """board's teams and organizers, plus an admin and API tokens for everyone."""
    _, rows = board
    make_user(session, email="admin@example.org", name="Admin", is_admin=True)
    session.commit()
    emails = {
        "participant": "u0@example.org",
        "rival": "u1@example.org",
        "other_organizer": "out@example.org",
        "organizer": "org@example.org",
        "admin": "admin@example.org",
    }
    from app.models import User

    tokens = {}
    for role, email in emails.items():
        user = session.scalar(select(User).where(User.email == email))
        tokens[role] = accounts_service.create_api_token(session=session, user=user).secret
    team = session.scalar(select(Team).where(Team.name == "A&B_team"))
    model = BaselineModel(
        challenge_id=team.challenge_id,
        name="MLPS",
        checkpoint_key="baselines/wsss4luad/m.pt",
        checkpoint_sha256="0" * 64,
    )
    session.add(model)
    session.flush()
    session.commit()  # end the transaction: SQLite transactions hold the write lock
    return {
        "emails": emails,
        "tokens": tokens,
        "submission_id": rows[0].id,
        "team_id": team.id,
        "archive": rows[0].archive_key,
        "model_id": model.id,
    }


def outcome(response, is_api):
    """Classify an answer; a page's own 401 (wrong password on /login) got past authorization."""
    to_login = response.status_code == 303 and response.headers.get("location", "").startswith(
        "/login?next="
    )
    if to_login or (is_api and response.status_code == 401):
        return "login"
    if response.status_code == 403:
        return "forbidden"
    if response.status_code == 404:
        return "hidden"
    return "allow"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_answers_each_role_as_specified(
    client, world, role, session, storage, tmp_path
):
    storage.path(world["archive"]).parent.mkdir(parents=True, exist_ok=True)
    storage.path(world["archive"]).write_bytes(b"PK")
    if role != "anonymous":
        log_in(client, world["emails"][role])
    session.commit()
    failures = []
    # Log-out goes last: it ends the session the other requests need.
    ordered = sorted(MATRIX.items(), key=lambda item: item[0][1] == "/logout")
    for (method, _), (path, body, expected) in ordered:
        concrete = path.format(submission_id=world["submission_id"], team_id=world["team_id"])
        is_api = concrete.startswith("/api/")
        headers: dict[str, str] = {}
        if is_api and role != "anonymous":
            headers["Authorization"] = f"Bearer {world['tokens'][role]}"
        kwargs: dict[str, Any] = {"headers": headers}
        if method == "POST":
            if body == "file":
                kwargs["files"] = {"file": ("x.zip", b"PK\x05\x06" + b"\x00" * 18)}
                kwargs["data"] = {"phase_slug": "x"}
            elif is_api:
                kwargs["json"] = body
            else:
                assert isinstance(body, dict)
                kwargs["data"] = {
                    key: str(value).format(model_id=world["model_id"])
                    for key, value in body.items()
                }
            if not is_api:
                headers["X-CSRF-Token"] = csrf(
                    client, "/account" if role != "anonymous" else "/login"
                )
        response = client.request(method, concrete, **kwargs)
        got = outcome(response, is_api)
        if got != expected[role]:
            failures.append(
                f"{method} {concrete}: {response.status_code} ({got}), expected {expected[role]}"
            )
    assert not failures, "\n".join(failures)
