"""The `wsss4luad` command line: one program, one sub-command per job.

Its modules follow the audiences: `scoring` (anyone with masks), `client` (participants),
`admin` and `baseline` (organizers), `ops` (running a deployment), `dev` (developers);
`common` holds the exit codes and the one error handler they share. Every module imports
its heavy dependencies inside the commands, so `wsss4luad score` starts without a database,
web or queue library.
"""

import typer

from app.cli import admin, baseline, client, dev, ops, scoring
from app.cli.common import EXIT_BAD_GROUND_TRUTH, EXIT_INTERNAL, EXIT_REJECTED

__all__ = ["EXIT_BAD_GROUND_TRUTH", "EXIT_INTERNAL", "EXIT_REJECTED", "cli", "main"]

cli = typer.Typer(
    name="wsss4luad",
    help="WSSS4LUAD challenge server: the site, its workers, scoring and demo data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Registration order is the order of `wsss4luad --help`.
cli.command()(scoring.score)
cli.command()(client.submit)
cli.command("prepare-gt")(scoring.prepare_gt)
cli.command("make-demo-data")(dev.make_demo_data)
cli.command()(ops.serve)
cli.command()(ops.worker)
cli.command("beat")(ops.beat_command)
cli.add_typer(ops.db_cli, name="db")
cli.add_typer(admin.admin_cli, name="admin")
cli.add_typer(baseline.baseline_cli, name="baseline")


def main() -> None:
    """Run the command line."""
    cli()
