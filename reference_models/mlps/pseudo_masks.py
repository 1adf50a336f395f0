"""Pseudo masks from Grad-CAMs: restricted to the patch's labels, white background wins."""

import numpy as np
import torch
from scipy import ndimage

from reference_models.mlps import BACKGROUND_INDEX

WHITE_LEVEL = 200
MIN_OBJECT_PIXELS = 50
_BACKGROUND_SCORE = 1.000001  # above any normalised CAM, so white areas always win


def white_background(pixels: np.ndarray) -> np.ndarray:
    """Boolean (H, W) map of white glass: grey level > 200, 4-connected specks < 50 px dropped."""
    grey = pixels.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    white = grey > WHITE_LEVEL
    components, count = ndimage.label(white)  # default structure: 4-connectivity
    if count == 0:
        return white
    sizes = np.bincount(components.ravel())
    keep = sizes >= MIN_OBJECT_PIXELS
    keep[0] = False
    kept: np.ndarray = keep[components]
    return kept


def pseudo_mask(cams: torch.Tensor, label: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """One layer's pseudo mask (H, W) uint8: tissue classes 0..2, background 3.

    cams (C, H, W) are min-max normalised jointly over the labelled classes; the classes
    absent from the label cannot win.
    """
    present = label > 0
    kept = cams[present]
    low, high = kept.min(), kept.max()
    normalised = (cams - low) / (high - low).clamp_min(1e-5)
    normalised[~present] = -1.0
    scores = torch.cat([normalised, torch.full_like(normalised[:1], -1.0)])
    scores[BACKGROUND_INDEX][background] = _BACKGROUND_SCORE
    return scores.argmax(0).to(torch.uint8)
