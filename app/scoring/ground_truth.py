"""Phase ground truth: the official folder layout, and a prepared form for fast scoring.

A ground-truth folder follows the layout of the released `2.validation/` and `3.testing/`
splits: `mask/NN.png` (indices 0 tumor, 1 stroma, 2 normal, 3 background) and
`background-mask/NN.png` (1 = background), optionally `img/`.

The prepared form folds the background mask into the mask once, so scoring decodes only
the prediction: one uint8 `.npy` target per image (3 where a pixel is not evaluated),
memory-mapped when read, plus a manifest with the image sizes and class pixel counts.
"""

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, cast

import numpy as np

from app.scoring.classes import BACKGROUND, LABEL_NAMES
from app.scoring.errors import GroundTruthError, MaskFormatError
from app.scoring.png import HEADER_BYTES, IndexArray, decode_mask, read_header

PREPARED_FORMAT: Final = 1
MANIFEST: Final = "manifest.json"


@dataclass(frozen=True)
class ReferenceImage:
    """One image of a phase: its file name and size."""

    name: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Return width x height."""
        return self.width * self.height


class GroundTruth(Protocol):
    """What the scorer needs from a phase's reference data."""

    @property
    def images(self) -> tuple[ReferenceImage, ...]:
        """All images of the phase, sorted by name."""
        ...

    def load(self, name: str) -> tuple[IndexArray, IndexArray | None]:
        """Return (target, background) for an image; background None when folded in."""
        ...


def image_sizes(ground_truth: GroundTruth) -> dict[str, tuple[int, int]]:
    """Return {file name: (width, height)} for every image of the phase."""
    return {image.name: (image.width, image.height) for image in ground_truth.images}


class GroundTruthFolder:
    """Ground truth read from the official folder layout, decoded on every load."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mask_dir = root / "mask"
        self.background_dir = root / "background-mask"
        for folder in (self.mask_dir, self.background_dir):
            if not folder.is_dir():
                raise GroundTruthError(
                    f"{folder}: folder not found; expected the official layout with mask/ "
                    "and background-mask/"
                )
        names = sorted(p.name for p in self.mask_dir.iterdir() if p.suffix.lower() == ".png")
        if not names:
            raise GroundTruthError(f"{self.mask_dir}: no PNG masks found")
        missing = [n for n in names if not (self.background_dir / n).is_file()]
        if missing:
            raise GroundTruthError(
                f"{self.background_dir}: no background mask for {', '.join(missing[:10])}"
            )
        self._images = tuple(self._reference(name) for name in names)
        self._by_name = {image.name: image for image in self._images}

    def _reference(self, name: str) -> ReferenceImage:
        mask = _read_header(self.mask_dir / name)
        background = _read_header(self.background_dir / name)
        if background != mask:
            raise GroundTruthError(
                f"{self.background_dir / name}: size {background[0]}x{background[1]} differs "
                f"from its mask ({mask[0]}x{mask[1]})"
            )
        return ReferenceImage(name, *mask)

    @property
    def images(self) -> tuple[ReferenceImage, ...]:
        """All images of the phase, sorted by name."""
        return self._images

    def load(self, name: str) -> tuple[IndexArray, IndexArray | None]:
        """Decode an image's mask and background mask."""
        image = self._by_name[name]
        size = (image.width, image.height)
        mask = _decode(self.mask_dir / name, size, max_value=BACKGROUND)
        background = _decode(self.background_dir / name, size, max_value=255)
        return mask, background


class PreparedGroundTruth:
    """Ground truth prepared by `prepare_ground_truth`: targets memory-mapped from .npy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise GroundTruthError(f"{root / MANIFEST}: unreadable ({error})") from None
        if manifest.get("format") != PREPARED_FORMAT:
            raise GroundTruthError(
                f"{root}: prepared with format {manifest.get('format')}, this version reads "
                f"{PREPARED_FORMAT}; prepare the phase again"
            )
        self.manifest: dict[str, Any] = manifest
        try:
            self._images = tuple(
                ReferenceImage(str(entry["name"]), int(entry["width"]), int(entry["height"]))
                for entry in manifest["images"]
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GroundTruthError(f"{root / MANIFEST}: malformed ({error!r})") from None
        self._by_name = {image.name: image for image in self._images}

    @property
    def images(self) -> tuple[ReferenceImage, ...]:
        """All images of the phase, sorted by name."""
        return self._images

    def load(self, name: str) -> tuple[IndexArray, IndexArray | None]:
        """Memory-map an image's target array; the background is already folded in."""
        image = self._by_name[name]
        path = self.root / "targets" / f"{name}.npy"
        try:
            target = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise GroundTruthError(f"{path}: unreadable ({error})") from None
        if target.dtype != np.uint8 or target.shape != (image.height, image.width):
            raise GroundTruthError(
                f"{path}: holds {target.dtype} {target.shape}, expected uint8 "
                f"({image.height}, {image.width}); prepare the phase again"
            )
        return cast(IndexArray, target), None


def prepare_ground_truth(source: GroundTruthFolder, out_dir: Path) -> PreparedGroundTruth:
    """Fold each background mask into its mask and store the targets; replaces out_dir whole.

    The new folder is written beside out_dir and renamed into place, so a reader never
    sees a half-written phase.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex}.tmp"
    (staging / "targets").mkdir(parents=True)
    try:
        entries = []
        for image in source.images:
            mask, background = source.load(image.name)
            target = mask.copy()
            if background is not None:
                target[background == 1] = BACKGROUND
            np.save(staging / "targets" / f"{image.name}.npy", target)
            counts = np.bincount(target.ravel(), minlength=4)
            entries.append(
                {
                    "name": image.name,
                    "width": image.width,
                    "height": image.height,
                    "pixels": {label: int(counts[i]) for i, label in enumerate(LABEL_NAMES)},
                }
            )
        manifest = {"format": PREPARED_FORMAT, "images": entries}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PreparedGroundTruth(out_dir)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    retired = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex}.old"
    os.replace(out_dir, retired)
    os.replace(staging, out_dir)
    shutil.rmtree(retired, ignore_errors=True)


def _read_header(path: Path) -> tuple[int, int]:
    try:
        with path.open("rb") as handle:
            return read_header(handle.read(HEADER_BYTES)).size
    except (OSError, MaskFormatError) as error:
        raise GroundTruthError(f"{path}: {error}") from None


def _decode(path: Path, size: tuple[int, int], *, max_value: int) -> IndexArray:
    try:
        return decode_mask(path.read_bytes(), expected_size=size, max_value=max_value)
    except (OSError, MaskFormatError) as error:
        raise GroundTruthError(f"{path}: {error}") from None
