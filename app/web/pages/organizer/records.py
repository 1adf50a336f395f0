"""The console's records of a challenge: leaderboard and submission exports, the audit log."""

from typing import Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.services import exports as exports_service
from app.services import leaderboard as leaderboard_service
from app.services import moderation as moderation_service
from app.web.deps import SessionDep, SettingsDep, UserDep
from app.web.guards import OrganizedChallenge, OrganizedPhase
from app.web.pages.organizer.console import console_page, console_router

router = console_router()


@router.get("/{slug}/phases/{phase_slug}/export/{name}", name="organizer_export")
def export(
    phase: OrganizedPhase,
    name: Literal["leaderboard.csv", "leaderboard.tex", "submissions.csv"],
    session: SessionDep,
) -> Response:
    """Download the leaderboard (CSV or LaTeX) or every submission (CSV)."""
    if name == "submissions.csv":
        body = exports_service.submissions_csv(session=session, phase=phase)
    else:
        rows = leaderboard_service.leaderboard(session=session, phase=phase)
        body = (
            exports_service.leaderboard_csv(rows)
            if name == "leaderboard.csv"
            else exports_service.leaderboard_latex(
                list(rows), f"{phase.challenge.title}: {phase.title} leaderboard"
            )
        )
    media = "text/csv" if name.endswith(".csv") else "application/x-tex"
    filename = f"{phase.challenge.slug}-{phase.slug}-{name}"
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{slug}/audit", response_class=HTMLResponse, name="organizer_audit")
def audit(
    request: Request,
    challenge: OrganizedChallenge,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Show what the organizers did, newest first."""
    return console_page(
        request,
        "audit",
        settings,
        user,
        challenge=challenge,
        entries=moderation_service.audit_log(session=session, challenge=challenge),
    )
