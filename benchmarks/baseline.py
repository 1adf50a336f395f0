"""Inference throughput of the MLPS baseline (`make bench-baseline`).

Times `Segmenter.predict` (both stages, sliding windows, stitching) with the full preset's
random weights (speed does not depend on the weights) over the real validation images
from ../shared when present, or over images of the synthetic test split's exact sizes
(80 images, 101.4 Mpx; random pixels). Writes its figures into docs/performance.md.
"""

import argparse
import dataclasses
import platform
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from app.devtools.demo_data import split_sizes
from reference_models.mlps.checkpoint import Checkpoint
from reference_models.mlps.inference import Segmenter
from reference_models.mlps.presets import get_preset

REAL_IMAGES = Path(__file__).resolve().parents[2] / "shared/wsss4luad/validation/img"
START, END = "<!-- bench-baseline:{key}:start -->", "<!-- bench-baseline:{key}:end -->"


def images_from(folder: Path, limit: int | None) -> list[tuple[str, np.ndarray]]:
    """The folder's PNGs as RGB arrays, smallest names first."""
    names = sorted(p.name for p in folder.glob("*.png"))[:limit]
    loaded = []
    for name in names:
        with Image.open(folder / name) as image:
            loaded.append((name, np.asarray(image.convert("RGB"))))
    return loaded


def synthetic_split(
    split: Literal["validation", "test"], limit: int | None
) -> list[tuple[str, np.ndarray]]:
    """Random pixels in the sizes of a full-scale split (the content does not change speed)."""
    rng = np.random.default_rng(0)
    sizes = split_sizes(split)[:limit]
    return [
        (f"{index:02d}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for index, (w, h) in enumerate(sizes)
    ]


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model and core count."""
    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    cpu = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def measure(
    segmenter: Segmenter, images: list[tuple[str, np.ndarray]], device: str
) -> dict[str, float]:
    """Seconds, images/s and Mpx/s of one pass over the images (after a warm-up)."""
    segmenter.predict(images[0][1])
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _, pixels in images:
        segmenter.predict(pixels)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    pixels = sum(p.shape[0] * p.shape[1] for _, p in images)
    figures = {
        "images": len(images),
        "mpx": pixels / 1e6,
        "seconds": seconds,
        "images_per_s": len(images) / seconds,
        "mpx_per_s": pixels / 1e6 / seconds,
    }
    if device == "cuda":
        figures["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return figures


def render(figures: dict[str, float], source: str, machine: str, preset: str, batch: int) -> str:
    """A markdown table of one measurement."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tuning = ", cuDNN benchmark mode" if torch.backends.cudnn.benchmark else ""
    rows = [
        f"Measured {stamp} on {machine}; {preset} preset (random weights), windows of "
        f"{get_preset(preset).window} px with stride {get_preset(preset).stride}, "
        f"{batch} windows per batch{tuning}; images: {source}.",
        "",
        "| images | Mpx | seconds | images/s | Mpx/s |"
        + (" peak GPU memory |" if "peak_gib" in figures else ""),
        "|---:|---:|---:|---:|---:|" + ("---:|" if "peak_gib" in figures else ""),
        f"| {figures['images']:.0f} | {figures['mpx']:.1f} | {figures['seconds']:.2f} | "
        f"{figures['images_per_s']:.2f} | {figures['mpx_per_s']:.2f} |"
        + (f" {figures['peak_gib']:.1f} GiB |" if "peak_gib" in figures else ""),
    ]
    return "\n".join(rows)


def write(document: Path, key: str, text: str) -> None:
    """Replace (or append) the section between this key's markers."""
    start, end = START.format(key=key), END.format(key=key)
    current = document.read_text() if document.exists() else ""
    block = f"{start}\n{text}\n{end}"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + f"\n\n{block}\n"
    document.write_text(current)


def main() -> None:
    """Parse the arguments, measure, print and optionally record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--images", type=Path, default=REAL_IMAGES)
    parser.add_argument(
        "--synthetic",
        choices=("validation", "test"),
        default=None,
        help="Images of this full-scale split's sizes (validation 65.9 Mpx, test 101.4 Mpx).",
    )
    parser.add_argument("--limit", type=int, default=None, help="Only the first N images.")
    parser.add_argument("--batch", type=int, default=None, help="Windows per batch.")
    parser.add_argument(
        "--cudnn-benchmark", action="store_true", help="Let cuDNN tune kernels per shape."
    )
    parser.add_argument("--write", type=Path, default=None, help="Record in this document.")
    parser.add_argument("--key", default=None, help="Section key (default: the device).")
    args = parser.parse_args()

    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    checkpoint = Checkpoint.initialised(get_preset(args.preset))
    segmenter = Segmenter(checkpoint, args.device)
    if args.batch:
        segmenter.preset = dataclasses.replace(segmenter.preset, batch_windows=args.batch)
    if args.synthetic or not args.images.is_dir():
        split: Literal["validation", "test"] = args.synthetic or "test"
        images = synthetic_split(split, args.limit)
        total = len(split_sizes(split))
        source = f"{len(images)} of the {total} image sizes of the {split} split, random pixels"
    else:
        images = images_from(args.images, args.limit)
        source = f"{len(images)} real validation images from {args.images.name}/"
    figures = measure(segmenter, images, args.device)
    text = render(
        figures, source, device_name(args.device), args.preset, segmenter.preset.batch_windows
    )
    print(text)
    if args.write:
        write(args.write, args.key or args.device, text)


if __name__ == "__main__":
    main()
