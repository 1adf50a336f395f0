"""The official training folder: patches named `<patient>-<x>-<y>-[tumor, stroma, normal].png`."""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

_LABEL = re.compile(r"\[([^\]]*)\]\.png$", re.IGNORECASE)


class TrainingDataError(ValueError):
    """A training folder or file that cannot be used; the message names it."""


def parse_label(file_name: str) -> tuple[int, int, int]:
    """Return the (tumor, stroma, normal) label written in a training patch's name.

    The bracketed list is parsed as a whole (`[1, 0, 0]`, `[1,0,0]`), never by position.
    """
    match = _LABEL.search(file_name)
    if match is None:
        raise TrainingDataError(f"{file_name}: no label like '[1, 0, 0]' before '.png'")
    parts = [part.strip() for part in match.group(1).split(",")]
    if len(parts) != 3 or any(part not in {"0", "1"} for part in parts):
        raise TrainingDataError(
            f"{file_name}: the label must list three 0/1 values (tumor, stroma, normal), "
            f"got [{match.group(1)}]"
        )
    label = (int(parts[0]), int(parts[1]), int(parts[2]))
    if not any(label):
        raise TrainingDataError(f"{file_name}: the label names no class")
    return label


@dataclass(frozen=True)
class TrainingPatch:
    """One labelled patch file."""

    path: Path
    label: tuple[int, int, int]


def list_training_patches(folder: Path) -> list[TrainingPatch]:
    """Every labelled PNG of a training folder (flat, as `1.training/` is distributed)."""
    if not folder.is_dir():
        raise TrainingDataError(f"{folder}: not a folder")
    patches = [
        TrainingPatch(path, parse_label(path.name))
        for path in sorted(folder.iterdir())
        if path.suffix.lower() == ".png" and not path.name.startswith(".")
    ]
    if not patches:
        raise TrainingDataError(f"{folder}: no PNG patches")
    return patches


def load_rgb(path: Path) -> np.ndarray:
    """Read an image as an (H, W, 3) uint8 array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 to (3, H, W) float in [0, 1]: MLPS divides by 255 and nothing else."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float().div_(255)


def load_patch_tensors(
    patches: list[TrainingPatch], size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches resized to size x size as a uint8 (N, 3, S, S) tensor, and their labels (N, 3).

    Training patches vary in size (174-280 px per side); MLPS's losses need one size.
    """
    images = torch.empty((len(patches), 3, size, size), dtype=torch.uint8)
    for index, patch in enumerate(patches):
        try:
            with Image.open(patch.path) as image:
                resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        except OSError as error:
            raise TrainingDataError(f"{patch.path.name}: not a readable image ({error})") from None
        images[index] = torch.from_numpy(np.array(resized)).permute(2, 0, 1)
    labels = torch.tensor([patch.label for patch in patches], dtype=torch.float32)
    return images, labels
