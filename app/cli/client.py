"""A participant's `submit`: upload to a server through `app.client` and follow the score."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import EXIT_REJECTED, format_score, reported_errors


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

    from app.client import Client, resolve_credentials

    errors = Console(stderr=True, soft_wrap=True)
    with reported_errors("Cannot submit"):
        client = Client(resolve_credentials(server, token))
    try:
        with reported_errors():
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
    finally:
        client.close()
    _print_submission(final, Console())
    if final["status"] != "scored":
        raise typer.Exit(EXIT_REJECTED)


def _print_submission(state: dict[str, object], console: Console) -> None:
    from app.scoring.classes import CLASS_NAMES

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
    table.add_row(
        format_score(scores["miou"]), *(format_score(scores["iou"][name]) for name in CLASS_NAMES)
    )
    console.print(table)
