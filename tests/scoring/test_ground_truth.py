"""Ground-truth folders, the prepared form, and scoring through both."""

import json

import numpy as np
import pytest

from app.scoring import (
    GroundTruthError,
    GroundTruthFolder,
    PreparedGroundTruth,
    prepare_ground_truth,
    score_path,
)
from app.scoring.metrics import metrics_from_confusion
from tests.factories import png_bytes, write_zip
from tests.scoring.reference import brute_force_confusion


def perturbed(masks, seed):
    rng = np.random.default_rng(seed)
    return {
        name: np.where(rng.random(mask.shape) < 0.3, rng.integers(0, 4, mask.shape), mask).astype(
            np.uint8
        )
        for name, mask in masks.items()
    }


def test_folder_lists_images_with_sizes(small_phase, small_masks):
    ground_truth = GroundTruthFolder(small_phase)
    assert [(i.name, i.height, i.width) for i in ground_truth.images] == [
        (name, *mask.shape) for name, mask in sorted(small_masks.items())
    ]


def test_cold_and_prepared_scores_equal_brute_force(small_phase, small_masks, tmp_path):
    predictions = perturbed(small_masks, seed=11)
    archive = write_zip(
        tmp_path / "s.zip", {name: png_bytes(p, "L") for name, p in predictions.items()}
    )
    expected = np.zeros((3, 4), dtype=np.int64)
    for name, mask in small_masks.items():
        background = (mask == 3).astype(np.uint8)
        expected += brute_force_confusion(mask, predictions[name], background)
    cold = score_path(GroundTruthFolder(small_phase), archive)
    prepared = prepare_ground_truth(GroundTruthFolder(small_phase), tmp_path / "prepared")
    cached = score_path(prepared, archive, threads=1)
    assert cold.to_dict() == cached.to_dict()
    assert np.asarray(cold.metrics.confusion).tolist() == expected.tolist()
    assert cold.metrics == metrics_from_confusion(expected)
    assert [image.name for image in cold.images] == sorted(small_masks)


@pytest.mark.parametrize("mode", ["P", "L", "RGB", "RGBA"])
def test_every_encoding_scores_the_same_on_one_thread_or_many(
    small_phase, small_masks, tmp_path, mode
):
    predictions = perturbed(small_masks, seed=23)
    archive = write_zip(
        tmp_path / "s.zip", {name: png_bytes(p, mode) for name, p in predictions.items()}
    )
    expected = np.zeros((3, 4), dtype=np.int64)
    for name, mask in small_masks.items():
        expected += brute_force_confusion(mask, predictions[name], (mask == 3).astype(np.uint8))
    folder = GroundTruthFolder(small_phase)
    prepared = prepare_ground_truth(folder, tmp_path / "prepared")
    results = [
        score_path(ground_truth, archive, threads=threads)
        for ground_truth in (folder, prepared)
        for threads in (1, 2, 8)
    ]
    assert all(result.to_dict() == results[0].to_dict() for result in results)
    assert np.asarray(results[0].metrics.confusion).tolist() == expected.tolist()


def test_background_mask_excludes_pixels_even_where_the_mask_has_a_class(tmp_path):
    from tests.factories import background_png_bytes

    mask = np.zeros((4, 4), dtype=np.uint8)
    background = np.zeros((4, 4), dtype=np.uint8)
    background[:2] = 1
    root = tmp_path / "gt"
    (root / "mask").mkdir(parents=True)
    (root / "background-mask").mkdir()
    (root / "mask" / "a.png").write_bytes(png_bytes(mask))
    (root / "background-mask" / "a.png").write_bytes(background_png_bytes(background))
    prediction = np.ones((4, 4), dtype=np.uint8)
    prediction[2:] = 0
    archive = write_zip(tmp_path / "s.zip", {"a.png": png_bytes(prediction)})
    for ground_truth in (
        GroundTruthFolder(root),
        prepare_ground_truth(GroundTruthFolder(root), tmp_path / "prepared"),
    ):
        result = score_path(ground_truth, archive)
        assert result.metrics.evaluated_pixels == 8
        assert result.miou == 1.0


def test_prepared_manifest_counts_pixels_per_label(small_phase, small_masks, tmp_path):
    prepared = prepare_ground_truth(GroundTruthFolder(small_phase), tmp_path / "p")
    first = prepared.manifest["images"][0]
    mask = small_masks[first["name"]]
    assert first["pixels"] == {
        label: int((mask == index).sum())
        for index, label in enumerate(["tumor", "stroma", "normal", "background"])
    }


def test_preparing_again_replaces_the_folder_whole(small_phase, tmp_path):
    out = tmp_path / "p"
    prepare_ground_truth(GroundTruthFolder(small_phase), out)
    (out / "stale.txt").write_text("old")
    prepare_ground_truth(GroundTruthFolder(small_phase), out)
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failed_preparation_leaves_nothing(small_phase, tmp_path):
    (small_phase / "mask" / "01.png").write_bytes(b"broken")
    with pytest.raises(GroundTruthError, match=r"01.png: not a PNG"):
        prepare_ground_truth(GroundTruthFolder(small_phase), tmp_path / "p")
    assert not (tmp_path / "p").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["gt"]


def test_missing_background_mask_is_named(small_phase):
    (small_phase / "background-mask" / "02.png").unlink()
    with pytest.raises(GroundTruthError, match=r"no background mask for 02\.png"):
        GroundTruthFolder(small_phase)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(GroundTruthError, match="mask: folder not found"):
        GroundTruthFolder(tmp_path)


def test_background_mask_of_another_size_is_refused(small_phase):
    from tests.factories import background_png_bytes

    (small_phase / "background-mask" / "00.png").write_bytes(
        background_png_bytes(np.zeros((5, 5), dtype=np.uint8))
    )
    with pytest.raises(GroundTruthError, match=r"00.png: size 5x5 differs from its mask"):
        GroundTruthFolder(small_phase)


def test_ground_truth_with_values_above_three_is_refused(small_phase, small_masks, tmp_path):
    bad = small_masks["00.png"].copy()
    bad[0, 0] = 4
    (small_phase / "mask" / "00.png").write_bytes(png_bytes(bad, "L"))
    predictions = {name: png_bytes(mask) for name, mask in small_masks.items()}
    with pytest.raises(GroundTruthError, match=r"mask/00.png: values found"):
        score_path(GroundTruthFolder(small_phase), write_zip(tmp_path / "s.zip", predictions))


def test_prepared_folder_of_another_format_is_refused(small_phase, tmp_path):
    out = tmp_path / "p"
    prepare_ground_truth(GroundTruthFolder(small_phase), out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(manifest | {"format": 99}))
    with pytest.raises(GroundTruthError, match="prepare the phase again"):
        PreparedGroundTruth(out)


def test_damaged_prepared_folder_is_a_ground_truth_error(small_phase, tmp_path):
    out = tmp_path / "p"
    prepared = prepare_ground_truth(GroundTruthFolder(small_phase), out)
    (out / "targets" / "00.png.npy").unlink()
    with pytest.raises(GroundTruthError, match=r"00.png.npy: unreadable"):
        prepared.load("00.png")
    np.save(out / "targets" / "00.png.npy", np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(GroundTruthError, match="prepare the phase again"):
        prepared.load("00.png")
    (out / "manifest.json").write_text('{"format": 1}')
    with pytest.raises(GroundTruthError, match="malformed"):
        PreparedGroundTruth(out)
