"""Running a deployment: `serve`, `worker`, `beat` and the `db` schema commands."""

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)


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
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="Lower CPU priority: on a host shared with the site, scoring yields the CPU "
            "to page requests (0 keeps the normal priority).",
        ),
    ] = 10,
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
    os.nice(nice)  # kept across the exec, and by every process Celery forks
    _exec_celery(args)


def beat_command(loglevel: Annotated[str, typer.Option()] = "INFO") -> None:
    """Run the periodic scheduler (the reconciler); run exactly one per deployment."""
    from app.config import get_settings

    schedule = get_settings().data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    _exec_celery(["beat", "--schedule", str(schedule), "--loglevel", loglevel])


def _exec_celery(args: list[str]) -> None:
    # The web package never imports the workers; Celery loads them in its own process.
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app", *args])
