"""The `wsss4luad` command line: one program, one sub-command per job."""

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

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

EXIT_REJECTED = 1
EXIT_BAD_GROUND_TRUTH = 3

cli = typer.Typer(
    name="wsss4luad",
    help="WSSS4LUAD challenge server: scoring, demo data and (soon) the site and workers.",
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
            "or a prepared ground-truth folder.",
            exists=True,
            file_okay=False,
        ),
    ],
    submission: Annotated[
        Path, typer.Argument(help="A .zip of PNG masks, or a folder of them.", exists=True)
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
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        print_score_tables(result, Console())


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
