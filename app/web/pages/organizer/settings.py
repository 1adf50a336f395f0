"""The console's settings: a challenge's texts, a phase's schedule, limits and
leaderboard (publishing it included), and importing a phase's dataset."""

import shutil
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from app.errors import InvalidInput
from app.models import Counting, LeaderboardVisibility, RegistrationMode
from app.services import challenges as challenges_service
from app.services import moderation as moderation_service
from app.services.dataset_upload import unpack_dataset
from app.web.deps import CsrfDep, SessionDep, SettingsDep, StorageDep, UserDep
from app.web.guards import OrganizedChallenge, OrganizedPhase
from app.web.pages.organizer.console import console_page, console_router
from app.web.rendering import redirect_to
from app.web.uploads import receive_upload

router = console_router()


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
    request: Request, challenge: OrganizedChallenge, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the challenge's texts and registration mode for editing."""
    return console_page(request, "settings", settings, user, challenge=challenge, errors={})


@router.post("/{slug}/settings", dependencies=[CsrfDep], name="organizer_settings_save")
def settings_save(
    request: Request,
    challenge: OrganizedChallenge,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    title: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
    description_md: Annotated[str, Form()] = "",
    rules_md: Annotated[str, Form()] = "",
    data_md: Annotated[str, Form()] = "",
    registration_mode: Annotated[RegistrationMode, Form()] = RegistrationMode.AUTO,
) -> Response:
    """Save the challenge's texts and registration mode."""
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
        session=session,
        challenge=challenge,
        actor=user,
        action="edit challenge",
        target=challenge.slug,
    )
    return redirect_to(request, "organizer_dashboard", slug=challenge.slug)


@router.get(
    "/{slug}/phases/{phase_slug}/settings", response_class=HTMLResponse, name="organizer_phase"
)
def phase_form(
    request: Request, phase: OrganizedPhase, settings: SettingsDep, user: UserDep
) -> Response:
    """Show a phase's schedule, limits and leaderboard settings for editing."""
    return console_page(
        request, "phase", settings, user, challenge=phase.challenge, phase=phase, errors={}
    )


@router.post(
    "/{slug}/phases/{phase_slug}/settings", dependencies=[CsrfDep], name="organizer_phase_save"
)
def phase_save(
    request: Request,
    phase: OrganizedPhase,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    title: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "",
    daily_limit: Annotated[str, Form()] = "",
    total_limit: Annotated[str, Form()] = "",
    visibility: Annotated[LeaderboardVisibility, Form()] = LeaderboardVisibility.PUBLIC,
    counting: Annotated[Counting, Form()] = Counting.BEST,
    show_details: Annotated[bool, Form()] = False,
) -> Response:
    """Save a phase's settings."""
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
        target=phase.slug,
    )
    return redirect_to(request, "organizer_dashboard", slug=phase.challenge.slug)


@router.post(
    "/{slug}/phases/{phase_slug}/publish", dependencies=[CsrfDep], name="organizer_publish"
)
def publish(
    request: Request, phase: OrganizedPhase, session: SessionDep, user: UserDep
) -> Response:
    """Make the phase's leaderboard public."""
    moderation_service.publish_leaderboard(session=session, phase=phase, actor=user)
    return redirect_to(request, "leaderboard", slug=phase.challenge.slug, phase_slug=phase.slug)


@router.get("/{slug}/import", response_class=HTMLResponse, name="organizer_import")
def import_form(
    request: Request, challenge: OrganizedChallenge, settings: SettingsDep, user: UserDep
) -> Response:
    """Show the form to import a phase's dataset from a zip."""
    return console_page(
        request, "import", settings, user, challenge=challenge, errors={}, report=None
    )


@router.post("/{slug}/import", dependencies=[CsrfDep], name="organizer_import_run")
def import_run(
    request: Request,
    challenge: OrganizedChallenge,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: UserDep,
    file: Annotated[UploadFile, File()],
    phase_slug: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
) -> Response:
    """Import (or replace) a phase's dataset from an uploaded zip and show the report."""
    upload, _ = receive_upload(file, storage)
    unpacked = storage.scratch_dir() / f"dataset-{uuid.uuid4().hex}"
    try:
        challenges_service.check_slug(slug=phase_slug, field="phase_slug")
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
        request, "import", settings, user, challenge=challenge, errors={}, report=report
    )
