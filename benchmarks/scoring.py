"""Scoring speed: the naive per-image loop against the cold and cached paths.

Run with `make bench`. Uses the real validation split from ../shared when present, or a
synthetic full-scale test split otherwise. A perturbed submission is written in every
accepted encoding, because decoding dominates: unfiltered palette PNGs (the organizers'
own mask format), and Pillow's default grayscale and RGB PNGs, which use adaptive row
filters.

Two comparisons per encoding: in one process (naive loop, cold path, cached server
path), and as whole processes, `wsss4luad score GT SUBMISSION.zip --json` against
`python -m benchmarks.naive_scoring GT FOLDER`, run alternately so that a change of load
hits both.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

from app.scoring import GroundTruthFolder, prepare_ground_truth, score_path
from app.scoring.classes import flat_palette
from app.scoring.metrics import metrics_from_confusion
from benchmarks.naive_scoring import naive_confusion

REAL_VALIDATION = Path(__file__).resolve().parents[2] / "shared" / "wsss4luad" / "validation"


ENCODINGS = (
    ("P", "palette, unfiltered"),
    ("L", "grayscale, Pillow filters"),
    ("RGB", "RGB official colours, Pillow filters"),
)


def naive_score(gt_dir: Path, prediction_dir: Path) -> float | None:
    """Run the naive loop in this process; return its mIoU."""
    return metrics_from_confusion(naive_confusion(gt_dir, prediction_dir)).miou


def best_of(runs: int, action: Callable[[], object]) -> float:
    """Return the fastest wall time of `runs` calls, after one warm-up call."""
    action()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return min(timings)


def write_submission(ground_truth: GroundTruthFolder, out: Path, mode: str) -> None:
    """Write a deterministic perturbed prediction for every image in mode P, L or RGB.

    P and RGB carry the official palette; Pillow writes P rows unfiltered and filters L
    and RGB rows adaptively.
    """
    rng = np.random.default_rng(0)
    out.mkdir(parents=True)
    for image in ground_truth.images:
        mask, _ = ground_truth.load(image.name)
        prediction = np.where(mask == 3, 0, mask).astype(np.uint8)
        for _ in range(4):
            top, left = rng.integers(0, image.height), rng.integers(0, image.width)
            prediction[top : top + image.height // 4, left : left + image.width // 4] = (
                rng.integers(0, 3)
            )
        encoded = Image.fromarray(prediction, "L")
        if mode != "L":
            encoded = encoded.convert("P")
            encoded.putpalette(flat_palette())
        encoded.convert(mode).save(out / image.name)


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip a folder's PNGs at the archive root."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(folder.glob("*.png")):
            handle.write(path, path.name)
    return archive


def peak_rss_mib(gt_dir: Path, submission: Path) -> tuple[float, float]:
    """Return (peak RSS after imports, peak RSS after scoring) of a fresh process, in MiB."""
    # VmHWM, unlike ru_maxrss, starts afresh at exec, so the parent's size does not leak in.
    script = (
        "import re, sys; from pathlib import Path;"
        "from app.scoring import GroundTruthFolder, score_path;"
        "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]);"
        "before = hwm();"
        "score_path(GroundTruthFolder(Path(sys.argv[1])), Path(sys.argv[2]));"
        "print(before / 1024, hwm() / 1024)"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, str(gt_dir), str(submission)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(output[0]), float(output[1])


def machine() -> str:
    """Describe the CPU, core count and library versions."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    cores = len(os.sched_getaffinity(0))
    return (
        f"{cpu}, {cores} cores usable, Python {platform.python_version()}, "
        f"numpy {np.__version__}, Pillow {PIL.__version__}"
    )


def cli_command() -> list[str]:
    """Return the argv prefix that runs `wsss4luad` with this interpreter."""
    script = Path(sys.executable).parent / "wsss4luad"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def timed_process(argv: list[str]) -> tuple[float, float, str]:
    """Run a process; return (wall seconds, CPU seconds, stdout)."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, done.stdout


def whole_process(gt_dir: Path, folder: Path, archive: Path, runs: int) -> dict[str, object]:
    """Time the naive loop and `wsss4luad score --json` as processes, alternately."""
    naive_argv = [sys.executable, "-m", "benchmarks.naive_scoring", str(gt_dir), str(folder)]
    cli_argv = [*cli_command(), "score", str(gt_dir), str(archive), "--json"]
    naive_counts = json.loads(timed_process(naive_argv)[2])
    cli_counts = json.loads(timed_process(cli_argv)[2])["confusion_matrix"]["counts"]
    if naive_counts != cli_counts:
        raise SystemExit("the naive process and the CLI disagree; refusing to report")
    wall: dict[str, list[float]] = {"naive": [], "cli": []}
    cpu: dict[str, list[float]] = {"naive": [], "cli": []}
    for _ in range(runs):
        for key, argv in (("naive", naive_argv), ("cli", cli_argv)):
            seconds, cpu_seconds, _ = timed_process(argv)
            wall[key].append(seconds)
            cpu[key].append(cpu_seconds)
    best = {key: min(values) for key, values in wall.items()}
    median = {key: statistics.median(values) for key, values in wall.items()}
    return {
        "best_seconds": best,
        "median_seconds": median,
        "best_cpu_seconds": {key: min(values) for key, values in cpu.items()},
        "speedup_best": best["naive"] / best["cli"],
        "speedup_median": median["naive"] / median["cli"],
    }


def load_average() -> float:
    """Return the 1-minute load average (0 where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def run(gt_dir: Path, label: str, runs: int, work: Path) -> dict[str, object]:
    """Measure every path for both encodings; return the figures."""
    ground_truth = GroundTruthFolder(gt_dir)
    pixels = sum(image.pixels for image in ground_truth.images)
    prepared = prepare_ground_truth(ground_truth, work / "prepared")
    figures: dict[str, object] = {
        "data": label,
        "images": len(ground_truth.images),
        "mpx": pixels / 1e6,
        "encodings": {},
        "load_before": load_average(),
    }
    for mode, name in ENCODINGS:
        folder = work / f"pred-{mode}"
        write_submission(ground_truth, folder, mode)
        archive = zip_folder(folder, work / f"pred-{mode}.zip")
        reference = score_path(ground_truth, archive).miou
        if naive_score(gt_dir, folder) != reference:
            raise SystemExit("the naive loop and the scorer disagree; refusing to report")
        timings = {
            "naive": best_of(runs, partial(naive_score, gt_dir, folder)),
            "cold": best_of(runs, partial(score_path, ground_truth, archive)),
            "cached": best_of(runs, partial(score_path, prepared, archive)),
        }
        before, after = peak_rss_mib(gt_dir, archive)
        processes = whole_process(gt_dir, folder, archive, runs)
        figures["encodings"][name] = {  # type: ignore[index]
            "seconds": timings,
            "mpx_per_s": {key: pixels / 1e6 / value for key, value in timings.items()},
            "speedup": {key: timings["naive"] / value for key, value in timings.items()},
            "miou": reference,
            "peak_rss_mib": {"after_imports": before, "after_cold_scoring": after},
            "whole_process": processes,
        }
    figures["load_after"] = load_average()
    return figures


def markers(key: str) -> tuple[str, str]:
    """Return the comments that delimit one dataset's section of the document."""
    return f"<!-- bench:scoring:{key}:start -->", f"<!-- bench:scoring:{key}:end -->"


def render(figures: dict[str, object], start: str, end: str) -> str:
    """Render the figures as a Markdown section of docs/performance.md."""
    lines = [
        start,
        f"### Scoring: {figures['data']}",
        "",
        f"Measured {figures['measured_at']} on {figures['machine']}.",
        f"Load average {figures['load_before']:.1f} before, {figures['load_after']:.1f} after.",
        f"Data: {figures['data']}: {figures['images']} images, {figures['mpx']:.1f} Mpx. "
        "Times are the best of several runs, zip archives at the root.",
        "",
        "| submission encoding | path | seconds | Mpx/s | x naive | peak RSS |",
        "|---|---|---:|---:|---:|---:|",
    ]
    encodings = figures["encodings"]
    assert isinstance(encodings, dict)
    for name, entry in encodings.items():
        rss = entry["peak_rss_mib"]
        for path in ("naive", "cold", "cached"):
            memory = (
                f"{rss['after_cold_scoring']:.0f} MiB (imports {rss['after_imports']:.0f})"
                if path == "cold"
                else ""
            )
            lines.append(
                f"| {name} | {path} | {entry['seconds'][path]:.3f} | "
                f"{entry['mpx_per_s'][path]:.0f} | {entry['speedup'][path]:.1f} | {memory} |"
            )
    lines += [
        "",
        "Whole process: `wsss4luad score GT SUBMISSION.zip --json` against the naive loop "
        "as its own process (`python -m benchmarks.naive_scoring GT FOLDER`), run "
        "alternately; wall seconds, best and median, and the best CPU seconds.",
        "",
        "| submission encoding | naive best | CLI best | x naive (best) | naive median | "
        "CLI median | x naive (median) | naive CPU | CLI CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in encodings.items():
        whole = entry["whole_process"]
        best, median = whole["best_seconds"], whole["median_seconds"]
        cpu = whole["best_cpu_seconds"]
        lines.append(
            f"| {name} | {best['naive']:.3f} | {best['cli']:.3f} | {whole['speedup_best']:.1f} | "
            f"{median['naive']:.3f} | {median['cli']:.3f} | {whole['speedup_median']:.1f} | "
            f"{cpu['naive']:.2f} | {cpu['cli']:.2f} |"
        )
    lines += ["", f"Reproduce: `{figures['command']}`", end]
    return "\n".join(lines)


def update_document(document: Path, section: str, start: str, end: str) -> None:
    """Replace the section between start and end, or append it."""
    text = document.read_text() if document.exists() else "# Performance\n\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    document.write_text(text)


def main() -> None:
    """Run the benchmark, print the figures and record them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path, help="Markdown file to record the figures in")
    parser.add_argument("--synthetic", action="store_true", help="ignore the real data")
    parser.add_argument(
        "--demo-data",
        type=Path,
        help="with --synthetic: reuse the make-demo-data --scale full folder here (made if absent)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wsss4luad-bench-") as scratch:
        work = Path(scratch)
        synthetic = args.synthetic or not REAL_VALIDATION.is_dir()
        if not synthetic:
            gt_dir, label = REAL_VALIDATION, "real WSSS4LUAD validation split"
        else:
            from app.devtools.demo_data import make_demo_data

            demo = args.demo_data or work / "demo"
            if not (demo / "3.testing").is_dir():
                make_demo_data(demo, seed=0, scale="full")
            gt_dir, label = demo / "3.testing", "synthetic full-scale test split"
        figures = run(gt_dir, label, args.runs, work)
    figures["machine"] = machine()
    figures["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures["command"] = "make bench" + (" BENCH_ARGS=--synthetic" if synthetic else "")
    print(json.dumps(figures, indent=2))
    if args.write:
        start, end = markers("synthetic-test" if synthetic else "real-validation")
        update_document(args.write, render(figures, start, end), start, end)
        print(f"recorded in {args.write}")


if __name__ == "__main__":
    main()
