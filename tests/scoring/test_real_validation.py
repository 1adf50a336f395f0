"""The real WSSS4LUAD validation split (40 masks): skipped where ../shared is absent."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.scoring import GroundTruthFolder, prepare_ground_truth, score_path
from app.scoring.metrics import metrics_from_confusion
from tests.scoring.reference import brute_force_confusion

pytestmark = pytest.mark.real_data

# Pixel totals of the validation split (docs/wsss4luad.md, section 1.4).
VALIDATION_PIXELS = {"tumor": 27_811_295, "stroma": 18_320_748, "normal": 2_239_121}


@pytest.fixture(scope="module")
def ground_truth(real_validation: Path) -> GroundTruthFolder:
    return GroundTruthFolder(real_validation)


def test_perfect_submission_scores_one(ground_truth, real_validation):
    result = score_path(ground_truth, real_validation / "mask")
    assert result.miou == 1.0
    assert result.iou == {"tumor": 1.0, "stroma": 1.0, "normal": 1.0}
    rows = [sum(row) for row in result.metrics.confusion]
    assert rows == list(VALIDATION_PIXELS.values())
    assert len(result.images) == 40


def perturb(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Overwrite random rectangles with random labels, background (3) included."""
    out = np.where(mask == 3, 0, mask).astype(np.uint8)
    height, width = mask.shape
    for _ in range(6):
        top, left = rng.integers(0, height), rng.integers(0, width)
        out[top : top + height // 3, left : left + width // 3] = rng.integers(0, 4)
    return out


def test_perturbed_submission_scores_exactly_what_brute_force_says(
    ground_truth, real_validation, tmp_path
):
    rng = np.random.default_rng(2022)
    submission = tmp_path / "predictions"
    submission.mkdir()
    total = np.zeros((3, 4), dtype=np.int64)
    for index, image in enumerate(ground_truth.images):
        mask, background = ground_truth.load(image.name)
        prediction = perturb(mask, rng)
        # Alternate encodings: unfiltered palette (fast path) and filtered grayscale (Pillow).
        mode = "P" if index % 2 else "L"
        Image.fromarray(prediction, "L").convert(mode).save(submission / image.name)
        total += brute_force_confusion(mask, prediction, background)

    expected = metrics_from_confusion(total)
    cold = score_path(ground_truth, submission)
    prepared = prepare_ground_truth(ground_truth, tmp_path / "prepared")
    cached = score_path(prepared, submission)
    assert cold.metrics == expected
    assert cached.metrics == expected
    assert expected.miou is not None
    assert 0.0 < expected.miou < 1.0
    assert cold.metrics.confusion[0][3] > 0, "predicted background on tissue must be a miss"
