"""The metric against hand-computed values and a per-pixel brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.scoring.metrics import count_confusion, metrics_from_confusion
from tests.scoring.reference import brute_force_confusion


def per_pixel_confusion(target, prediction, background):
    """The definition, one pixel at a time."""
    counts = [[0] * 4 for _ in range(3)]
    for t, p, b in zip(target.ravel(), prediction.ravel(), background.ravel(), strict=True):
        if b != 1 and t < 3:
            counts[int(t)][int(p)] += 1
    return counts


def per_pixel_iou(counts, cls):
    tp = counts[cls][cls]
    fn = sum(counts[cls]) - tp
    fp = sum(counts[row][cls] for row in range(3)) - tp
    return tp / (tp + fp + fn) if tp + fp + fn else None


def test_known_answer_from_hand_computed_matrix():
    confusion = np.array([[8, 1, 0, 1], [2, 6, 0, 0], [0, 0, 0, 0]])
    metrics = metrics_from_confusion(confusion)
    assert metrics.iou["tumor"] == pytest.approx(8 / (10 + 10 - 8))
    assert metrics.iou["stroma"] == pytest.approx(6 / (8 + 7 - 6))
    assert metrics.iou["normal"] is None
    assert metrics.miou == pytest.approx((8 / 12 + 6 / 9) / 2)
    assert metrics.dice["tumor"] == pytest.approx(16 / 20)
    assert metrics.pixel_accuracy == pytest.approx(14 / 18)
    assert metrics.fw_iou == pytest.approx(10 / 18 * 8 / 12 + 8 / 18 * 6 / 9)
    assert metrics.evaluated_pixels == 18


def test_published_winner_means_to_its_miou():
    # The challenge's 1st place: tumor 0.8389, stroma 0.7931, normal 0.8919 -> 0.8413.
    assert round((0.8389 + 0.7931 + 0.8919) / 3, 4) == 0.8413


def test_predicted_background_on_tissue_is_a_miss_and_no_false_positive():
    target = np.array([[0, 0, 1, 2]], dtype=np.uint8)
    prediction = np.array([[0, 3, 1, 2]], dtype=np.uint8)
    confusion = count_confusion(target, prediction)
    assert confusion.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]
    metrics = metrics_from_confusion(confusion)
    assert metrics.iou == {"tumor": 0.5, "stroma": 1.0, "normal": 1.0}


def test_background_mask_and_ground_truth_three_exclude_pixels():
    target = np.array([[0, 1, 3, 2]], dtype=np.uint8)
    prediction = np.array([[1, 1, 0, 2]], dtype=np.uint8)
    background = np.array([[0, 0, 0, 1]], dtype=np.uint8)
    assert count_confusion(target, prediction, background).tolist() == [
        [0, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 0],
    ]


def test_nothing_evaluated_gives_null_scores():
    metrics = metrics_from_confusion(np.zeros((3, 4), dtype=np.int64))
    assert metrics.miou is None
    assert metrics.pixel_accuracy is None
    assert metrics.fw_iou is None
    assert set(metrics.iou.values()) == {None}


def test_all_correct_scores_one():
    target = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    metrics = metrics_from_confusion(count_confusion(target, target))
    assert metrics.miou == 1.0
    assert metrics.fw_iou == 1.0


def test_class_absent_from_truth_but_predicted_scores_zero():
    target = np.array([[0, 0]], dtype=np.uint8)
    prediction = np.array([[0, 2]], dtype=np.uint8)
    metrics = metrics_from_confusion(count_confusion(target, prediction))
    assert metrics.iou == {"tumor": 0.5, "stroma": None, "normal": 0.0}
    assert metrics.miou == 0.25


def test_counting_across_many_chunks_matches_brute_force():
    rng = np.random.default_rng(3)
    for shape in [(701, 403), (2, 300_001), (300_001, 1), (517, 1031)]:
        target = rng.integers(0, 4, size=shape, dtype=np.uint8)
        prediction = rng.integers(0, 4, size=shape, dtype=np.uint8)
        background = rng.integers(0, 3, size=shape, dtype=np.uint8)
        assert np.array_equal(
            count_confusion(target, prediction, background),
            brute_force_confusion(target, prediction, background),
        )


def test_counting_accepts_non_contiguous_views():
    rng = np.random.default_rng(4)
    padded = rng.integers(0, 4, size=(50, 81), dtype=np.uint8)
    view = padded[:, 1:]
    assert np.array_equal(count_confusion(view, view), brute_force_confusion(view, view))


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="same shape"):
        count_confusion(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


masks = st.tuples(st.integers(1, 23), st.integers(1, 29)).flatmap(
    lambda shape: st.tuples(
        hnp.arrays(np.uint8, shape, elements=st.integers(0, 3)),
        hnp.arrays(np.uint8, shape, elements=st.integers(0, 3)),
        hnp.arrays(np.uint8, shape, elements=st.integers(0, 2)),
    )
)


@settings(max_examples=300, deadline=None)
@given(masks)
def test_core_equals_per_pixel_definition(arrays):
    target, prediction, background = arrays
    expected = per_pixel_confusion(target, prediction, background)
    confusion = count_confusion(target, prediction, background)
    assert confusion.tolist() == expected
    metrics = metrics_from_confusion(confusion)
    ious = [per_pixel_iou(expected, cls) for cls in range(3)]
    assert list(metrics.iou.values()) == ious
    present = [value for value in ious if value is not None]
    assert metrics.miou == (sum(present) / len(present) if present else None)


@settings(max_examples=100, deadline=None)
@given(st.lists(masks, min_size=1, max_size=4))
def test_phase_matrix_is_the_sum_of_image_matrices(images):
    total = sum(count_confusion(t, p, b) for t, p, b in images)
    pooled = [[0] * 4 for _ in range(3)]
    for t, p, b in images:
        for i, row in enumerate(per_pixel_confusion(t, p, b)):
            pooled[i] = [a + c for a, c in zip(pooled[i], row, strict=True)]
    assert np.asarray(total).tolist() == pooled
