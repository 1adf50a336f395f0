"""Challenge pages: overview, registration, team, data download, leaderboard."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.config import Settings
from app.db import Session
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Challenge, Phase, TeamStatus, User
from app.services import challenges as challenges_service
from app.services import leaderboard as leaderboard_service
from app.services import teams as teams_service
from app.services.challenges import ChallengeStamp
from app.web.deps import (
    SESSION_COOKIE,
    CsrfDep,
    OptionalUserDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UserDep,
    get_optional_user,
)
from app.web.public_cache import CachedViewDep, PublicView, Rendered
from app.web.rendering import redirect_to, render
from app.web.routing import TransactionRoute

router = APIRouter(tags=["challenges"], route_class=TransactionRoute)


@router.get("/", response_class=HTMLResponse, name="home")
def home(
    request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUserDep
) -> Response:
    """List the challenges."""
    challenges = challenges_service.list_challenges(session=session)
    return render(request, "home.html", settings=settings, user=user, challenges=challenges)


def _context(session: SessionDep, challenge: Challenge, user: User | None) -> dict[str, Any]:
    membership = teams_service.get_membership(session=session, challenge=challenge, user=user)
    return {
        "challenge": challenge,
        "membership": membership,
        "team": membership.team if membership else None,
        "is_organizer": challenges_service.is_organizer(
            session=session, challenge=challenge, user=user
        ),
        "phase_state": challenges_service.phase_state,
    }


@router.get("/challenges/{slug}", response_class=HTMLResponse, name="challenge")
async def challenge_page(
    request: Request,
    slug: str,
    session: SessionDep,
    cached_view: CachedViewDep,
    tab: Literal["overview", "rules", "data"] = "overview",
) -> Response:
    """Show a challenge: description, rules or data, with its phases."""
    # Async and stored for visitors without a session, as the leaderboard page is.
    view = None
    if _anonymous(request):
        view = PublicView(
            name=("challenge page", request.url.path, str(request.base_url), tab),
            challenge=slug,
            phase=None,
            moment=ChallengeStamp.phase_states,
            media_type="text/html",
        )
    return await cached_view(view, lambda: _challenge_page(request, session, slug, tab))


def _challenge_page(request: Request, session: Session, slug: str, tab: str) -> Rendered:
    settings: Settings = request.app.state.settings
    user = get_optional_user(request, session, settings)
    challenge = challenges_service.get_challenge(session=session, slug=slug)
    response = render(
        request,
        "challenges/challenge.html",
        settings=settings,
        user=user,
        tab=tab,
        **_context(session, challenge, user),
    )
    return response, challenges_service.challenge_stamp_of(challenge) if user is None else None


@router.get("/challenges/{slug}/register", response_class=HTMLResponse, name="register_form")
def register_form(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the registration form: accept the rules, create or join a team."""
    challenge = challenges_service.get_challenge(session=session, slug=slug)
    context = _context(session, challenge, user)
    if context["membership"] is not None:
        return redirect_to(request, "team", slug=slug)
    return render(
        request, "challenges/register.html", settings=settings, user=user, form={}, **context
    )


@router.post("/challenges/{slug}/register", dependencies=[CsrfDep], name="register")
def register(
    request: Request,
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    action: Annotated[Literal["create", "join"], Form()],
    team_name: Annotated[str, Form()] = "",
    invite_code: Annotated[str, Form()] = "",
    accept_rules: Annotated[bool, Form()] = False,
) -> Response:
    """Register a new team, or join one with its invite code."""
    challenge = challenges_service.get_challenge(session=session, slug=slug)
    try:
        if action == "create":
            team = teams_service.register_team(
                session=session,
                challenge=challenge,
                user=user,
                name=team_name,
                accept_rules=accept_rules,
            )
            notice = "registered" if team.status == TeamStatus.APPROVED else "pending"
        else:
            team = teams_service.join_team(
                session=session,
                challenge=challenge,
                user=user,
                invite_code=invite_code,
                accept_rules=accept_rules,
            )
            notice = "joined"
    except (InvalidInput, Conflict, NotFound) as error:
        errors = error.errors if isinstance(error, InvalidInput) else {action: error.message}
        return render(
            request,
            "challenges/register.html",
            settings=settings,
            user=user,
            form={"team_name": team_name, "invite_code": invite_code, "action": action},
            errors=errors,
            status_code=error.status_code,
            **_context(session, challenge, user),
        )
    return redirect_to(request, "team", query={"notice": notice}, slug=slug)


@router.get("/challenges/{slug}/team", response_class=HTMLResponse, name="team")
def team_page(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the user's team: members, invite code, registration status."""
    challenge = challenges_service.get_challenge(session=session, slug=slug)
    context = _context(session, challenge, user)
    if context["membership"] is None:
        return redirect_to(request, "register_form", slug=slug)
    return render(request, "challenges/team.html", settings=settings, user=user, **context)


def _phase(session: SessionDep, slug: str, phase_slug: str) -> Phase:
    return challenges_service.get_challenge_phase(
        session=session, challenge_slug=slug, phase_slug=phase_slug
    )


@router.get("/challenges/{slug}/phases/{phase_slug}/data", name="phase_data")
def phase_data(
    slug: str, phase_slug: str, session: SessionDep, storage: StorageDep, user: UserDep
) -> Response:
    """Download the phase's images and background masks (never its ground truth)."""
    phase = _phase(session, slug, phase_slug)
    path = storage.path(
        challenges_service.data_archive_key(session=session, phase=phase, user=user)
    )
    return FileResponse(path, media_type="application/zip", filename=path.name)


@router.get(
    "/challenges/{slug}/phases/{phase_slug}/leaderboard",
    response_class=HTMLResponse,
    name="leaderboard",
)
async def leaderboard_page(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    cached_view: CachedViewDep,
    sort: str = "rank",
    order: Literal["asc", "desc"] | None = None,
) -> Response:
    """Show the leaderboard, honouring the phase's visibility; sortable per column."""
    # Async: visitors without a session get the page rendered before for the current stamp
    # when there is one (see app.web.public_cache), without a thread hop of their own;
    # everyone else gets it rendered in one thread hop, database work included.
    chosen = order or ("asc" if sort in ("rank", "team") else "desc")
    view = None
    if _anonymous(request) and sort in leaderboard_service.SORTABLE:
        view = PublicView(
            name=("leaderboard page", request.url.path, str(request.base_url), sort, chosen),
            challenge=slug,
            phase=phase_slug,
            moment=challenges_service.visible_to_everyone,
            media_type="text/html",
        )
    return await cached_view(
        view, lambda: _leaderboard_page(request, session, slug, phase_slug, sort, chosen)
    )


def _anonymous(request: Request) -> bool:
    """Whether the page is the one every visitor without a session sees (no notice)."""
    return SESSION_COOKIE not in request.cookies and "notice" not in request.query_params


def _leaderboard_page(
    request: Request,
    session: Session,
    slug: str,
    phase_slug: str,
    sort: str,
    order: Literal["asc", "desc"],
) -> Rendered:
    settings: Settings = request.app.state.settings
    user = get_optional_user(request, session, settings)
    phase = _phase(session, slug, phase_slug)
    context = _context(session, phase.challenge, user)
    visible = challenges_service.leaderboard_visible(session=session, phase=phase, user=user)
    rows: list[leaderboard_service.LeaderboardRow] = []
    if visible:
        rows = leaderboard_service.sort_rows(
            leaderboard_service.leaderboard(session=session, phase=phase),
            sort if sort in leaderboard_service.SORTABLE else "rank",
            order == "desc",
        )
    response = render(
        request,
        "challenges/leaderboard.html",
        settings=settings,
        user=user,
        phase=phase,
        rows=rows,
        visible=visible,
        sort=sort,
        order=order,
        **context,
    )
    return response, leaderboard_service.stamp_of(phase) if user is None else None
