"""An independent, obvious computation of the confusion matrix, for comparisons."""

import numpy as np


def brute_force_confusion(target, prediction, background=None):
    """Count the 3x4 confusion matrix with boolean masks, one cell at a time."""
    if not (np.isin(target, range(4)).all() and np.isin(prediction, range(4)).all()):
        raise ValueError("values outside 0..3")
    evaluated = target < 3
    if background is not None:
        evaluated &= background != 1
    counts = np.zeros((3, 4), dtype=np.int64)
    for truth in range(3):
        for predicted in range(4):
            counts[truth, predicted] = np.count_nonzero(
                evaluated & (target == truth) & (prediction == predicted)
            )
    return counts
