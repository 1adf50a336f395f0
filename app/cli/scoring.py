"""Scoring without a server: `score` and `prepare-gt`, for organizers and participants."""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import format_score, reported_errors

if TYPE_CHECKING:
    from app.scoring import ScoreResult
    from app.scoring.ground_truth import GroundTruth


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
    # numpy loads only when a score is computed, so `--help` and the other commands start fast.
    from app.scoring import score_path

    with reported_errors(scoring=submission.name):
        result = score_path(_open_ground_truth(gt_dir), submission, threads=threads)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        print_score_tables(result, Console())


def prepare_gt(
    gt_dir: Annotated[
        Path, typer.Argument(help="Ground truth in the official layout.", file_okay=False)
    ],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write (replaced whole).")],
) -> None:
    """Prepare ground truth once for fast repeated scoring (what the server does on import)."""
    from app.scoring import GroundTruthFolder, prepare_ground_truth

    with reported_errors():
        prepared = prepare_ground_truth(GroundTruthFolder(gt_dir), out_dir)
    Console().print(f"Prepared {len(prepared.images)} images into {out_dir}", highlight=False)


def _open_ground_truth(path: Path) -> "GroundTruth":
    from app.scoring import GroundTruthFolder, PreparedGroundTruth
    from app.scoring.ground_truth import MANIFEST

    if (path / MANIFEST).is_file():
        return PreparedGroundTruth(path)
    return GroundTruthFolder(path)


def print_score_tables(result: "ScoreResult", console: Console) -> None:
    """Print the phase score, Dice, confusion matrix and per-image tables."""
    from app.scoring.classes import CLASS_NAMES, LABEL_NAMES

    metrics = result.metrics
    summary = Table(title="Phase score (one confusion matrix over all evaluated pixels)")
    for column in ("mIoU", *(name.capitalize() for name in CLASS_NAMES), "fwIoU", "Pixel acc."):
        summary.add_column(column, justify="right")
    summary.add_row(
        format_score(metrics.miou),
        *(format_score(metrics.iou[name]) for name in CLASS_NAMES),
        format_score(metrics.fw_iou),
        format_score(metrics.pixel_accuracy),
    )
    console.print(summary)

    dice = Table(title="Dice per class")
    for name in CLASS_NAMES:
        dice.add_column(name.capitalize(), justify="right")
    dice.add_row(*(format_score(metrics.dice[name]) for name in CLASS_NAMES))
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
            format_score(image.metrics.miou),
            *(format_score(image.metrics.iou[name]) for name in CLASS_NAMES),
        )
    console.print(images)
