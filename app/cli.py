"""The `wsss4luad` command line: one program, one sub-command per job."""

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.scoring import (
    GroundTruthError,
    GroundTruthFolder,
    PreparedGroundTruth,
    ScoreResult,
    SubmissionRejected,
    score_path,
)
from app.scoring.classes import CLASS_NAMES, LABEL_NAMES
from app.scoring.ground_truth import MANIFEST, GroundTruth

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

EXIT_REJECTED = 1
EXIT_BAD_GROUND_TRUTH = 3
EXIT_INTERNAL = 4

cli = typer.Typer(
    name="wsss4luad",
    help="WSSS4LUAD challenge server: the site, its workers, scoring and demo data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Scale(StrEnum):
    """Size of the generated demo dataset."""

    small = "small"
    full = "full"


@cli.command()
def score(
    gt_dir: Annotated[
        Path,
        typer.Argument(
            help="Ground truth in the official layout (mask/, background-mask/) "
            "or a folder made by `wsss4luad prepare-gt`.",
            exists=True,
            file_okay=False,
            metavar="GT_DIR",
        ),
    ],
    submission: Annotated[
        Path,
        typer.Argument(
            help="A .zip of PNG masks, or a folder of them.", exists=True, metavar="SUBMISSION"
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Threads to use (default: all cores).")
    ] = None,
) -> None:
    """Score a submission with the organizers' pooled mIoU."""
    errors = Console(stderr=True, soft_wrap=True)
    try:
        result = score_path(_open_ground_truth(gt_dir), submission, threads=threads)
    except GroundTruthError as error:
        errors.print(f"[bold red]Ground truth unusable:[/] {error}", highlight=False)
        raise typer.Exit(EXIT_BAD_GROUND_TRUTH) from None
    except SubmissionRejected as rejected:
        errors.print(
            f"[bold red]Submission refused[/] ({submission.name}), "
            f"{len(rejected.problems) + rejected.omitted} problem(s):",
            highlight=False,
        )
        for problem in rejected.problems:
            errors.print(f"  - {problem}", highlight=False, markup=False)
        if rejected.omitted:
            errors.print(f"  ... and {rejected.omitted} more", highlight=False)
        raise typer.Exit(EXIT_REJECTED) from None
    except Exception as error:
        errors.print(
            f"[bold red]Internal error[/] ({type(error).__name__}: {error}); this is a bug in "
            "the scorer, not a problem of the submission",
            highlight=False,
        )
        raise typer.Exit(EXIT_INTERNAL) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        print_score_tables(result, Console())


@cli.command()
def submit(
    challenge: Annotated[str, typer.Argument(help="Challenge slug, e.g. wsss4luad.")],
    phase: Annotated[str, typer.Argument(help="Phase slug, e.g. validation.")],
    archive: Annotated[
        Path,
        typer.Argument(
            help="A .zip of PNG masks.", exists=True, dir_okay=False, metavar="FILE.zip"
        ),
    ],
    server: Annotated[
        str | None, typer.Option(help="Server URL (or WSSS4LUAD_SERVER, or the config file).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token (or WSSS4LUAD_TOKEN, or the config file).")
    ] = None,
    method_name: Annotated[str, typer.Option("--method", help="Method name.")] = "",
    description: Annotated[str, typer.Option(help="What is new in this run.")] = "",
    url: Annotated[str, typer.Option(help="Code or paper URL.")] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until scored.")] = False,
) -> None:
    """Upload a submission to a WSSS4LUAD server (and wait for its score)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from app.client import Client, ClientError, resolve_credentials

    errors = Console(stderr=True, soft_wrap=True)
    try:
        client = Client(resolve_credentials(server, token))
    except ClientError as error:
        errors.print(f"[bold red]Cannot submit:[/] {error}", highlight=False)
        raise typer.Exit(EXIT_REJECTED) from None
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=errors,
            transient=True,
        ) as progress:
            bar = progress.add_task(f"Uploading {archive.name}", total=archive.stat().st_size)
            created = client.submit(
                challenge,
                phase,
                archive,
                method_name=method_name,
                description=description,
                url=url,
                on_progress=lambda n: progress.advance(bar, n),
            )
        errors.print(f"Submission {created['id']} is {created['status']}.", highlight=False)
        sys.stdout.write(f"{created['id']}\n")
        if not wait:
            return
        with errors.status("Waiting for the score ..."):
            final = client.wait(int(created["id"]))
    except ClientError as error:
        errors.print(f"[bold red]Refused:[/] {error}", highlight=False)
        for problem in error.problems:
            errors.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(EXIT_REJECTED) from None
    finally:
        client.close()
    _print_submission(final, Console())
    if final["status"] != "scored":
        raise typer.Exit(EXIT_REJECTED)


def _print_submission(state: dict[str, object], console: Console) -> None:
    if state["status"] != "scored":
        console.print(
            f"Submission {state['id']} {state['status']}: {state.get('error') or ''}",
            highlight=False,
        )
        return
    scores = state["scores"]
    assert isinstance(scores, dict)
    table = Table(title=f"Submission {state['id']}: {state['challenge']} / {state['phase']}")
    for column in ("mIoU", *(name.capitalize() for name in CLASS_NAMES)):
        table.add_column(column, justify="right")
    table.add_row(_fmt(scores["miou"]), *(_fmt(scores["iou"][name]) for name in CLASS_NAMES))
    console.print(table)


@cli.command("prepare-gt")
def prepare_gt(
    gt_dir: Annotated[
        Path, typer.Argument(help="Ground truth in the official layout.", file_okay=False)
    ],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write (replaced whole).")],
) -> None:
    """Prepare ground truth once for fast repeated scoring (what the server does on import)."""
    from app.scoring import prepare_ground_truth

    try:
        prepared = prepare_ground_truth(GroundTruthFolder(gt_dir), out_dir)
    except GroundTruthError as error:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]Ground truth unusable:[/] {error}", highlight=False
        )
        raise typer.Exit(EXIT_BAD_GROUND_TRUTH) from None
    Console().print(f"Prepared {len(prepared.images)} images into {out_dir}", highlight=False)


@cli.command("make-demo-data")
def make_demo_data(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write 1.training/, 2.validation/…")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    scale: Annotated[
        Scale, typer.Option(help="small: seconds, for tests; full: the real splits' sizes.")
    ] = Scale.small,
) -> None:
    """Generate a synthetic dataset in the official WSSS4LUAD layout."""
    from app.demo_data import make_demo_data as generate

    summary = generate(out_dir, seed=seed, scale=scale.value)
    Console().print(
        f"Wrote {summary.training_patches} training patches, "
        f"{summary.validation_images} validation images "
        f"({summary.validation_pixels / 1e6:.1f} Mpx) and {summary.test_images} test images "
        f"({summary.test_pixels / 1e6:.1f} Mpx) to {summary.root}",
        highlight=False,
    )


db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_cli = typer.Typer(help="Scripted set-up: phases, users, tokens.", no_args_is_help=True)
baseline_cli = typer.Typer(
    help="The MLPS reference baseline: describe, train and predict (need the \\[baseline] extra "
    "with torch), register a checkpoint and run it on a phase.",
    no_args_is_help=True,
)
cli.add_typer(db_cli, name="db")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(baseline_cli, name="baseline")

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


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations (to the latest schema by default)."""
    from app import migrate

    migrate.upgrade(revision=revision)
    Console().print(f"Database at revision {revision}.")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert the migrations down to a revision ('base' removes every table)."""
    from app import migrate

    migrate.downgrade(revision=revision)
    Console().print(f"Database at revision {revision}.")


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
    from app.errors import DomainError
    from app.services import challenges as challenges_service
    from app.services.storage import LocalStorage

    settings = get_settings()
    console = Console()
    try:
        with _session() as session:
            report = challenges_service.import_phase(
                session=session,
                storage=LocalStorage(settings.data_dir),
                challenge_slug=challenge,
                phase_slug=phase,
                dataset_dir=dataset_dir,
                title=title,
                starts_at=_parse_time(starts, "--starts"),
                ends_at=_parse_time(ends, "--ends"),
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
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Import refused:[/] {error.message}")
        raise typer.Exit(1) from None
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
    from app.errors import DomainError
    from app.services import challenges as challenges_service

    try:
        with _session() as session:
            challenges_service.describe_challenge(
                challenge=challenges_service.get_challenge(session=session, slug=challenge),
                title=title,
                summary=summary,
                description_md=description.read_text() if description else None,
                rules_md=rules.read_text() if rules else None,
                data_md=data.read_text() if data else None,
                registration_mode=registration,
            )
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Refused:[/] {error.message}")
        raise typer.Exit(1) from None
    Console().print(f"Updated {challenge}.", highlight=False)


@admin_cli.command("set-team-status")
def set_team_status(
    challenge: Annotated[str, typer.Argument(help="Challenge slug.")],
    team: Annotated[str, typer.Argument(help="Team name, as registered.")],
    status: Annotated[str, typer.Argument(help="approved, denied or pending.")],
) -> None:
    """Approve or deny a team's registration (challenges with manual approval)."""
    from app.errors import DomainError
    from app.services import challenges as challenges_service
    from app.services import teams as teams_service

    try:
        with _session() as session:
            found = challenges_service.get_challenge(session=session, slug=challenge)
            row = teams_service.get_team_by_name(session=session, challenge=found, name=team)
            teams_service.set_team_status(session=session, team=row, status=status)
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Refused:[/] {error.message}")
        raise typer.Exit(1) from None
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
    from app.errors import DomainError
    from app.services import accounts as accounts_service
    from app.services import challenges as challenges_service

    try:
        with _session() as session:
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
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Refused:[/] {error.message}")
        raise typer.Exit(1) from None
    Console().print(f"Created {user.email}" + (" (organizer)" if organizer else ""))


@admin_cli.command("create-token")
def create_token(
    email: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days.")] = 365,
) -> None:
    """Create an API token for an account; the token is the last line printed."""
    from datetime import timedelta

    from app.errors import DomainError
    from app.services import accounts as accounts_service

    try:
        with _session() as session:
            user = accounts_service.get_user_by_email(session=session, email=email)
            issued = accounts_service.create_api_token(
                session=session,
                user=user,
                name=name,
                valid_for=timedelta(days=days) if days else None,
            )
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Refused:[/] {error.message}")
        raise typer.Exit(1) from None
    sys.stderr.write(f"API token for {user.email} (shown once; store it safely):\n")
    sys.stdout.write(issued.secret + "\n")


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
    from app.errors import DomainError
    from app.services import baselines as baselines_service
    from app.services import challenges as challenges_service
    from app.services.storage import LocalStorage

    storage = LocalStorage(get_settings().data_dir)
    with tempfile.NamedTemporaryFile(dir=storage.scratch_dir(), delete=False) as copy:
        staged = Path(copy.name)
    shutil.copyfile(checkpoint, staged)  # the service moves the file into storage
    try:
        with _session() as session:
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
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Refused:[/] {error.message}")
        raise typer.Exit(1) from None
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
    from app.errors import DomainError, NotFound
    from app.queue import TaskSender, make_celery
    from app.services import baselines as baselines_service
    from app.services import challenges as challenges_service

    sender = TaskSender(make_celery(get_settings(), client=True))
    try:
        with _session() as session:
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
            summary = (
                f"Baseline run {run.id} of {chosen.name!r} on {challenge}/{phase}: {run.status}."
            )
    except DomainError as error:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Refused:[/] {error.message}")
        raise typer.Exit(1) from None
    Console().print(summary, highlight=False)


@cli.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies whose X-Forwarded-* headers are trusted.")
    ] = "127.0.0.1",
) -> None:
    """Run the web site with uvicorn."""
    import uvicorn

    from app.config import get_settings
    from app.logs import configure_logging

    configure_logging(json=get_settings().environment == "production")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=False,
        log_config=None,  # keep the structured logging configured above
    )


@cli.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to consume.")
    ] = "scoring,default",
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: 1 for the gpu queue, else 2)."),
    ] = None,
    beat: Annotated[
        bool, typer.Option(help="Also run the periodic reconciler (single-host setups).")
    ] = False,
    loglevel: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Run a Celery worker (the process is replaced by Celery's own)."""
    from app.config import get_settings
    from app.queue import GPU_QUEUE

    gpu = GPU_QUEUE in queues.split(",")
    args = [
        "worker",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency or (1 if gpu else 2)),
        "--prefetch-multiplier",
        "1",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if gpu:  # the loaded model stays in memory between runs; never recycle the process for it
        args += ["--max-memory-per-child", "0"]
    if beat:
        schedule = get_settings().data_dir / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        args += ["--beat", "--schedule", str(schedule)]
    _exec_celery(args)


@cli.command("beat")
def beat_command(loglevel: Annotated[str, typer.Option()] = "INFO") -> None:
    """Run the periodic scheduler (the reconciler); run exactly one per deployment."""
    from app.config import get_settings

    schedule = get_settings().data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    _exec_celery(["beat", "--schedule", str(schedule), "--loglevel", loglevel])


def _exec_celery(args: list[str]) -> None:
    # The web package never imports the workers; Celery loads them in its own process.
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app", *args])


@contextmanager
def _session() -> Iterator["Session"]:
    from app.config import get_settings
    from app.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _open_ground_truth(path: Path) -> GroundTruth:
    if (path / MANIFEST).is_file():
        return PreparedGroundTruth(path)
    return GroundTruthFolder(path)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def print_score_tables(result: ScoreResult, console: Console) -> None:
    """Print the phase score, Dice, confusion matrix and per-image tables."""
    metrics = result.metrics
    summary = Table(title="Phase score (one confusion matrix over all evaluated pixels)")
    for column in ("mIoU", *(name.capitalize() for name in CLASS_NAMES), "fwIoU", "Pixel acc."):
        summary.add_column(column, justify="right")
    summary.add_row(
        _fmt(metrics.miou),
        *(_fmt(metrics.iou[name]) for name in CLASS_NAMES),
        _fmt(metrics.fw_iou),
        _fmt(metrics.pixel_accuracy),
    )
    console.print(summary)

    dice = Table(title="Dice per class")
    for name in CLASS_NAMES:
        dice.add_column(name.capitalize(), justify="right")
    dice.add_row(*(_fmt(metrics.dice[name]) for name in CLASS_NAMES))
    console.print(dice)

    confusion = Table(title=f"Confusion matrix ({metrics.evaluated_pixels:,} evaluated pixels)")
    confusion.add_column("truth \\ predicted")
    for label in LABEL_NAMES:
        confusion.add_column(label, justify="right")
    for name, row in zip(CLASS_NAMES, metrics.confusion, strict=True):
        confusion.add_row(name, *(f"{count:,}" for count in row))
    console.print(confusion)

    images = Table(title="Per image")
    for column in ("image", "size", "evaluated px", "mIoU", *CLASS_NAMES):
        images.add_column(column, justify="left" if column == "image" else "right")
    for image in result.images:
        images.add_row(
            image.name,
            f"{image.width}x{image.height}",
            f"{image.metrics.evaluated_pixels:,}",
            _fmt(image.metrics.miou),
            *(_fmt(image.metrics.iou[name]) for name in CLASS_NAMES),
        )
    console.print(images)


def main() -> None:
    """Run the command line."""
    cli()


if __name__ == "__main__":
    main()
