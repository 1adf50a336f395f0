"""Domain errors raised by services; the web layer maps them to HTTP answers.

DomainError
 ├── NotFound            (404)
 ├── PermissionDenied    (403)
 ├── NotAuthenticated    (401)
 ├── InvalidInput        (422) carries field -> message
 ├── Conflict            (409)
 └── LimitReached        (429) carries when the next attempt is allowed
"""

from datetime import datetime


class DomainError(Exception):
    """A failure the user can understand; `message` is shown to them."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""

    status_code = 404


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    status_code = 403


class NotAuthenticated(DomainError):
    """The caller must log in first."""

    status_code = 401


class InvalidInput(DomainError):
    """Input breaks a rule; `errors` maps each field to what is wrong with it."""

    status_code = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class Conflict(DomainError):
    """The request clashes with the current state (a name already taken, ...)."""

    status_code = 409


class LimitReached(DomainError):
    """A quota or rate limit is exhausted until `retry_at`."""

    status_code = 429

    def __init__(self, message: str, retry_at: datetime | None) -> None:
        super().__init__(message)
        self.retry_at = retry_at
