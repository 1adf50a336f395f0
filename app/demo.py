"""`make demo`: build the synthetic dataset, score a demo submission and show the result.

Until the challenge site lands this is the whole demo: it shows the data layout a
participant downloads and the score report they get back.
"""

import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console

from app.cli import print_score_tables
from app.demo_data import make_demo_data
from app.scoring import GroundTruthFolder, score_path


def write_demo_submission(ground_truth: GroundTruthFolder, archive: Path, seed: int) -> Path:
    """Zip a plausible imperfect prediction: the truth with some regions relabelled."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for image in ground_truth.images:
            mask, _ = ground_truth.load(image.name)
            prediction = np.where(mask == 3, 0, mask).astype(np.uint8)
            for _ in range(3):
                top = int(rng.integers(0, image.height))
                left = int(rng.integers(0, image.width))
                size = max(1, min(image.height, image.width) // 4)
                prediction[top : top + size, left : left + size] = rng.integers(0, 3)
            path = archive.parent / f".{image.name}"
            Image.fromarray(prediction, "L").save(path)
            handle.write(path, f"predictions/{image.name}")
            path.unlink()
    return archive


def main(out_dir: Path) -> None:
    """Run the demo into out_dir."""
    console = Console()
    summary = make_demo_data(out_dir, seed=0, scale="small")
    console.print(
        f"[bold]Demo dataset[/] in {summary.root}: {summary.training_patches} training "
        f"patches, {summary.validation_images} validation and {summary.test_images} test images"
    )
    validation = GroundTruthFolder(out_dir / "2.validation")
    archive = write_demo_submission(validation, out_dir / "demo-submission.zip", seed=1)
    console.print(f"[bold]Demo submission[/] {archive}; scoring it against 2.validation/ ...\n")
    print_score_tables(score_path(validation, archive), console)
    console.print(
        f"\nScore your own: [bold].venv/bin/wsss4luad score {out_dir}/2.validation YOUR.zip[/]"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/demo"))
