"""An organizer's scripted set-up: `admin import-phase`, users, tokens and teams."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.cli.common import database_session, parse_time, reported_errors

admin_cli = typer.Typer(help="Scripted set-up: phases, users, tokens.", no_args_is_help=True)


@admin_cli.command("import-phase")
def import_phase(
    challenge: Annotated[str, typer.Argument(help="Challenge slug; created when missing.")],
    phase: Annotated[str, typer.Argument(help="Phase slug, e.g. validation or test.")],
    dataset_dir: Annotated[
        Path, typer.Argument(help="Folder with img/, mask/, background-mask/.", file_okay=False)
    ],
    daily_limit: Annotated[int | None, typer.Option(min=0)] = None,
    total_limit: Annotated[int | None, typer.Option(min=0)] = None,
    title: Annotated[str | None, typer.Option(help="Phase title shown on the site.")] = None,
    starts: Annotated[str | None, typer.Option(help="Start, ISO 8601 (UTC if no zone).")] = None,
    ends: Annotated[str | None, typer.Option(help="End, ISO 8601 (UTC if no zone).")] = None,
    visibility: Annotated[
        str | None, typer.Option(help="Leaderboard: public, after_end or organizers.")
    ] = None,
    counting: Annotated[str | None, typer.Option(help="best, latest or selected.")] = None,
    details: Annotated[
        bool | None,
        typer.Option(
            "--details/--no-details",
            help="Show teams confusion matrices and per-image scores (turn off for a test "
            "phase: they reveal the hidden images' class fractions).",
        ),
    ] = None,
) -> None:
    """Create or update a phase from a dataset in the official layout."""
    from app.config import get_settings
    from app.services import challenges as challenges_service
    from app.services.storage import LocalStorage

    settings = get_settings()
    console = Console()
    with reported_errors("Import refused"), database_session() as session:
        report = challenges_service.import_phase(
            session=session,
            storage=LocalStorage(settings.data_dir),
            challenge_slug=challenge,
            phase_slug=phase,
            dataset_dir=dataset_dir,
            title=title,
            starts_at=parse_time(starts, "--starts"),
            ends_at=parse_time(ends, "--ends"),
            daily_limit=daily_limit,
            total_limit=total_limit,
        )
        challenges_service.configure_phase(
            session=session,
            phase=report.phase,
            visibility=visibility,
            counting=counting,
            show_details=details,
        )
    pixels = ", ".join(f"{label} {count:,}" for label, count in report.pixels.items())
    console.print(
        f"Imported {challenge}/{phase}: {report.images} images; pixels: {pixels}", highlight=False
    )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@admin_cli.command("describe-challenge")
def describe_challenge(
    challenge: Annotated[str, typer.Argument(help="Challenge slug.")],
    title: Annotated[str | None, typer.Option()] = None,
    summary: Annotated[
        str | None, typer.Option(help="One sentence for the challenge list.")
    ] = None,
    description: Annotated[
        Path | None, typer.Option(help="Markdown file: the overview.", dir_okay=False, exists=True)
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Markdown file: the rules.", dir_okay=False, exists=True)
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Markdown file: the data description.", dir_okay=False, exists=True),
    ] = None,
    registration: Annotated[
        str | None, typer.Option(help="auto (approve at once) or manual (organizers approve).")
    ] = None,
) -> None:
    """Set a challenge's title, texts and registration mode."""
    from app.services import challenges as challenges_service

    with reported_errors(), database_session() as session:
        challenges_service.describe_challenge(
            challenge=challenges_service.get_challenge(session=session, slug=challenge),
            title=title,
            summary=summary,
            description_md=description.read_text() if description else None,
            rules_md=rules.read_text() if rules else None,
            data_md=data.read_text() if data else None,
            registration_mode=registration,
        )
    Console().print(f"Updated {challenge}.", highlight=False)


@admin_cli.command("set-team-status")
def set_team_status(
    challenge: Annotated[str, typer.Argument(help="Challenge slug.")],
    team: Annotated[str, typer.Argument(help="Team name, as registered.")],
    status: Annotated[str, typer.Argument(help="approved, denied or pending.")],
) -> None:
    """Approve or deny a team's registration (challenges with manual approval)."""
    from app.services import challenges as challenges_service
    from app.services import teams as teams_service

    with reported_errors(), database_session() as session:
        found = challenges_service.get_challenge(session=session, slug=challenge)
        row = teams_service.get_team_by_name(session=session, challenge=found, name=team)
        teams_service.set_team_status(session=session, team=row, status=status)
    Console().print(f"Team {team!r} of {challenge} is now {status}.", highlight=False)


@admin_cli.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    name: Annotated[
        str | None, typer.Option(help="Display name (default: the email's user).")
    ] = None,
    organizer: Annotated[
        bool, typer.Option(help="Organizer of --challenge (or of every existing challenge).")
    ] = False,
    challenge: Annotated[
        list[str] | None, typer.Option(help="Challenge slug (repeatable).")
    ] = None,
    admin: Annotated[bool, typer.Option(help="Site admin: organizer of everything.")] = False,
) -> None:
    """Create an account (and make it an organizer) without the web form."""
    from app.services import accounts as accounts_service
    from app.services import challenges as challenges_service

    with reported_errors(), database_session() as session:
        user = accounts_service.create_user(
            session=session,
            email=email,
            password=password,
            display_name=name or email.split("@")[0],
            is_admin=admin,
        )
        if organizer:
            targets = (
                [challenges_service.get_challenge(session=session, slug=s) for s in challenge]
                if challenge
                else challenges_service.list_challenges(session=session)
            )
            for target in targets:
                challenges_service.add_organizer(session=session, challenge=target, user=user)
    Console().print(f"Created {user.email}" + (" (organizer)" if organizer else ""))


@admin_cli.command("create-token")
def create_token(
    email: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days.")] = 365,
) -> None:
    """Create an API token for an account; the token is the last line printed."""
    from datetime import timedelta

    from app.services import accounts as accounts_service

    with reported_errors(), database_session() as session:
        user = accounts_service.get_user_by_email(session=session, email=email)
        issued = accounts_service.create_api_token(
            session=session,
            user=user,
            name=name,
            valid_for=timedelta(days=days) if days else None,
        )
    sys.stderr.write(f"API token for {user.email} (shown once; store it safely):\n")
    sys.stdout.write(issued.secret + "\n")
