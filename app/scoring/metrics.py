"""The WSSS4LUAD metric: pooled confusion matrix, per-class IoU and their mean.

Contract (the organizers' definition, docs/wsss4luad.md section 2):
- one confusion matrix accumulated over all evaluated pixels of all images of the phase;
- a pixel is evaluated when its background-mask value is not 1 and its ground-truth class
  is 0 tumor, 1 stroma or 2 normal;
- a prediction of 3 (background) on an evaluated pixel is a miss for its ground-truth class
  and a false positive for no class;
- IoU_c = TP / (TP + FP + FN); mIoU is the mean over the classes whose union is non-empty;
  a class with an empty union has IoU None (null in JSON).

The confusion matrix is 3x4: rows are ground-truth classes 0..2, columns predicted values
0..3, the last column counting tissue predicted as background.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.scoring.classes import CLASS_NAMES, LABEL_NAMES

ConfusionMatrix = npt.NDArray[np.int64]
"""Shape (3, 4): rows ground truth 0..2, columns prediction 0..3."""

_IGNORED_CODE = 0b11111
"""A pixel code that no counted cell uses; pads odd-length chunks."""

_CODE_BINS = 32
_PAIR_BINS = _CODE_BINS * 256
_CHUNK_PIXELS = 1 << 17
"""Pixels per counting step: large enough to amortise numpy calls, small enough for cache."""


def empty_confusion() -> ConfusionMatrix:
    """Return an all-zero 3x4 confusion matrix."""
    return np.zeros((3, 4), dtype=np.int64)


def count_confusion(
    target: npt.NDArray[np.uint8],
    prediction: npt.NDArray[np.uint8],
    background: npt.NDArray[np.uint8] | None = None,
) -> ConfusionMatrix:
    """Count (ground truth, prediction) pairs of one image into a 3x4 confusion matrix.

    Precondition: `target` and `prediction` hold values 0..3 only (the decoder and the
    ground-truth preparation guarantee it; other values would be miscounted). Pixels whose
    target is 3, or whose `background` value is 1, are not evaluated.
    """
    if target.shape != prediction.shape or (
        background is not None and background.shape != target.shape
    ):
        raise ValueError("target, prediction and background must have the same shape")
    height, width = target.shape
    rows_per_chunk = max(1, _CHUNK_PIXELS // max(width, 1))
    # Each pixel becomes one 5-bit code (ignored << 4 | target << 2 | prediction). Codes are
    # counted two at a time through a uint16 view, which halves the int64 copy that
    # np.bincount makes of its input; that copy is most of the counting cost.
    code_buffer = np.empty(rows_per_chunk * width + 1, dtype=np.uint8)
    flag_buffer = np.empty((rows_per_chunk, width), dtype=np.bool_)
    pair_counts = np.zeros(_PAIR_BINS, dtype=np.int64)
    for start in range(0, height, rows_per_chunk):
        stop = min(height, start + rows_per_chunk)
        size = (stop - start) * width
        codes = code_buffer[:size].reshape(stop - start, width)
        np.left_shift(target[start:stop], 2, out=codes)
        np.bitwise_or(codes, prediction[start:stop], out=codes)
        if background is not None:
            flags = flag_buffer[: stop - start]
            np.equal(background[start:stop], 1, out=flags)
            np.bitwise_or(codes, np.left_shift(flags.view(np.uint8), 4), out=codes)
        if size % 2:
            code_buffer[size] = _IGNORED_CODE
            size += 1
        pair_counts += np.bincount(code_buffer[:size].view(np.uint16), minlength=_PAIR_BINS)
    pairs = pair_counts.reshape(_CODE_BINS, 256)[:, :_CODE_BINS]
    per_code = pairs.sum(axis=0) + pairs.sum(axis=1)
    confusion: ConfusionMatrix = per_code[:12].reshape(3, 4).copy()
    return confusion


@dataclass(frozen=True)
class Metrics:
    """Scores derived from one confusion matrix (of an image or of a whole phase)."""

    confusion: tuple[tuple[int, int, int, int], ...]
    evaluated_pixels: int
    iou: Mapping[str, float | None]
    dice: Mapping[str, float | None]
    miou: float | None
    pixel_accuracy: float | None
    fw_iou: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "miou": self.miou,
            "iou": dict(self.iou),
            "dice": dict(self.dice),
            "pixel_accuracy": self.pixel_accuracy,
            "fw_iou": self.fw_iou,
            "evaluated_pixels": self.evaluated_pixels,
            "confusion_matrix": {
                "rows": list(CLASS_NAMES),
                "columns": list(LABEL_NAMES),
                "counts": [list(row) for row in self.confusion],
            },
        }


def metrics_from_confusion(confusion: ConfusionMatrix) -> Metrics:
    """Compute IoU, Dice, mIoU, pixel accuracy and frequency-weighted IoU exactly."""
    counts = [[int(value) for value in row] for row in confusion]
    if len(counts) != 3 or any(len(row) != 4 for row in counts):
        raise ValueError("the confusion matrix must have shape (3, 4)")
    total = sum(sum(row) for row in counts)
    iou: dict[str, float | None] = {}
    dice: dict[str, float | None] = {}
    weighted = 0.0
    for index, name in enumerate(CLASS_NAMES):
        true_positive = counts[index][index]
        gt_pixels = sum(counts[index])
        predicted_pixels = sum(counts[row][index] for row in range(3))
        union = gt_pixels + predicted_pixels - true_positive
        iou[name] = true_positive / union if union else None
        dice[name] = 2 * true_positive / (gt_pixels + predicted_pixels) if union else None
        if union and total:
            weighted += gt_pixels / total * true_positive / union
    present = [value for value in iou.values() if value is not None]
    return Metrics(
        confusion=tuple((row[0], row[1], row[2], row[3]) for row in counts),
        evaluated_pixels=total,
        iou=iou,
        dice=dice,
        miou=sum(present) / len(present) if present else None,
        pixel_accuracy=sum(counts[i][i] for i in range(3)) / total if total else None,
        fw_iou=weighted if total else None,
    )
