"""Baseline tests need the [baseline] extra (torch, scipy); without it they are skipped."""

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the baseline tests need torch: pip install -e '.[baseline]'")
pytest.importorskip("scipy", reason="the baseline tests need scipy: pip install -e '.[baseline]'")


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small synthetic dataset of `make-demo-data`, generated once per test process."""
    from app.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("demo-data")
    make_demo_data(root)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-preset checkpoint trained on the demo training folder (about 20 s of CPU)."""
    from reference_models.mlps.presets import TINY
    from reference_models.mlps.training import TrainingOptions, train

    checkpoint = train(demo_data / "1.training", TINY, TrainingOptions(), lambda _: None)
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    checkpoint.save(path)
    return path
