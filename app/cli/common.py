"""What the command modules share: exit codes, the one error handler, sessions, times.

Importing this module stays cheap (typer, rich and `app.errors`): the commands import
sqlalchemy, numpy or httpx themselves, when they run.
"""

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import typer
from rich.console import Console

from app.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.client import ClientError
    from app.scoring.errors import Problem, SubmissionRejected

EXIT_REJECTED = 1
EXIT_BAD_GROUND_TRUTH = 3
EXIT_INTERNAL = 4


@contextmanager
def reported_errors(refused: str = "Refused", *, scoring: str | None = None) -> Iterator[None]:
    """Turn an expected error into its message on stderr and its exit code.

    `refused` heads a domain error's or a server's refusal. `scoring` names the submission
    being scored: its rejection lists the problems, and any unexpected exception is then
    reported as a bug of the scorer (EXIT_INTERNAL) instead of a traceback.
    """
    try:
        yield
    except Exception as error:
        errors = Console(stderr=True, soft_wrap=True)
        code = explain(error, errors, refused=refused, scoring=scoring)
        if code is None:
            if scoring is None:
                raise
            errors.print(
                f"[bold red]Internal error[/] ({type(error).__name__}: {error}); this is a bug "
                "in the scorer, not a problem of the submission",
                highlight=False,
            )
            code = EXIT_INTERNAL
        raise typer.Exit(code) from None


def explain(
    error: Exception, errors: Console, *, refused: str = "Refused", scoring: str | None = None
) -> int | None:
    """Print what an expected error means and return its exit code; None for any other."""
    if isinstance(error, DomainError):
        errors.print(f"[bold red]{refused}:[/] {error.message}")
        return EXIT_REJECTED
    if _raised(error, "app.scoring.errors", "GroundTruthError"):
        errors.print(f"[bold red]Ground truth unusable:[/] {error}", highlight=False)
        return EXIT_BAD_GROUND_TRUTH
    if _raised(error, "app.scoring.errors", "SubmissionRejected"):
        rejected = cast("SubmissionRejected", error)
        errors.print(
            f"[bold red]Submission refused[/] ({scoring}), "
            f"{len(rejected.problems) + rejected.omitted} problem(s):",
            highlight=False,
        )
        _print_problems(errors, rejected.problems, rejected.omitted)
        return EXIT_REJECTED
    if _raised(error, "app.client", "ClientError"):
        errors.print(f"[bold red]{refused}:[/] {error}", highlight=False)
        _print_problems(errors, cast("ClientError", error).problems, 0)
        return EXIT_REJECTED
    return None


def _raised(error: Exception, module: str, name: str) -> bool:
    # A class of a module that was never imported cannot have been raised; looking only in
    # the loaded modules keeps numpy and httpx out of the commands that use neither.
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(error, getattr(loaded, name))


def _print_problems(errors: Console, problems: "Sequence[Problem | str]", omitted: int) -> None:
    for problem in problems:
        errors.print(f"  - {problem}", highlight=False, markup=False)
    if omitted:
        errors.print(f"  ... and {omitted} more", highlight=False)


@contextmanager
def database_session() -> Iterator["Session"]:
    """Open the configured database for one transaction, committed when the block ends."""
    from app.config import get_settings
    from app.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def parse_time(value: str | None, option: str) -> datetime | None:
    """Read an ISO 8601 time given to `option`, UTC when it names no zone."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_score(value: float | None) -> str:
    """Show a score with four decimals, or n/a when it is undefined."""
    return "n/a" if value is None else f"{value:.4f}"
