"""The WSSS4LUAD label set: class indices, names and the official palette."""

from typing import Final

TUMOR: Final = 0
STROMA: Final = 1
NORMAL: Final = 2
BACKGROUND: Final = 3

CLASS_NAMES: Final = ("tumor", "stroma", "normal")
"""Evaluated tissue classes, in index order."""

LABEL_NAMES: Final = (*CLASS_NAMES, "background")
"""Every value a mask may hold, in index order."""

PALETTE: Final = {
    TUMOR: (0, 64, 128),
    STROMA: (64, 128, 0),
    NORMAL: (243, 152, 0),
    BACKGROUND: (255, 255, 255),
}
"""Official RGB colour of each index, as in the challenge's mode-P masks."""

BACKGROUND_MASK_PALETTE: Final = ((0, 0, 0), (255, 255, 255))
"""Colours of the background-mask files: 0 tissue (evaluated), 1 background."""


def flat_palette() -> list[int]:
    """Return the official palette as Pillow's flat 768-value list, unused entries black."""
    flat = [channel for index in sorted(PALETTE) for channel in PALETTE[index]]
    return flat + [0] * (768 - len(flat))
