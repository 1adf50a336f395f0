"""Developer tools: `make-demo-data`, the synthetic dataset of `app.devtools`."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


class Scale(StrEnum):
    """Size of the generated demo dataset."""

    small = "small"
    full = "full"


def make_demo_data(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write 1.training/, 2.validation/…")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    scale: Annotated[
        Scale, typer.Option(help="small: seconds, for tests; full: the real splits' sizes.")
    ] = Scale.small,
) -> None:
    """Generate a synthetic dataset in the official WSSS4LUAD layout."""
    from app.devtools.demo_data import make_demo_data as generate

    summary = generate(out_dir, seed=seed, scale=scale.value)
    Console().print(
        f"Wrote {summary.training_patches} training patches, "
        f"{summary.validation_images} validation images "
        f"({summary.validation_pixels / 1e6:.1f} Mpx) and {summary.test_images} test images "
        f"({summary.test_pixels / 1e6:.1f} Mpx) to {summary.root}",
        highlight=False,
    )
