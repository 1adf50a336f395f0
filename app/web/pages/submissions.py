"""Submitting from the browser, following a submission live, and a team's history."""

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.db import Session
from app.errors import DomainError, InvalidInput, LimitReached
from app.models import ExternalData, Phase, Submission, SubmissionStatus, User
from app.services import challenges as challenges_service
from app.services import submissions as submissions_service
from app.services import teams as teams_service
from app.web.deps import CsrfDep, SessionDep, SettingsDep, StorageDep, TasksDep, UserDep
from app.web.guards import OwnSubmission
from app.web.rendering import redirect, redirect_to, render
from app.web.routing import TransactionRoute
from app.web.status_watch import wait_for_change
from app.web.uploads import receive_upload, submit_upload

STATUS_POLL_SECONDS = 25
"""How long the status card's request waits for a change; under htmx's 30 s fallback."""

router = APIRouter(tags=["submissions"], route_class=TransactionRoute)


def _phase(session: SessionDep, slug: str, phase_slug: str) -> Phase:
    return challenges_service.get_challenge_phase(
        session=session, challenge_slug=slug, phase_slug=phase_slug
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _submit_context(session: SessionDep, phase: Phase, user: User) -> dict[str, Any]:
    membership = teams_service.get_membership(session=session, challenge=phase.challenge, user=user)
    team = membership.team if membership else None
    left = submissions_service.remaining(session=session, phase=phase, team=team) if team else None
    return {
        "challenge": phase.challenge,
        "phase": phase,
        "team": team,
        "membership": membership,
        "remaining": left,
        "state": challenges_service.phase_state(phase),
        "is_organizer": challenges_service.is_organizer(
            session=session, challenge=phase.challenge, user=user
        ),
        "phase_state": challenges_service.phase_state,
    }


@router.get(
    "/challenges/{slug}/phases/{phase_slug}/submit", response_class=HTMLResponse, name="submit_form"
)
def submit_form(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Show the upload form with the team's remaining submissions."""
    phase = _phase(session, slug, phase_slug)
    return render(
        request,
        "submissions/submit.html",
        settings=settings,
        user=user,
        form={},
        **_submit_context(session, phase, user),
    )


@router.post(
    "/challenges/{slug}/phases/{phase_slug}/submissions",
    dependencies=[CsrfDep],
    name="submit",
)
def submit(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    tasks: TasksDep,
    user: UserDep,
    file: Annotated[UploadFile, File()],
    method_name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    external_data: Annotated[ExternalData, Form()] = ExternalData.NONE,
) -> Response:
    """Receive an archive, check it, queue it for scoring, then show its page."""
    phase = _phase(session, slug, phase_slug)
    try:
        submission = submit_upload(
            file,
            session=session,
            storage=storage,
            phase=phase,
            user=user,
            enqueue=tasks.score,
            method_name=method_name,
            description=description,
            url=url,
            external_data=external_data,
        )
    except DomainError as error:
        errors = error.errors if isinstance(error, InvalidInput) else {"file": error.message}
        if _wants_json(request):
            payload: dict[str, Any] = {"errors": errors}
            if isinstance(error, LimitReached) and error.retry_at:
                payload["retry_at"] = error.retry_at.isoformat()
            return JSONResponse(payload, status_code=error.status_code)
        form = {"method_name": method_name, "description": description, "url": url}
        return render(
            request,
            "submissions/submit.html",
            settings=settings,
            user=user,
            form=form,
            errors=errors,
            status_code=error.status_code,
            **_submit_context(session, phase, user),
        )
    location = str(request.app.url_path_for("submission", submission_id=submission.id))
    if _wants_json(request):
        return JSONResponse({"id": submission.id, "status": submission.status, "url": location})
    return redirect(location)


@router.post(
    "/challenges/{slug}/phases/{phase_slug}/precheck", dependencies=[CsrfDep], name="precheck"
)
def precheck(
    slug: str,
    phase_slug: str,
    session: SessionDep,
    storage: StorageDep,
    user: UserDep,
    file: Annotated[UploadFile, File()],
) -> JSONResponse:
    """Check an archive's structure without storing or counting it; list every problem."""
    phase = _phase(session, slug, phase_slug)
    upload, _ = receive_upload(file, storage)
    try:
        problems = submissions_service.precheck_for_team(
            session=session,
            phase=phase,
            user=user,
            archive=upload,
            archive_name=file.filename or None,
        )
    finally:
        upload.unlink(missing_ok=True)
    return JSONResponse(
        {
            "ok": not problems,
            "images": phase.image_count,
            "problems": [{"entry": p.entry, "message": p.message} for p in problems],
        }
    )


@router.get("/submissions/{submission_id}", response_class=HTMLResponse, name="submission")
def submission_page(
    request: Request,
    submission: OwnSubmission,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Show a submission, updating live until it is settled."""
    membership = teams_service.get_membership(
        session=session, challenge=submission.phase.challenge, user=user
    )
    return render(
        request,
        "submissions/submission.html",
        settings=settings,
        user=user,
        submission=submission,
        challenge=submission.phase.challenge,
        phase=submission.phase,
        team=membership.team if membership else None,
        is_organizer=challenges_service.is_organizer(
            session=session, challenge=submission.phase.challenge, user=user
        ),
    )


@router.get(
    "/submissions/{submission_id}/status", response_class=HTMLResponse, name="submission_status"
)
async def submission_status(
    request: Request,
    submission: OwnSubmission,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    since: SubmissionStatus | None = None,
) -> Response:
    """Return the live status card once its status differs from `since` (a long poll that
    htmx repeats until the submission is settled)."""
    await wait_for_change(request, session, submission, STATUS_POLL_SECONDS, since)
    return await run_in_threadpool(_status_card, request, session, settings, user, submission)


def _status_card(
    request: Request, session: Session, settings: Settings, user: User, submission: Submission
) -> Response:
    response = render(
        request,
        "submissions/_status.html",
        settings=settings,
        user=user,
        submission=submission,
        phase=submission.phase,
        is_organizer=challenges_service.is_organizer(
            session=session, challenge=submission.phase.challenge, user=user
        ),
    )
    session.commit()
    return response


@router.get(
    "/challenges/{slug}/phases/{phase_slug}/submissions",
    response_class=HTMLResponse,
    name="team_submissions",
)
def team_submissions(
    request: Request,
    slug: str,
    phase_slug: str,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Show the team's submissions to a phase with all their scores."""
    phase = _phase(session, slug, phase_slug)
    context = _submit_context(session, phase, user)
    team = context["team"]
    if team is None:
        return redirect_to(request, "register_form", slug=slug)
    submissions = submissions_service.list_team_submissions(session=session, phase=phase, team=team)
    return render(
        request,
        "submissions/history.html",
        settings=settings,
        user=user,
        submissions=submissions,
        **context,
    )


@router.post("/submissions/{submission_id}/select", dependencies=[CsrfDep], name="select")
def select(request: Request, submission: OwnSubmission, session: SessionDep) -> Response:
    """Make a scored submission the one that counts for the team."""
    submissions_service.select_submission(session=session, submission=submission)
    phase = submission.phase
    return redirect_to(
        request,
        "team_submissions",
        query={"notice": "selected"},
        slug=phase.challenge.slug,
        phase_slug=phase.slug,
    )
