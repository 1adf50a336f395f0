"""The GPU task's prediction of a phase from the participants' download."""

import io
import zipfile

import numpy as np
from PIL import Image

from reference_models.mlps.checkpoint import Checkpoint
from reference_models.mlps.inference import Segmenter
from reference_models.mlps.presets import TINY
from workers.baseline import LoadedModel, predict_phase_archive


def png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_missing_from_the_download_become_all_background(tmp_path):
    rng = np.random.default_rng(0)
    background = np.zeros((30, 40), dtype=np.uint8)
    background[:5] = 1
    data = tmp_path / "data.zip"
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("img/00.png", png(rng.integers(0, 256, (30, 40, 3), np.uint8), "RGB"))
        archive.writestr("background-mask/00.png", png(background, "L"))
        archive.writestr("background-mask/01.png", png(np.zeros((20, 25), np.uint8), "L"))
    model = LoadedModel("0" * 64, Segmenter(Checkpoint.initialised(TINY)), "CPU", {})
    out = tmp_path / "predictions.zip"

    predicted = predict_phase_archive(model, data, {"00.png": [40, 30], "01.png": [25, 20]}, out)

    assert predicted == 1
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["00.png", "01.png"]
        first = np.asarray(Image.open(io.BytesIO(archive.read("00.png"))))
        missing = np.asarray(Image.open(io.BytesIO(archive.read("01.png"))))
    assert first.shape == (30, 40) and (first[:5] == 3).all()
    assert set(np.unique(first[5:])) <= {0, 1, 2}
    assert missing.shape == (20, 25) and (missing == 3).all()
