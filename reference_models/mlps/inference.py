"""Segment images of any size: overlapping windows, batched, scores stitched, gated by stage 1."""

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import IO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from app.scoring.classes import flat_palette
from reference_models.mlps import BACKGROUND_INDEX
from reference_models.mlps.checkpoint import Checkpoint
from reference_models.mlps.data import load_rgb

GATE_THRESHOLD = 0.1


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Window offsets that cover [0, length), the last one flush with the end."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    return [*starts, length - window]


class Segmenter:
    """Both stages on one device, ready to segment many images."""

    def __init__(self, checkpoint: Checkpoint, device: str = "cpu") -> None:
        self.preset = checkpoint.preset
        self.device = torch.device(device)
        self.stage1 = checkpoint.stage1.to(self.device).eval()
        self.stage2 = checkpoint.stage2.to(self.device).eval()
        if self.device.type == "cuda":
            self.stage1.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.stage2.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def _autocast(self) -> torch.autocast | nullcontext[None]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def window_scores(self, windows: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, C, S, S) of float windows, with the stage-1 gate applied.

        A class that stage 1 gives probability <= 0.1 in a window is zeroed there, unless
        that would zero every class.
        """
        if self.device.type == "cuda":
            windows = windows.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            gate = torch.sigmoid(self.stage1(windows).float()) > GATE_THRESHOLD
            scores = torch.softmax(self.stage2(windows).float(), dim=1)
        gate |= ~gate.any(dim=1, keepdim=True)
        return scores * gate[:, :, None, None]

    @torch.inference_mode()
    def predict(self, pixels: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
        """Index mask (H, W) uint8 of an RGB image; background-mask pixels become 3."""
        height, width = pixels.shape[:2]
        size = self.preset.window
        image = torch.from_numpy(np.require(pixels, requirements=["C", "W"])).to(self.device)
        image = image.permute(2, 0, 1).float().div_(255)
        pad_h, pad_w = max(0, size - height), max(0, size - width)
        if pad_h or pad_w:  # small images: pad with white glass, which MLPS reads as background
            image = F.pad(image, (0, pad_w, 0, pad_h), value=1.0)
        full_h, full_w = image.shape[-2:]
        totals = torch.zeros((3, full_h, full_w), device=self.device)
        counts = torch.zeros((1, full_h, full_w), device=self.device)
        for batch in self._window_batches(full_h, full_w):
            windows = torch.stack([image[:, y : y + size, x : x + size] for y, x in batch])
            if torch.backends.cudnn.benchmark and len(batch) < self.preset.batch_windows:
                # cuDNN's benchmark mode tunes every new input shape; one batch shape, one tuning.
                missing = self.preset.batch_windows - len(batch)
                windows = torch.cat([windows, windows.new_zeros((missing, *windows.shape[1:]))])
            scores = self.window_scores(windows)
            for (y, x), score in zip(batch, scores[: len(batch)], strict=True):
                totals[:, y : y + size, x : x + size] += score
                counts[:, y : y + size, x : x + size] += 1
        mask = (totals / counts).argmax(0)[:height, :width].to(torch.uint8).cpu().numpy()
        if background is not None:
            mask[background.astype(bool)] = BACKGROUND_INDEX
        return mask

    def _window_batches(self, height: int, width: int) -> Iterator[list[tuple[int, int]]]:
        size, stride = self.preset.window, self.preset.stride
        positions = [
            (y, x)
            for y in window_starts(height, size, stride)
            for x in window_starts(width, size, stride)
        ]
        step = self.preset.batch_windows
        for start in range(0, len(positions), step):
            yield positions[start : start + step]


def mask_image(mask: np.ndarray) -> Image.Image:
    """An index mask as a palette image in the official colours."""
    image = Image.fromarray(mask, mode="P")
    image.putpalette(flat_palette())
    return image


def write_mask(mask: np.ndarray, path: Path) -> None:
    """Save an index mask as a palette PNG in the official colours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mask_image(mask).save(path)


def read_background(source: Path | IO[bytes], name: str, shape: tuple[int, int]) -> np.ndarray:
    """A background mask (1 = background), from a file or a stream, as a boolean array.

    `name` names it in the error when its size differs from the image's `shape`.
    """
    with Image.open(source) as image:
        values = np.asarray(image)
    if values.shape[:2] != shape:
        raise ValueError(
            f"{name}: background mask is {values.shape[1]}x{values.shape[0]}, "
            f"the image {shape[1]}x{shape[0]}"
        )
    background: np.ndarray = values == 1
    return background


def predict_folder(
    segmenter: Segmenter,
    image_dir: Path,
    out_dir: Path,
    background_dir: Path | None = None,
    on_image: Callable[[str], None] | None = None,
) -> list[str]:
    """Segment every PNG of image_dir into out_dir (same names); returns the names."""
    names = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() == ".png")
    if not names:
        raise ValueError(f"{image_dir}: no PNG images")
    for name in names:
        pixels = load_rgb(image_dir / name)
        background = None
        if background_dir is not None:
            candidate = background_dir / name
            if not candidate.is_file():
                raise ValueError(f"{name}: no background mask in {background_dir}")
            background = read_background(candidate, name, pixels.shape[:2])
        write_mask(segmenter.predict(pixels, background), out_dir / name)
        if on_image is not None:
            on_image(name)
    return names
