"""The naive per-image scoring loop the speed targets are measured against.

It imports only numpy and Pillow, so that run as a process (`python -m
benchmarks.naive_scoring GT_DIR PREDICTION_DIR` prints the confusion matrix) it pays no
more start-up than a participant's own script would. RGB predictions are mapped the
straightforward way: channels packed into one integer per pixel, then one comparison per
official colour.
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

OFFICIAL_COLOURS = {0: (0, 64, 128), 1: (64, 128, 0), 2: (243, 152, 0), 3: (255, 255, 255)}


def naive_confusion(gt_dir: Path, prediction_dir: Path) -> np.ndarray:
    """Return the pooled 3x4 confusion matrix: Pillow decodes, boolean mask, bincount."""
    confusion = np.zeros(12, dtype=np.int64)
    for mask_path in sorted((gt_dir / "mask").glob("*.png")):
        mask = np.asarray(Image.open(mask_path))
        background = np.asarray(Image.open(gt_dir / "background-mask" / mask_path.name))
        prediction = np.asarray(Image.open(prediction_dir / mask_path.name))
        if prediction.ndim == 3:
            rgb = prediction[..., :3].astype(np.uint32)
            packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
            indices = np.full(packed.shape, 255, dtype=np.uint8)
            for index, (red, green, blue) in OFFICIAL_COLOURS.items():
                indices[packed == (red << 16 | green << 8 | blue)] = index
            prediction = indices
        evaluated = (background != 1) & (mask < 3)
        codes = mask[evaluated].astype(np.int64) * 4 + prediction[evaluated]
        confusion += np.bincount(codes, minlength=12)[:12]
    return confusion.reshape(3, 4)


if __name__ == "__main__":
    print(json.dumps(naive_confusion(Path(sys.argv[1]), Path(sys.argv[2])).tolist()))
