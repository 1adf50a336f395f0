"""Browser sessions stored in the database: revocable, with idle and absolute timeouts."""

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import User, WebSession
from app.security import new_token, token_digest

_TOUCH_EVERY = timedelta(minutes=5)


def start_session(*, session: Session, user: User, lifetime: timedelta) -> str:
    """Create a session for a user and return the cookie value (never stored in clear)."""
    token = new_token()
    session.add(
        WebSession(token_hash=token_digest(token), user_id=user.id, expires_at=utcnow() + lifetime)
    )
    session.flush()
    return token


def resolve_session(*, session: Session, token: str, idle: timedelta) -> WebSession | None:
    """Return the live session for a cookie value, sliding its idle timeout."""
    found = session.scalar(select(WebSession).where(WebSession.token_hash == token_digest(token)))
    now = utcnow()
    if found is None or found.expires_at <= now or found.last_seen_at + idle <= now:
        return None
    if now - found.last_seen_at > _TOUCH_EVERY:
        found.last_seen_at = now
    return found


def end_session(*, session: Session, token: str) -> None:
    """Delete the session behind a cookie value."""
    session.execute(delete(WebSession).where(WebSession.token_hash == token_digest(token)))


def end_all_sessions(*, session: Session, user: User) -> None:
    """Log a user out everywhere (after a password reset)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
