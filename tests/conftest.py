"""Shared fixtures: small generated phases and the real validation split when present."""

from pathlib import Path

import numpy as np
import pytest

from tests.factories import Mask, random_mask, write_ground_truth

REAL_VALIDATION = Path(__file__).resolve().parents[2] / "shared" / "wsss4luad" / "validation"


@pytest.fixture
def small_masks() -> dict[str, Mask]:
    """Five masks of assorted, partly odd sizes, one wider than a counting chunk."""
    rng = np.random.default_rng(7)
    shapes = [(33, 47), (64, 64), (17, 90), (120, 31), (3, 50_000)]
    return {f"{i:02d}.png": random_mask(rng, h, w) for i, (h, w) in enumerate(shapes)}


@pytest.fixture
def small_phase(tmp_path: Path, small_masks: dict[str, Mask]) -> Path:
    """A ground-truth folder in the official layout built from small_masks."""
    return write_ground_truth(tmp_path / "gt", small_masks)


@pytest.fixture(scope="session")
def real_validation() -> Path:
    """The real validation split from ../shared, or skip when this clone has none."""
    if not (REAL_VALIDATION / "mask").is_dir():
        pytest.skip(f"real validation split not present at {REAL_VALIDATION}")
    return REAL_VALIDATION
