"""Sign-up, log-in with per-account lockout, password reset and API tokens."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.db import after_commit, utcnow
from app.errors import Conflict, InvalidInput, LimitReached, NotFound
from app.models import ApiToken, LoginAttempt, PasswordReset, User
from app.security import hash_password, new_token, token_digest, verify_password
from app.services.mail import Email, Mailer

MIN_PASSWORD_LENGTH = 10
RESET_VALID_FOR = timedelta(hours=2)


def normalise_email(email: str) -> str:
    """Return the canonical form of an address, or raise InvalidInput."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise InvalidInput({"email": str(error)}) from None


def check_password_rules(password: str) -> None:
    """Refuse passwords that are too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput({"password": f"use at least {MIN_PASSWORD_LENGTH} characters"})


def create_user(
    *,
    session: Session,
    email: str,
    password: str,
    display_name: str,
    affiliation: str = "",
    country: str = "",
    is_admin: bool = False,
) -> User:
    """Create an account; the email must be new."""
    address = normalise_email(email)
    check_password_rules(password)
    errors = {}
    name = display_name.strip()
    if not name:
        errors["display_name"] = "enter the name to show on leaderboards"
    elif len(name) > 100:
        errors["display_name"] = "use at most 100 characters"
    code = country.strip().upper()
    if code and (len(code) != 2 or not code.isalpha()):
        errors["country"] = "use a two-letter ISO country code, such as DE or CN"
    if errors:
        raise InvalidInput(errors)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise Conflict("an account with this email already exists; log in instead")
    user = User(
        email=address,
        password_hash=hash_password(password),
        display_name=name,
        affiliation=affiliation.strip()[:200],
        country=code,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    return user


def get_user_by_email(*, session: Session, email: str) -> User:
    """Return the account with this email, or raise NotFound."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"no account for {email}")
    return user


def authenticate(
    *,
    session: Session,
    email: str,
    password: str,
    ip: str,
    failures_allowed: int,
    lockout: timedelta,
    now: datetime | None = None,
) -> User | None:
    """Return the user for valid credentials, None otherwise; lock an account after failures.

    Failures are counted per account (not per address), as OWASP advises; the answer does
    not reveal whether the account exists.
    """
    now = now or utcnow()
    try:
        address = normalise_email(email)
    except InvalidInput:
        return None
    window_start = now - lockout
    failures = session.scalar(
        select(func.count(LoginAttempt.id)).where(
            LoginAttempt.email == address, LoginAttempt.attempted_at >= window_start
        )
    )
    if failures is not None and failures >= failures_allowed:
        oldest = session.scalar(
            select(func.min(LoginAttempt.attempted_at)).where(
                LoginAttempt.email == address, LoginAttempt.attempted_at >= window_start
            )
        )
        raise LimitReached(
            "too many failed log-ins for this account; try again later",
            (oldest or now) + lockout,
        )
    user = session.scalar(select(User).where(User.email == address))
    if not verify_password(password, user.password_hash if user else None) or user is None:
        session.add(LoginAttempt(email=address, ip=ip[:64], attempted_at=now))
        return None
    session.execute(delete(LoginAttempt).where(LoginAttempt.email == address))
    return user


def request_password_reset(*, session: Session, email: str, mailer: Mailer, base_url: str) -> None:
    """Email a reset link when the account exists; say nothing either way.

    The mail goes out once the token is committed: a rolled-back request sends no link
    that could never work.
    """
    try:
        user = get_user_by_email(session=session, email=email)
    except (NotFound, InvalidInput):
        return
    token = new_token()
    session.add(
        PasswordReset(
            token_hash=token_digest(token), user_id=user.id, expires_at=utcnow() + RESET_VALID_FOR
        )
    )
    email_message = Email(
        to=user.email,
        subject="Reset your WSSS4LUAD password",
        body=(
            f"Hello {user.display_name},\n\nopen this link within two hours to choose a "
            f"new password:\n{base_url.rstrip('/')}/password/reset/{token}\n\n"
            "If you did not ask for this, ignore this message."
        ),
    )
    after_commit(session, lambda: mailer.send(email_message))


def reset_password(*, session: Session, token: str, password: str, mailer: Mailer) -> User:
    """Set a new password with a valid, unused token (see _password_changed for the rest)."""
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == token_digest(token))
    )
    if reset is None or reset.used_at is not None or reset.expires_at < utcnow():
        raise InvalidInput({"token": "this reset link is invalid or has expired"})
    check_password_rules(password)
    user = session.get_one(User, reset.user_id)
    _password_changed(session=session, user=user, password=password, mailer=mailer)
    return user


def change_password(
    *, session: Session, user: User, current: str, password: str, mailer: Mailer
) -> None:
    """Change a logged-in user's password after checking the current one."""
    if not verify_password(current, user.password_hash):
        raise InvalidInput({"current_password": "this is not your current password"})
    check_password_rules(password)
    _password_changed(session=session, user=user, password=password, mailer=mailer)


def _password_changed(*, session: Session, user: User, password: str, mailer: Mailer) -> None:
    """Set the password, spend every outstanding reset link and revoke every API token.

    Whoever knew the old password (or held an older link) may have made a token or asked
    for a link; none of them may outlive the change. The owner is told which tokens went.
    """
    now = utcnow()
    user.password_hash = hash_password(password)
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    revoked = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
    )
    for api_token in revoked:
        api_token.revoked_at = now
    listed = "".join(
        f"\n- {api_token.name or 'unnamed'} ({api_token.prefix}…)" for api_token in revoked
    )
    email_message = Email(
        to=user.email,
        subject="Your WSSS4LUAD password was changed",
        body=(
            f"Hello {user.display_name},\n\nyour password was changed. Every web session "
            "was logged out and every other password-reset link no longer works.\n\n"
            + (
                f"These API tokens were revoked; create new ones on your account page:{listed}"
                if revoked
                else "You had no API token to revoke."
            )
            + "\n\nIf you did not change it, reset your password at once."
        ),
    )
    after_commit(session, lambda: mailer.send(email_message))


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created API token: `secret` is shown once and never stored."""

    token: ApiToken
    secret: str


def create_api_token(
    *, session: Session, user: User, name: str = "", valid_for: timedelta | None = None
) -> IssuedToken:
    """Create a personal API token; only its hash and a display prefix are kept."""
    secret = "wsss_" + new_token()
    token = ApiToken(
        token_hash=token_digest(secret),
        prefix=secret[:12],
        name=name.strip()[:100],
        user_id=user.id,
        expires_at=utcnow() + valid_for if valid_for else None,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)
