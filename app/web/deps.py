"""Request dependencies: the database session, the current user, CSRF, settings."""

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, Header, Path, Request

from app.config import Settings
from app.db import Session
from app.errors import NotAuthenticated, PermissionDenied
from app.models import User
from app.queue import TaskSender
from app.services import api_tokens as api_tokens_service
from app.services import sessions as sessions_service
from app.services.mail import Mailer
from app.services.storage import Storage

SESSION_COOKIE = "wsss_session"
CSRF_COOKIE = "wsss_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def get_settings_from_app(request: Request) -> Settings:
    """Return the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Yield a session; commit when the endpoint returns, roll back when it raises.

    Async, so that a request that never touches the database (a stored public view, see
    app.web.public_cache) costs no thread hop: a new session holds no connection, and sync
    endpoints commit in their own thread (app.web.routing). Whatever is still open here is
    committed or rolled back in a thread, never on the event loop.
    """
    session = request.app.state.sessions()
    try:
        yield session
        if session.in_transaction():
            await _outside_the_pool(session.commit)
    except BaseException:
        if session.in_transaction():
            with CancelScope(shield=True):  # a client gone away still gets its rollback
                await _outside_the_pool(session.rollback)
        raise
    finally:
        session.close()


async def _outside_the_pool(end: Callable[[], None]) -> None:
    # A transaction left open (an endpoint that raised) may hold the lock that every
    # thread of the shared pool waits for; ending it must not wait for one of them. Each
    # call gets a limiter of its own, as FastAPI does for sync dependencies' teardown.
    await to_thread.run_sync(end, limiter=CapacityLimiter(1))


RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]
"""A row id in a path: positive and within a 32-bit integer, as every backend stores it."""

SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
# scope="function": commit before the response is sent, so a redirect never outruns it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_storage(request: Request) -> Storage:
    """Return the app's storage."""
    storage: Storage = request.app.state.storage
    return storage


def get_tasks(request: Request) -> TaskSender:
    """Return the app's task sender."""
    tasks: TaskSender = request.app.state.tasks
    return tasks


def get_mailer(request: Request) -> Mailer:
    """Return the app's mailer."""
    mailer: Mailer = request.app.state.mailer
    return mailer


StorageDep = Annotated[Storage, Depends(get_storage)]
TasksDep = Annotated[TaskSender, Depends(get_tasks)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]


def get_optional_user(request: Request, session: SessionDep, settings: SettingsDep) -> User | None:
    """Return the logged-in user, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = sessions_service.resolve_session(
        session=session, token=token, idle=timedelta(minutes=settings.session_idle_minutes)
    )
    user = found.user if found else None
    session.commit()  # no lock may outlive this thread hop (see app.web.routing)
    return user


OptionalUserDep = Annotated[User | None, Depends(get_optional_user, scope="function")]


def get_user(user: OptionalUserDep) -> User:
    """Return the logged-in user or refuse with 401 (pages redirect to the log-in form)."""
    if user is None:
        raise NotAuthenticated("log in to continue")
    return user


UserDep = Annotated[User, Depends(get_user, scope="function")]


def _csrf_token(request: Request, seed: str, settings: Settings) -> str:
    # Bound to the login session too, so a token planted together with a seed cookie is
    # useless once the victim's session differs (and every log-in changes the session).
    session_token = request.cookies.get(SESSION_COOKIE, "")
    message = f"{seed}:{session_token}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def csrf_token_for(request: Request, settings: Settings) -> str:
    """Return the form token bound to this browser's CSRF cookie and login session."""
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_seed", None)
    return _csrf_token(request, seed, settings) if seed else ""


async def verify_csrf(request: Request, settings: SettingsDep) -> None:
    """Refuse a state-changing browser request without a valid token (form field or header)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise PermissionDenied("cross-site request refused")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise PermissionDenied("cross-site request refused")
    seed = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not seed or not sent:
        raise PermissionDenied("the form expired; reload the page and try again")
    if not hmac.compare_digest(_csrf_token(request, seed, settings), sent):
        raise PermissionDenied("the form expired; reload the page and try again")


CsrfDep = Depends(verify_csrf)


def get_api_user(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> User | None:
    """Return the token's user, None without a token; 401 for a bad or revoked token."""
    if authorization is None:
        return None
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("send the token as 'Authorization: Bearer <token>'")
    user = api_tokens_service.resolve_token(session=session, secret=secret.strip())
    session.commit()  # no lock may outlive this thread hop (see app.web.routing)
    if user is None:
        raise NotAuthenticated("the token is invalid, expired or revoked")
    return user


MaybeApiUser = Annotated[User | None, Depends(get_api_user, scope="function")]


def require_api_user(user: MaybeApiUser) -> User:
    """Refuse anonymous API calls with 401."""
    if user is None:
        raise NotAuthenticated("this endpoint needs an API token (Authorization: Bearer ...)")
    return user


ApiUser = Annotated[User, Depends(require_api_user, scope="function")]
