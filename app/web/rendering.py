"""Render pages with the context every template needs (user, CSRF token, notices)."""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.config import Settings
from app.models import User
from app.web.deps import csrf_token_for
from app.web.templating import templates

NOTICES = {
    "welcome": "Welcome! Your account is ready.",
    "logged_out": "You are logged out.",
    "reset_sent": "If an account exists for that address, a reset link is on its way.",
    "password_changed": "Your password was changed. Log in with the new one.",
    "password_updated": (
        "Your password was changed: other browsers are logged out, every API token is "
        "revoked and an email lists them."
    ),
    "registered": "Your team is registered.",
    "pending": "Your registration waits for the organizers' approval.",
    "joined": "You joined the team.",
    "selected": "This submission now counts for your team.",
    "token_revoked": "The token is revoked; scripts using it now get 401.",
}


def render(
    request: Request,
    name: str,
    *,
    settings: Settings,
    user: User | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a template with the shared context."""
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return templates.TemplateResponse(
        request=request,
        name=name,
        context={
            "user": user,
            "csrf_token": csrf_token_for(request, settings),
            "notice": notice,
            **context,
        },
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    """Redirect after a POST (303, so the browser follows with GET)."""
    return RedirectResponse(url, status_code=303)


def redirect_to(
    request: Request,
    name: str,
    /,
    *,
    query: Mapping[str, str] | None = None,
    fragment: str | None = None,
    **path_params: str | int,
) -> RedirectResponse:
    """Redirect after a POST (303) to the named route's path, with a query and a fragment."""
    url = str(request.app.url_path_for(name, **path_params))
    if query:
        url += f"?{urlencode(query)}"
    if fragment:
        url += f"#{fragment}"
    return redirect(url)


def safe_next(target: str | None, default: str = "/") -> str:
    """Return a same-site path to go to after log-in; anything else becomes `default`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
