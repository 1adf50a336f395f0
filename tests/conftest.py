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


# --- Databases, settings and the site -------------------------------------------------

DATABASE_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A migrated database of each kind; every test using it runs on both."""
    from tests.databases import migrated_database

    with migrated_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path):
    """Test settings on an emptied database, with a private DATA_DIR and a file outbox."""
    from app.config import Settings
    from tests.databases import empty_all_tables

    empty_all_tables(database_url)
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        email_backend="file",
        secret_key="test-secret-key-" + "x" * 32,
    )


@pytest.fixture
def sessions(settings):
    """A session factory on the test database."""
    from app.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def session(sessions):
    """One session; commits only when the test commits."""
    with sessions() as db_session:
        yield db_session


@pytest.fixture
def storage(settings):
    """Local storage under the test DATA_DIR."""
    from app.services.storage import LocalStorage

    return LocalStorage(settings.data_dir)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small synthetic dataset of `make-demo-data`, generated once per test process."""
    from app.devtools.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("demo-data")
    make_demo_data(root)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-preset MLPS checkpoint trained on the demo training folder (about 20 s of CPU).

    Needs torch: tests that use it skip without the [baseline] extra.
    """
    pytest.importorskip("torch", reason="needs the [baseline] extra: pip install -e '.[baseline]'")
    from reference_models.mlps.presets import TINY
    from reference_models.mlps.training import TrainingOptions, train

    checkpoint = train(demo_data / "1.training", TINY, TrainingOptions(), lambda _: None)
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    checkpoint.save(path)
    return path
