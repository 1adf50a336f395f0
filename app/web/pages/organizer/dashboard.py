"""The console's index (challenges organized, creating one) and a challenge's dashboard
with its registrations."""

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import Conflict, InvalidInput
from app.models import TeamStatus
from app.services import challenges as challenges_service
from app.services import moderation as moderation_service
from app.services import statistics as statistics_service
from app.services import teams as teams_service
from app.web.deps import CsrfDep, RowId, SessionDep, SettingsDep, UserDep
from app.web.guards import OrganizedChallenge
from app.web.pages.organizer.console import console_page, console_router
from app.web.rendering import redirect_to

router = console_router()


@router.get("", response_class=HTMLResponse, name="organizer_index")
def index(request: Request, session: SessionDep, settings: SettingsDep, user: UserDep) -> Response:
    """List the challenges the user organizes; site admins also create new ones here."""
    challenges = challenges_service.list_organized(session=session, user=user)
    return console_page(request, "index", settings, user, organized=challenges, errors={})


@router.post("", dependencies=[CsrfDep], name="organizer_create_challenge")
def create_challenge(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    slug: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
) -> Response:
    """Create a challenge (site admins) and make its creator an organizer."""
    try:
        challenge = challenges_service.create_challenge(
            session=session, slug=slug, title=title, creator=user
        )
    except (InvalidInput, Conflict) as error:
        errors = error.errors if isinstance(error, InvalidInput) else {"slug": error.message}
        return console_page(
            request,
            "index",
            settings,
            user,
            organized=[],
            errors=errors,
            status_code=error.status_code,
        )
    moderation_service.audit(
        session=session, challenge=challenge, actor=user, action="create challenge", target=slug
    )
    return redirect_to(request, "organizer_import", slug=slug)


@router.get("/{slug}", response_class=HTMLResponse, name="organizer_dashboard")
def dashboard(
    request: Request,
    challenge: OrganizedChallenge,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Show registrations, teams, phases and participation figures."""
    teams = teams_service.list_teams(session=session, challenge=challenge)
    per_day = {
        phase.slug: statistics_service.submissions_per_day(session=session, phase=phase)
        for phase in challenge.phases
    }
    countries = statistics_service.registrations_by_country(session=session, challenge=challenge)
    return console_page(
        request,
        "dashboard",
        settings,
        user,
        challenge=challenge,
        teams=teams,
        pending=[team for team in teams if team.status == TeamStatus.PENDING],
        countries=countries,
        per_day=per_day,
        phase_state=challenges_service.phase_state,
    )


@router.post("/{slug}/teams/{team_id}/status", dependencies=[CsrfDep], name="organizer_team")
def team_status(
    request: Request,
    challenge: OrganizedChallenge,
    team_id: RowId,
    session: SessionDep,
    user: UserDep,
    status: Annotated[TeamStatus, Form()],
) -> Response:
    """Approve or deny a registration."""
    team = teams_service.get_team(session=session, challenge=challenge, team_id=team_id)
    moderation_service.set_team_status(session=session, team=team, actor=user, status=status)
    return redirect_to(request, "organizer_dashboard", fragment="teams", slug=challenge.slug)
