"""The whole MLPS pipeline through the fixed CLI: train tiny on demo data, predict, score."""

import subprocess
import sys
from pathlib import Path

from app.scoring import score_path
from app.scoring.ground_truth import GroundTruthFolder


def wsss4luad(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the project's CLI as a user would, failing with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *map(str, args)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_tiny_mlps_trained_on_demo_data_segments_the_demo_validation_split(demo_data, tmp_path):
    checkpoint = tmp_path / "tiny.pt"
    trained = wsss4luad(
        "baseline", "train", demo_data / "1.training",
        "--out", checkpoint, "--preset", "tiny", "--device", "cpu",
    )  # fmt: skip
    assert "stage 1 epoch 1/" in trained.stdout and "stage 2 epoch" in trained.stdout
    assert checkpoint.is_file()

    validation = demo_data / "2.validation"
    predictions = tmp_path / "predictions"
    wsss4luad(
        "baseline", "predict", checkpoint, validation / "img", predictions,
        "--background-masks", validation / "background-mask", "--device", "cpu",
    )  # fmt: skip

    result = score_path(GroundTruthFolder(validation), predictions)
    assert result.miou is not None and result.miou >= 0.6, result.iou
    assert all(iou is not None and iou > 0.3 for iou in result.iou.values()), result.iou


def test_training_refuses_a_folder_with_a_badly_named_patch(tmp_path):
    (tmp_path / "1-2-3-[1, 0].png").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "baseline", "train", str(tmp_path),
         "--out", str(tmp_path / "x.pt"), "--preset", "tiny", "--device", "cpu"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert "1-2-3-[1, 0].png" in done.stderr and "three 0/1 values" in done.stderr
    assert not (tmp_path / "x.pt").exists()
