"""Sign up, log in and out, reset a password, see one's account."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import Conflict, InvalidInput, LimitReached
from app.services import accounts as accounts_service
from app.services import api_tokens as api_tokens_service
from app.services import sessions as sessions_service
from app.services import teams as teams_service
from app.web.deps import (
    SESSION_COOKIE,
    CsrfDep,
    MailerDep,
    OptionalUserDep,
    RowId,
    SessionDep,
    SettingsDep,
    UserDep,
)
from app.web.rendering import redirect, redirect_to, render, safe_next
from app.web.routing import TransactionRoute

router = APIRouter(tags=["accounts"], route_class=TransactionRoute)


def _set_session_cookie(response: Response, token: str, secure: bool, max_days: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_days * 86400,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )


@router.get("/signup", response_class=HTMLResponse, name="signup_form")
def signup_form(
    request: Request, settings: SettingsDep, user: OptionalUserDep, next: str = "/"
) -> Response:
    """Show the sign-up form."""
    if user is not None:
        return redirect(safe_next(next))
    return render(request, "accounts/signup.html", settings=settings, user=None, next=next, form={})


@router.post("/signup", dependencies=[CsrfDep], name="signup")
def signup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    affiliation: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Create an account and log it in."""
    form = {
        "email": email,
        "display_name": display_name,
        "affiliation": affiliation,
        "country": country,
    }
    try:
        user = accounts_service.create_user(
            session=session,
            email=email,
            password=password,
            display_name=display_name,
            affiliation=affiliation,
            country=country,
        )
    except (InvalidInput, Conflict) as error:
        errors = error.errors if isinstance(error, InvalidInput) else {"email": error.message}
        return render(
            request,
            "accounts/signup.html",
            settings=settings,
            user=None,
            next=next,
            form=form,
            errors=errors,
            status_code=error.status_code,
        )
    token = sessions_service.start_session(
        session=session, user=user, lifetime=timedelta(days=settings.session_max_days)
    )
    response = redirect(_with_notice(safe_next(next), "welcome"))
    _set_session_cookie(response, token, settings.secure_cookies, settings.session_max_days)
    return response


def _with_notice(url: str, notice: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}notice={notice}"


@router.get("/login", response_class=HTMLResponse, name="login_form")
def login_form(
    request: Request, settings: SettingsDep, user: OptionalUserDep, next: str = "/"
) -> Response:
    """Show the log-in form."""
    if user is not None:
        return redirect(safe_next(next))
    return render(request, "accounts/login.html", settings=settings, user=None, next=next)


@router.post("/login", dependencies=[CsrfDep], name="login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check credentials; start a fresh session (a new id at every log-in)."""
    try:
        user = accounts_service.authenticate(
            session=session,
            email=email,
            password=password,
            ip=request.client.host if request.client else "",
            failures_allowed=settings.login_failures_allowed,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
    except LimitReached as error:
        user, refusal, status_code = None, error.message, 429
    else:
        refusal, status_code = "Wrong email or password.", 401
    if user is None:
        return render(
            request,
            "accounts/login.html",
            settings=settings,
            user=None,
            next=next,
            email=email,
            error=refusal,
            status_code=status_code,
        )
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        sessions_service.end_session(session=session, token=old)
    token = sessions_service.start_session(
        session=session, user=user, lifetime=timedelta(days=settings.session_max_days)
    )
    response = redirect(safe_next(next))
    _set_session_cookie(response, token, settings.secure_cookies, settings.session_max_days)
    return response


@router.post("/logout", dependencies=[CsrfDep], name="logout")
def logout(request: Request, session: SessionDep) -> Response:
    """End the session and forget the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions_service.end_session(session=session, token=token)
    response = redirect_to(request, "home", query={"notice": "logged_out"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password/forgot", response_class=HTMLResponse, name="forgot_form")
def forgot_form(request: Request, settings: SettingsDep, user: OptionalUserDep) -> Response:
    """Ask for the account's email."""
    return render(request, "accounts/forgot.html", settings=settings, user=user)


@router.post("/password/forgot", dependencies=[CsrfDep], name="forgot")
def forgot(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    email: Annotated[str, Form()],
) -> Response:
    """Send a reset link when the account exists; answer the same either way."""
    accounts_service.request_password_reset(
        session=session, email=email, mailer=mailer, base_url=settings.base_url
    )
    return redirect_to(request, "login_form", query={"notice": "reset_sent"})


@router.get("/password/reset/{token}", response_class=HTMLResponse, name="reset_form")
def reset_form(request: Request, token: str, settings: SettingsDep) -> Response:
    """Show the new-password form."""
    return render(request, "accounts/reset.html", settings=settings, user=None, token=token)


@router.post("/password/reset/{token}", dependencies=[CsrfDep], name="reset")
def reset(
    request: Request,
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    password: Annotated[str, Form()],
) -> Response:
    """Set the new password and log the account out everywhere (its API tokens too)."""
    try:
        user = accounts_service.reset_password(
            session=session, token=token, password=password, mailer=mailer
        )
    except InvalidInput as error:
        return render(
            request,
            "accounts/reset.html",
            settings=settings,
            user=None,
            token=token,
            errors=error.errors,
            status_code=422,
        )
    sessions_service.end_all_sessions(session=session, user=user)
    response = redirect_to(request, "login_form", query={"notice": "password_changed"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _account_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    new_token: accounts_service.IssuedToken | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "accounts/account.html",
        settings=settings,
        user=user,
        teams=teams_service.list_user_teams(session=session, user=user),
        tokens=api_tokens_service.list_tokens(session=session, user=user),
        new_token=new_token,
        errors=errors or {},
        status_code=422 if errors else 200,
    )


@router.post("/account/password", dependencies=[CsrfDep], name="change_password")
def change_password(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    user: UserDep,
    current_password: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    """Change the password; other browsers are logged out and every API token is revoked."""
    try:
        accounts_service.change_password(
            session=session, user=user, current=current_password, password=password, mailer=mailer
        )
    except InvalidInput as error:
        return _account_page(request, session, settings, user, errors=error.errors)
    sessions_service.end_all_sessions(session=session, user=user)
    token = sessions_service.start_session(
        session=session, user=user, lifetime=timedelta(days=settings.session_max_days)
    )
    response = redirect_to(request, "account", query={"notice": "password_updated"})
    _set_session_cookie(response, token, settings.secure_cookies, settings.session_max_days)
    return response


@router.get("/account", response_class=HTMLResponse, name="account")
def account(
    request: Request, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the user's profile, teams and API tokens."""
    return _account_page(request, session, settings, user)


@router.post("/account/tokens", dependencies=[CsrfDep], name="create_token")
def create_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    name: Annotated[str, Form()] = "",
    days: Annotated[int, Form(ge=1, le=366)] = 90,
) -> Response:
    """Create an API token and show it once (never stored in clear)."""
    issued = accounts_service.create_api_token(
        session=session, user=user, name=name, valid_for=timedelta(days=days)
    )
    return _account_page(request, session, settings, user, new_token=issued)


@router.post("/account/tokens/{token_id}/revoke", dependencies=[CsrfDep], name="revoke_token")
def revoke_token(request: Request, token_id: RowId, session: SessionDep, user: UserDep) -> Response:
    """Revoke one of the user's tokens."""
    api_tokens_service.revoke_token(session=session, user=user, token_id=token_id)
    return redirect_to(request, "account", query={"notice": "token_revoked"}, fragment="tokens")
