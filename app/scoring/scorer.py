"""Score a submission against a phase's ground truth, image by image on a thread pool.

Decoding (zlib-ng, Pillow) and counting (numpy) release the GIL, so threads use every
core. Each task holds one image's arrays and returns only its small confusion matrix:
memory is bounded by the largest images in flight, not by the phase.
"""

import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.scoring.archive import MAX_PROBLEMS, Submission
from app.scoring.errors import MaskFormatError, Problem, SubmissionRejected
from app.scoring.ground_truth import GroundTruth, ReferenceImage, image_sizes
from app.scoring.metrics import (
    ConfusionMatrix,
    Metrics,
    count_confusion,
    empty_confusion,
    metrics_from_confusion,
)
from app.scoring.png import decode_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageScore:
    """The metrics of one image of the phase."""

    name: str
    width: int
    height: int
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "width": self.width, "height": self.height} | (
            self.metrics.to_dict()
        )


@dataclass(frozen=True)
class ScoreResult:
    """The phase-level metrics (one pooled confusion matrix) and the per-image breakdown."""

    metrics: Metrics
    images: tuple[ImageScore, ...]

    @property
    def miou(self) -> float | None:
        """Return the mean IoU over tumor, stroma and normal."""
        return self.metrics.miou

    @property
    def iou(self) -> Mapping[str, float | None]:
        """Return the per-class IoU."""
        return self.metrics.iou

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: the phase metrics plus an `images` list."""
        return self.metrics.to_dict() | {"images": [image.to_dict() for image in self.images]}


def default_threads() -> int:
    """Return the number of cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def score_path(ground_truth: GroundTruth, path: Path, *, threads: int | None = None) -> ScoreResult:
    """Check and score a submission zip or folder; raise SubmissionRejected on bad input."""
    with Submission(path, image_sizes(ground_truth)) as submission:
        return score_submission(ground_truth, submission, threads=threads)


def score_submission(
    ground_truth: GroundTruth, submission: Submission, *, threads: int | None = None
) -> ScoreResult:
    """Score an already-checked submission; every undecodable mask is reported together."""
    images = sorted(ground_truth.images, key=lambda image: -image.pixels)

    def score_image(image: ReferenceImage) -> ConfusionMatrix | Problem:
        entry = submission.entry_name(image.name)
        try:
            prediction = decode_mask(
                submission.read(image.name), expected_size=(image.width, image.height)
            )
        except MaskFormatError as error:
            return Problem(entry, str(error))
        except Exception:
            # A decoder failure nobody anticipated is still the file's fault, not the
            # scorer's: report it against the file and keep the traceback for operators.
            logger.exception("unexpected error decoding %s", entry)
            return Problem(entry, "could not be decoded as a PNG mask")
        target, background = ground_truth.load(image.name)
        return count_confusion(target, prediction, background)

    workers = max(1, min(threads or default_threads(), len(images)))
    with ThreadPoolExecutor(workers, thread_name_prefix="score") as pool:
        outcomes = dict(zip((i.name for i in images), pool.map(score_image, images), strict=True))

    problems = [outcome for outcome in outcomes.values() if isinstance(outcome, Problem)]
    if problems:
        problems.sort(key=lambda problem: problem.entry)
        raise SubmissionRejected(
            problems[:MAX_PROBLEMS], omitted=max(0, len(problems) - MAX_PROBLEMS)
        )

    total = empty_confusion()
    per_image = []
    for image in sorted(ground_truth.images, key=lambda image: image.name):
        confusion = outcomes[image.name]
        assert isinstance(confusion, np.ndarray)
        total += confusion
        per_image.append(
            ImageScore(image.name, image.width, image.height, metrics_from_confusion(confusion))
        )
    return ScoreResult(metrics_from_confusion(total), tuple(per_image))
