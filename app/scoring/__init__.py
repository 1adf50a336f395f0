"""The pure scoring core: numpy, Pillow and the standard library only."""

from app.scoring.archive import Submission, check_submission
from app.scoring.errors import (
    GroundTruthError,
    MaskFormatError,
    Problem,
    ScoringError,
    SubmissionRejected,
)
from app.scoring.ground_truth import (
    GroundTruth,
    GroundTruthFolder,
    PreparedGroundTruth,
    ReferenceImage,
    image_sizes,
    prepare_ground_truth,
)
from app.scoring.metrics import Metrics, count_confusion, metrics_from_confusion
from app.scoring.png import decode_mask
from app.scoring.scorer import ImageScore, ScoreResult, score_path, score_submission

__all__ = [
    "GroundTruth",
    "GroundTruthError",
    "GroundTruthFolder",
    "ImageScore",
    "MaskFormatError",
    "Metrics",
    "PreparedGroundTruth",
    "Problem",
    "ReferenceImage",
    "ScoreResult",
    "ScoringError",
    "Submission",
    "SubmissionRejected",
    "check_submission",
    "count_confusion",
    "decode_mask",
    "image_sizes",
    "metrics_from_confusion",
    "prepare_ground_truth",
    "score_path",
    "score_submission",
]
