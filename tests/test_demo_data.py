"""Tests of the synthetic WSSS4LUAD-like dataset generator (small scale)."""

import itertools
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from app.devtools.demo_data import DemoDataSummary, make_demo_data, training_patch
from app.scoring.classes import BACKGROUND, NORMAL, STROMA, TUMOR, flat_palette

SPLITS = ("2.validation", "3.testing")
SUBFOLDERS = ("img", "mask", "background-mask")
TRAINING_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)-\[(?P<labels>[01](?:, [01]){2})\]\.png$")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> DemoDataSummary:
    return make_demo_data(tmp_path_factory.mktemp("demo") / "data", seed=0)


def split_names(root: Path, split: str, sub: str) -> list[str]:
    return sorted(path.name for path in (root / split / sub).iterdir())


def read_array(path: Path) -> npt.NDArray[np.uint8]:
    with Image.open(path) as picture:
        return np.asarray(picture)


def read_mode(path: Path) -> str:
    with Image.open(path) as picture:
        return picture.mode


def parse_labels(name: str) -> tuple[int, ...]:
    match = TRAINING_NAME.match(name)
    assert match is not None, name
    return tuple(int(value) for value in match["labels"].split(", "))


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_layout_and_file_names(built: DemoDataSummary) -> None:
    root = built.root
    assert sorted(path.name for path in root.iterdir()) == ["1.training", *SPLITS]
    expected_counts = {"2.validation": built.validation_images, "3.testing": built.test_images}
    for split, count in expected_counts.items():
        expected = [f"{index:02d}.png" for index in range(count)]
        for sub in SUBFOLDERS:
            assert split_names(root, split, sub) == expected
    assert (built.validation_images, built.test_images) == (8, 10)
    training = list((root / "1.training").iterdir())
    assert len(training) == built.training_patches == 48
    assert all(path.is_file() and TRAINING_NAME.match(path.name) for path in training)


def test_small_scale_has_a_few_large_images_among_small_ones(built: DemoDataSummary) -> None:
    for split in SPLITS:
        paths = sorted((built.root / split / "img").iterdir())
        sides = [max(read_array(path).shape[:2]) for path in paths]
        assert sum(side >= 256 for side in sides) in (1, 2)
        assert sum(side <= 128 for side in sides) >= len(sides) - 2


def test_masks_are_palette_images_with_official_palette(built: DemoDataSummary) -> None:
    for split in SPLITS:
        for name in split_names(built.root, split, "mask"):
            with Image.open(built.root / split / "mask" / name) as mask:
                assert mask.mode == "P"
                assert mask.getpalette() == flat_palette()
                assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 1, 2, 3}
            with Image.open(built.root / split / "background-mask" / name) as background:
                assert background.mode == "P"
                palette = background.getpalette()
                assert palette is not None
                assert palette[:6] == [0, 0, 0, 255, 255, 255]
                assert set(palette[6:]) == {0}
                assert set(np.unique(np.asarray(background)).tolist()) <= {0, 1}


def test_background_mask_is_exactly_where_the_mask_is_background(built: DemoDataSummary) -> None:
    for split in SPLITS:
        for name in split_names(built.root, split, "mask"):
            mask = read_array(built.root / split / "mask" / name)
            background = read_array(built.root / split / "background-mask" / name)
            np.testing.assert_array_equal(background == 1, mask == BACKGROUND)


def test_images_are_rgb_and_the_size_of_their_masks(built: DemoDataSummary) -> None:
    for split in SPLITS:
        for name in split_names(built.root, split, "img"):
            with Image.open(built.root / split / "img" / name) as image:
                assert image.mode == "RGB"
                size = image.size
            for sub in ("mask", "background-mask"):
                with Image.open(built.root / split / sub / name) as mask:
                    assert mask.size == size


def test_summary_pixel_totals_match_the_masks(built: DemoDataSummary) -> None:
    totals = {}
    for split in SPLITS:
        arrays = (read_array(path) for path in (built.root / split / "mask").iterdir())
        totals[split] = sum(array.size for array in arrays)
    assert totals == {"2.validation": built.validation_pixels, "3.testing": built.test_pixels}


def test_every_class_and_background_occur_in_each_split(built: DemoDataSummary) -> None:
    for split in SPLITS:
        present: set[int] = set()
        for path in (built.root / split / "mask").iterdir():
            present |= set(np.unique(read_array(path)).tolist())
        assert present == {TUMOR, STROMA, NORMAL, BACKGROUND}, split


def test_training_labels_parse_and_mix_single_and_multi(built: DemoDataSummary) -> None:
    labels = [parse_labels(path.name) for path in (built.root / "1.training").iterdir()]
    assert all(sum(label) >= 1 for label in labels)
    singles = sum(sum(label) == 1 for label in labels)
    assert 0 < singles < len(labels)
    for column in range(3):
        assert any(label[column] for label in labels)


def test_training_labels_match_the_generated_label_maps(built: DemoDataSummary) -> None:
    folder = built.root / "1.training"
    for index in range(built.training_patches):
        patch = training_patch(0, index, "small")
        path = folder / patch.file_name
        np.testing.assert_array_equal(read_array(path), patch.image)
        shares = np.bincount(patch.label_map.ravel(), minlength=4) / patch.label_map.size
        expected = tuple(int(shares[cls] >= 0.05) for cls in (TUMOR, STROMA, NORMAL))
        assert parse_labels(path.name) == expected == patch.labels


def test_training_patches_are_rgb_and_about_64_pixels(built: DemoDataSummary) -> None:
    for path in (built.root / "1.training").iterdir():
        with Image.open(path) as patch:
            assert patch.mode == "RGB"
            assert all(56 <= side <= 72 for side in patch.size)


def test_class_colours_differ_clearly_and_background_is_near_white(
    built: DemoDataSummary,
) -> None:
    sums = np.zeros((4, 3))
    counts = np.zeros(4)
    for split in SPLITS:
        for name in split_names(built.root, split, "img"):
            image = read_array(built.root / split / "img" / name).astype(np.float64)
            mask = read_array(built.root / split / "mask" / name)
            for cls in range(4):
                sums[cls] += image[mask == cls].sum(axis=0)
                counts[cls] += np.count_nonzero(mask == cls)
            grey = image[mask == BACKGROUND] @ np.array([0.299, 0.587, 0.114])
            assert grey.size == 0 or grey.min() > 200
    means = sums / counts[:, None]
    for first, second in itertools.combinations((TUMOR, STROMA, NORMAL), 2):
        assert np.linalg.norm(means[first] - means[second]) > 20, (first, second)


def test_same_seed_gives_byte_identical_files(built: DemoDataSummary, tmp_path: Path) -> None:
    again = make_demo_data(tmp_path / "again", seed=0)
    assert all_files(again.root) == all_files(built.root)
    assert again == DemoDataSummary(
        root=tmp_path / "again",
        training_patches=built.training_patches,
        validation_images=built.validation_images,
        test_images=built.test_images,
        validation_pixels=built.validation_pixels,
        test_pixels=built.test_pixels,
    )


def test_another_seed_gives_different_files(built: DemoDataSummary, tmp_path: Path) -> None:
    other = all_files(make_demo_data(tmp_path / "other", seed=1).root)
    first = all_files(built.root)
    for split in SPLITS:
        name = f"{split}/img/00.png"
        assert other[name] != first[name]
    assert {n for n in other if n.startswith("1.")} != {n for n in first if n.startswith("1.")}


def test_rebuild_replaces_split_folders_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    stale = tmp_path / "2.validation" / "img" / "99.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    make_demo_data(tmp_path, seed=0)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert not stale.exists()
    assert (tmp_path / "2.validation" / "img" / "00.png").is_file()


def test_negative_seed_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed"):
        make_demo_data(tmp_path, seed=-1)
