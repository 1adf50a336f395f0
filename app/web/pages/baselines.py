"""Console pages for the MLPS baseline: upload a checkpoint, run it on a phase, follow runs."""

import re
from typing import Annotated

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from app.errors import Conflict, InvalidInput
from app.models import Challenge, User
from app.services import baselines as baselines_service
from app.web.deps import CsrfDep, RowId, SessionDep, SettingsDep, StorageDep, TasksDep, UserDep
from app.web.guards import OrganizedChallenge, OrganizedPhase
from app.web.pages.organizer.console import console_page, console_router
from app.web.rendering import redirect_to
from app.web.uploads import receive_upload

router = console_router()

CHECKPOINT_UPLOAD = re.compile(r"/organizer/[^/]+/baselines")
"""The upload route of checkpoints, which may exceed the submission size cap (full MLPS:
628 MiB); its own cap is WSSS4LUAD_MAX_CHECKPOINT_BYTES."""


def _baselines_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: User,
    challenge: Challenge,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return console_page(
        request,
        "baselines",
        settings,
        user,
        status_code=status_code,
        challenge=challenge,
        phases=list(challenge.phases),
        models=baselines_service.list_models(session=session, challenge=challenge),
        runs=baselines_service.list_runs(session=session, challenge=challenge),
        errors=errors or {},
    )


@router.get("/{slug}/baselines", response_class=HTMLResponse, name="organizer_baselines")
def baselines(
    request: Request,
    challenge: OrganizedChallenge,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
) -> Response:
    """Baseline checkpoints, the run buttons and the runs so far."""
    return _baselines_page(request, session, settings, user, challenge)


@router.post("/{slug}/baselines", dependencies=[CsrfDep], name="organizer_baseline_register")
def register(
    request: Request,
    challenge: OrganizedChallenge,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: UserDep,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form()] = "",
) -> Response:
    """Store an uploaded checkpoint under a name."""
    upload, sha256 = receive_upload(file, storage)
    try:
        baselines_service.register_model(
            session=session,
            storage=storage,
            challenge=challenge,
            actor=user,
            checkpoint=upload,
            file_name=file.filename or "checkpoint.pt",
            name=name,
            sha256=sha256,
        )
    except (InvalidInput, Conflict) as error:
        errors = error.errors if isinstance(error, InvalidInput) else {"name": error.message}
        return _baselines_page(
            request,
            session,
            settings,
            user,
            challenge,
            errors=errors,
            status_code=error.status_code,
        )
    finally:
        upload.unlink(missing_ok=True)  # moved into storage on success
    return redirect_to(request, "organizer_baselines", slug=challenge.slug)


@router.post(
    "/{slug}/phases/{phase_slug}/baseline", dependencies=[CsrfDep], name="organizer_baseline_run"
)
def run(
    request: Request,
    phase: OrganizedPhase,
    session: SessionDep,
    user: UserDep,
    tasks: TasksDep,
    model_id: Annotated[RowId, Form()],
) -> Response:
    """Queue a GPU-worker run of a baseline model on the phase."""
    model = baselines_service.model_by_id(
        session=session, challenge=phase.challenge, model_id=model_id
    )
    baselines_service.request_run(
        session=session, phase=phase, model=model, actor=user, enqueue=tasks.baseline
    )
    return redirect_to(request, "organizer_baselines", slug=phase.challenge.slug)
