"""The MLPS reference baseline: the model's own commands, and registering and running it."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.cli.common import database_session, reported_errors

baseline_cli = typer.Typer(
    help="The MLPS reference baseline: describe, train and predict (need the \\[baseline] extra "
    "with torch), register a checkpoint and run it on a phase.",
    no_args_is_help=True,
)

_MODEL_COMMANDS = {
    "describe": "The presets and their parameter counts ([--json]).",
    "train": "Train MLPS on the official 1.training/ folder: stage 1, pseudo masks, stage 2.",
    "predict": "Segment a folder of images with a checkpoint into index PNG masks.",
}


def _model_command(name: str, summary: str) -> None:
    @baseline_cli.command(
        name,
        help=f"{summary} See `wsss4luad baseline {name} --help`.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def run(ctx: typer.Context) -> None:
        # The model package imports torch; it runs in its own interpreter, so this package
        # (and the web processes that import it) never do.
        os.execv(
            sys.executable,
            [sys.executable, "-m", "reference_models.mlps", name, *ctx.args],
        )


for _name, _summary in _MODEL_COMMANDS.items():
    _model_command(_name, _summary)


@baseline_cli.command("register")
def baseline_register(
    challenge: Annotated[str, typer.Argument(help="Challenge slug.")],
    checkpoint: Annotated[
        Path, typer.Argument(help="Checkpoint from `baseline train`.", exists=True, dir_okay=False)
    ],
    name: Annotated[str, typer.Option(help="Name shown on the leaderboard.")],
) -> None:
    """Store a baseline checkpoint for a challenge (the console's upload does the same)."""
    import shutil
    import tempfile

    from app.config import get_settings
    from app.services import baselines as baselines_service
    from app.services import challenges as challenges_service
    from app.services.storage import LocalStorage

    storage = LocalStorage(get_settings().data_dir)
    with tempfile.NamedTemporaryFile(dir=storage.scratch_dir(), delete=False) as copy:
        staged = Path(copy.name)
    shutil.copyfile(checkpoint, staged)  # the service moves the file into storage
    try:
        with reported_errors(), database_session() as session:
            found = challenges_service.get_challenge(session=session, slug=challenge)
            model = baselines_service.register_model(
                session=session,
                storage=storage,
                challenge=found,
                actor=None,
                checkpoint=staged,
                file_name=checkpoint.name,
                name=name,
            )
            summary = f"Registered baseline {model.name!r} (id {model.id}) for {challenge}."
    finally:
        staged.unlink(missing_ok=True)
    Console().print(summary, highlight=False)


@baseline_cli.command("run")
def baseline_run(
    challenge: Annotated[str, typer.Argument(help="Challenge slug.")],
    phase: Annotated[str, typer.Argument(help="Phase slug.")],
    model: Annotated[
        str | None, typer.Option(help="Model name or id (default: the newest registered).")
    ] = None,
) -> None:
    """Queue a GPU-worker run of a baseline model on a phase (as the console's button does)."""
    from app.config import get_settings
    from app.errors import NotFound
    from app.queue import TaskSender, make_celery
    from app.services import baselines as baselines_service
    from app.services import challenges as challenges_service

    sender = TaskSender(make_celery(get_settings(), client=True))
    with reported_errors(), database_session() as session:
        found = challenges_service.get_challenge_phase(
            session=session, challenge_slug=challenge, phase_slug=phase
        )
        if model is None:
            models = baselines_service.list_models(session=session, challenge=found.challenge)
            if not models:
                raise NotFound(f"no baseline model is registered for {challenge}")
            chosen = models[0]
        else:
            chosen = baselines_service.get_model(
                session=session, challenge=found.challenge, name_or_id=model
            )
        run = baselines_service.request_run(
            session=session, phase=found, model=chosen, actor=None, enqueue=sender.baseline
        )
        summary = f"Baseline run {run.id} of {chosen.name!r} on {challenge}/{phase}: {run.status}."
    Console().print(summary, highlight=False)
