"""Routes whose sync endpoints finish their database transaction in their own thread.

FastAPI runs each sync dependency, the endpoint and the validation of its return value in
separate hops through one shared thread pool, and the session dependency commits only after
the last hop. A transaction kept open across hops holds its locks (row locks on PostgreSQL,
the write lock on SQLite) while it waits for a free thread; when every thread waits for those
locks, nothing moves. So the endpoint commits before it returns, and the dependencies that
read the caller's identity end their transaction before the endpoint starts.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute

from app.db import Session


def commits_before_returning(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a sync endpoint with a `session` parameter so it commits before returning."""
    if (
        hasattr(endpoint, "commits_before_returning")  # include_router builds routes anew
        or inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or "session" not in inspect.signature(endpoint).parameters
    ):
        return endpoint

    @functools.wraps(endpoint)
    def run(**values: Any) -> Any:
        result = endpoint(**values)
        session: Session = values["session"]
        session.commit()
        return result

    run.commits_before_returning = True  # type: ignore[attr-defined]
    return run


class TransactionRoute(APIRoute):
    """An APIRoute whose endpoint commits in the thread it runs in."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, commits_before_returning(endpoint), **kwargs)
