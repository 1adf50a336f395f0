"""The organizer console: registrations, submissions, rescoring, moderation, exports."""

import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select

from app.errors import InvalidInput, NotFound, PermissionDenied
from app.models import Challenge, Phase, Submission, Team, User
from app.services import challenges as challenges_service
from app.services import exports as exports_service
from app.services import leaderboard as leaderboard_service
from app.services import moderation as moderation_service
from app.services import statistics as statistics_service
from app.services.dataset_upload import unpack_dataset
from app.web.deps import CsrfDep, RowId, SessionDep, SettingsDep, StorageDep, TasksDep, UserDep
from app.web.pages.submissions import receive_upload
from app.web.rendering import redirect, render
from app.web.routing import TransactionRoute

router = APIRouter(prefix="/organizer", tags=["organizer"], route_class=TransactionRoute)


def console_page(
    request: Request,
    name: str,
    settings: SettingsDep,
    user: User,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render a console page (the challenge bar shows the console as the current section)."""
    return render(
        request,
        f"organizer/{name}.html",
        settings=settings,
        user=user,
        is_organizer=True,
        status_code=status_code,
        **context,
    )


def organized_challenge(session: SessionDep, slug: str, user: User) -> Challenge:
    challenge = challenges_service.get_challenge(session=session, slug=slug)
    moderation_service.require_organizer(session=session, challenge=challenge, user=user)
    return challenge


def organized_phase(session: SessionDep, slug: str, phase_slug: str, user: User) -> Phase:
    challenge = organized_challenge(session, slug, user)
    return challenges_service.get_phase(session=session, challenge=challenge, slug=phase_slug)


def _submission(session: SessionDep, submission_id: RowId, user: User) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise NotFound("no such submission")
    moderation_service.require_organizer(
        session=session, challenge=submission.phase.challenge, user=user
    )
    return submission


def _back_to_submissions(submission: Submission) -> Response:
    phase = submission.phase
    return redirect(f"/organizer/{phase.challenge.slug}/phases/{phase.slug}/submissions")


@router.get("", response_class=HTMLResponse, name="organizer_index")
def index(request: Request, session: SessionDep, settings: SettingsDep, user: UserDep) -> Response:
    """List the challenges the user organizes; site admins also create new ones here."""
    challenges = [
        challenge
        for challenge in challenges_service.list_challenges(session=session)
        if challenges_service.is_organizer(session=session, challenge=challenge, user=user)
    ]
    return console_page(
        request,
        "index",
        settings,
        user,
        organized=challenges,
        errors={},
    )


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
    if not user.is_admin:
        raise PermissionDenied("only site admins create challenges")
    try:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", slug):
            raise InvalidInput({"slug": "use lower-case letters, digits and hyphens"})
        challenges_service.get_challenge(session=session, slug=slug)
    except NotFound:
        challenge = challenges_service.ensure_challenge(session=session, slug=slug, title=title)
        challenges_service.add_organizer(session=session, challenge=challenge, user=user)
        moderation_service.audit(
            session=session,
            challenge=challenge,
            actor=user,
            action="create challenge",
            target=slug,
        )
        return redirect(f"/organizer/{slug}/import")
    except InvalidInput as error:
        return console_page(
            request,
            "index",
            settings,
            user,
            organized=[],
            errors=error.errors,
            status_code=422,
        )
    return console_page(
        request,
        "index",
        settings,
        user,
        organized=[],
        errors={"slug": f"a challenge named {slug!r} exists already"},
        status_code=409,
    )


@router.get("/{slug}", response_class=HTMLResponse, name="organizer_dashboard")
def dashboard(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show registrations, teams, phases and participation figures."""
    challenge = organized_challenge(session, slug, user)
    teams = list(
        session.scalars(
            select(Team)
            .where(Team.challenge_id == challenge.id, Team.is_baseline.is_(False))
            .order_by(Team.status.desc(), Team.created_at)
        )
    )
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
        pending=[team for team in teams if team.status == "pending"],
        countries=countries,
        per_day=per_day,
        phase_state=challenges_service.phase_state,
    )


@router.post("/{slug}/teams/{team_id}/status", dependencies=[CsrfDep], name="organizer_team")
def team_status(
    slug: str,
    team_id: RowId,
    session: SessionDep,
    user: UserDep,
    status: Annotated[Literal["approved", "denied", "pending"], Form()],
) -> Response:
    """Approve or deny a registration."""
    challenge = organized_challenge(session, slug, user)
    team = session.get(Team, team_id)
    if team is None or team.challenge_id != challenge.id:
        raise NotFound("no such team")
    moderation_service.set_team_status(session=session, team=team, actor=user, status=status)
    return redirect(f"/organizer/{slug}#teams")


@router.get(
    "/{slug}/phases/{phase_slug}/submissions",
    response_class=HTMLResponse,
    name="organizer_submissions",
)
def submissions(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    team: str = "",
    status: str = "",
    day: str = "",
) -> Response:
    """List every submission of a phase, filtered by team, status and UTC day."""
    phase = organized_phase(session, slug, phase_slug, user)
    query = select(Submission).where(Submission.phase_id == phase.id)
    if team:
        query = query.join(Team, Team.id == Submission.team_id).where(
            Team.name.icontains(team, autoescape=True)
        )
    if status:
        query = query.where(Submission.status == status)
    if day:
        try:
            start = datetime.fromisoformat(day).replace(tzinfo=UTC)
            end = start + timedelta(days=1)
        except (ValueError, OverflowError):
            start = None
        if start is not None:
            query = query.where(
                Submission.created_at >= start,
                Submission.created_at < end,
            )
    rows = list(session.scalars(query.order_by(Submission.id.desc()).limit(1000)))
    return console_page(
        request,
        "submissions",
        settings,
        user,
        challenge=phase.challenge,
        phase=phase,
        submissions=rows,
        filters={"team": team, "status": status, "day": day},
        rescorable=len(moderation_service.rescorable(session=session, phase=phase)),
    )


@router.post(
    "/submissions/{submission_id}/rescore", dependencies=[CsrfDep], name="organizer_rescore"
)
def rescore_one(
    submission_id: RowId, session: SessionDep, user: UserDep, tasks: TasksDep
) -> Response:
    """Score one submission again (it never counts against the team's limits)."""
    submission = _submission(session, submission_id, user)
    moderation_service.rescore(
        session=session, submissions=[submission], actor=user, enqueue=tasks.score
    )
    return _back_to_submissions(submission)


@router.get(
    "/{slug}/phases/{phase_slug}/rescore",
    response_class=HTMLResponse,
    name="organizer_rescore_confirm",
)
def rescore_all_confirm(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Ask for confirmation, saying how many submissions a rescore of the phase queues."""
    phase = organized_phase(session, slug, phase_slug, user)
    count = len(moderation_service.rescorable(session=session, phase=phase))
    return console_page(
        request,
        "rescore",
        settings,
        user,
        challenge=phase.challenge,
        phase=phase,
        count=count,
    )


@router.post(
    "/{slug}/phases/{phase_slug}/rescore", dependencies=[CsrfDep], name="organizer_rescore_all"
)
def rescore_all(
    slug: str,
    phase_slug: str,
    session: SessionDep,
    user: UserDep,
    tasks: TasksDep,
    expected: Annotated[int, Form()],
) -> Response:
    """Rescore every scored or failed submission of the phase (after the confirmation)."""
    phase = organized_phase(session, slug, phase_slug, user)
    targets = moderation_service.rescorable(session=session, phase=phase)
    if len(targets) != expected:
        return redirect(f"/organizer/{slug}/phases/{phase_slug}/rescore")
    moderation_service.rescore(
        session=session, submissions=targets, actor=user, enqueue=tasks.score
    )
    return redirect(f"/organizer/{slug}/phases/{phase_slug}/submissions")


@router.post("/submissions/{submission_id}/cancel", dependencies=[CsrfDep], name="organizer_cancel")
def cancel(submission_id: RowId, session: SessionDep, user: UserDep) -> Response:
    """Cancel a queued submission."""
    submission = _submission(session, submission_id, user)
    moderation_service.cancel(session=session, submission=submission, actor=user)
    return _back_to_submissions(submission)


@router.post(
    "/submissions/{submission_id}/moderate", dependencies=[CsrfDep], name="organizer_moderate"
)
def moderate(
    submission_id: RowId,
    session: SessionDep,
    user: UserDep,
    action: Annotated[Literal["hide", "unhide", "disqualify", "requalify"], Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Hide, disqualify or restore a submission, with a reason."""
    submission = _submission(session, submission_id, user)
    moderation_service.set_visibility(
        session=session, submission=submission, actor=user, action=action, reason=reason
    )
    return _back_to_submissions(submission)


@router.get("/submissions/{submission_id}/archive", name="organizer_archive")
def archive(
    submission_id: RowId, session: SessionDep, storage: StorageDep, user: UserDep
) -> Response:
    """Download a submission's archive."""
    submission = _submission(session, submission_id, user)
    if not storage.path(submission.archive_key).is_file():
        raise NotFound("the archive of this submission is missing from storage")
    return FileResponse(
        storage.path(submission.archive_key),
        media_type="application/zip",
        filename=f"submission-{submission.id}-{submission.archive_name}",
    )


@router.post(
    "/{slug}/phases/{phase_slug}/publish", dependencies=[CsrfDep], name="organizer_publish"
)
def publish(slug: str, phase_slug: str, session: SessionDep, user: UserDep) -> Response:
    """Make the phase's leaderboard public."""
    phase = organized_phase(session, slug, phase_slug, user)
    moderation_service.publish_leaderboard(session=session, phase=phase, actor=user)
    return redirect(f"/challenges/{slug}/phases/{phase_slug}/leaderboard")


@router.get("/{slug}/phases/{phase_slug}/export/{name}", name="organizer_export")
def export(
    slug: str,
    phase_slug: str,
    name: Literal["leaderboard.csv", "leaderboard.tex", "submissions.csv"],
    session: SessionDep,
    user: UserDep,
) -> Response:
    """Download the leaderboard (CSV or LaTeX) or every submission (CSV)."""
    phase = organized_phase(session, slug, phase_slug, user)
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
    filename = f"{slug}-{phase_slug}-{name}"
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{slug}/audit", response_class=HTMLResponse, name="organizer_audit")
def audit(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show what the organizers did, newest first."""
    challenge = organized_challenge(session, slug, user)
    return console_page(
        request,
        "audit",
        settings,
        user,
        challenge=challenge,
        entries=moderation_service.audit_log(session=session, challenge=challenge),
    )


def _parse_utc(value: str, field: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput({field: "use the form YYYY-MM-DDTHH:MM (UTC)"}) from None


def _parse_limit(value: str) -> int | None:
    return int(value) if value.strip().lstrip("-").isdigit() else None


@router.get("/{slug}/settings", response_class=HTMLResponse, name="organizer_settings")
def settings_form(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the challenge's texts and registration mode for editing."""
    challenge = organized_challenge(session, slug, user)
    return console_page(
        request,
        "settings",
        settings,
        user,
        challenge=challenge,
        errors={},
    )


@router.post("/{slug}/settings", dependencies=[CsrfDep], name="organizer_settings_save")
def settings_save(
    request: Request,
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    title: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    description_md: Annotated[str, Form()] = "",
    rules_md: Annotated[str, Form()] = "",
    data_md: Annotated[str, Form()] = "",
    registration_mode: Annotated[str, Form()] = "auto",
) -> Response:
    """Save the challenge's texts and registration mode."""
    challenge = organized_challenge(session, slug, user)
    try:
        challenges_service.describe_challenge(
            challenge=challenge,
            title=title,
            summary=summary,
            description_md=description_md,
            rules_md=rules_md,
            data_md=data_md,
            registration_mode=registration_mode,
        )
    except InvalidInput as error:
        return console_page(
            request,
            "settings",
            settings,
            user,
            challenge=challenge,
            errors=error.errors,
            status_code=422,
        )
    moderation_service.audit(
        session=session, challenge=challenge, actor=user, action="edit challenge", target=slug
    )
    return redirect(f"/organizer/{slug}")


@router.get(
    "/{slug}/phases/{phase_slug}/settings", response_class=HTMLResponse, name="organizer_phase"
)
def phase_form(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Show a phase's schedule, limits and leaderboard settings for editing."""
    phase = organized_phase(session, slug, phase_slug, user)
    return console_page(
        request,
        "phase",
        settings,
        user,
        challenge=phase.challenge,
        phase=phase,
        errors={},
    )


@router.post(
    "/{slug}/phases/{phase_slug}/settings", dependencies=[CsrfDep], name="organizer_phase_save"
)
def phase_save(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    title: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
    daily_limit: Annotated[str, Form()] = "",
    total_limit: Annotated[str, Form()] = "",
    visibility: Annotated[Literal["public", "after_end", "organizers"], Form()] = "public",
    counting: Annotated[Literal["best", "latest", "selected"], Form()] = "best",
    show_details: Annotated[bool, Form()] = False,
) -> Response:
    """Save a phase's settings."""
    phase = organized_phase(session, slug, phase_slug, user)
    try:
        start = _parse_utc(starts_at, "starts_at")
        challenges_service.update_phase(
            session=session,
            phase=phase,
            title=title,
            starts_at=start or phase.starts_at,
            ends_at=_parse_utc(ends_at, "ends_at"),
            daily_limit=_parse_limit(daily_limit),
            total_limit=_parse_limit(total_limit),
            visibility=visibility,
            counting=counting,
            show_details=show_details,
        )
    except InvalidInput as error:
        return console_page(
            request,
            "phase",
            settings,
            user,
            challenge=phase.challenge,
            phase=phase,
            errors=error.errors,
            status_code=422,
        )
    moderation_service.audit(
        session=session,
        challenge=phase.challenge,
        actor=user,
        action="edit phase",
        target=phase_slug,
    )
    return redirect(f"/organizer/{slug}")


@router.get("/{slug}/import", response_class=HTMLResponse, name="organizer_import")
def import_form(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the form to import a phase's dataset from a zip."""
    challenge = organized_challenge(session, slug, user)
    return console_page(
        request,
        "import",
        settings,
        user,
        challenge=challenge,
        errors={},
        report=None,
    )


@router.post("/{slug}/import", dependencies=[CsrfDep], name="organizer_import_run")
def import_run(
    request: Request,
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: UserDep,
    file: Annotated[UploadFile, File()],
    phase_slug: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
) -> Response:
    """Import (or replace) a phase's dataset from an uploaded zip and show the report."""
    challenge = organized_challenge(session, slug, user)
    upload, _ = receive_upload(file, storage)
    unpacked = storage.scratch_dir() / f"dataset-{uuid.uuid4().hex}"
    try:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", phase_slug):
            raise InvalidInput({"phase_slug": "use lower-case letters, digits and hyphens"})
        unpack_dataset(upload, unpacked)
        report = challenges_service.import_phase(
            session=session,
            storage=storage,
            challenge_slug=challenge.slug,
            phase_slug=phase_slug,
            dataset_dir=unpacked,
            title=title or None,
        )
    except InvalidInput as error:
        return console_page(
            request,
            "import",
            settings,
            user,
            challenge=challenge,
            errors=error.errors,
            report=None,
            status_code=422,
        )
    finally:
        upload.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)
    moderation_service.audit(
        session=session,
        challenge=challenge,
        actor=user,
        action="import phase",
        target=phase_slug,
        details={"images": report.images},
    )
    return console_page(
        request,
        "import",
        settings,
        user,
        challenge=challenge,
        errors={},
        report=report,
    )
