"""Personal API tokens: resolve a bearer token, list and revoke a user's tokens."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import NotFound
from app.models import ApiToken, User
from app.security import token_digest

_TOUCH_EVERY = timedelta(minutes=1)


def resolve_token(*, session: Session, secret: str) -> User | None:
    """Return the user of a valid (unrevoked, unexpired) token, or None."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        token.last_used_at = now
    return token.user


def list_tokens(*, session: Session, user: User) -> list[ApiToken]:
    """Return the user's tokens, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(*, session: Session, user: User, token_id: int) -> None:
    """Revoke one of the user's tokens (idempotent)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
