"""Payloads of the tasks the web side sends to the workers: ids only."""

from pydantic import BaseModel, ConfigDict, PositiveInt


class ScoreSubmissionJob(BaseModel):
    """Score one submission; the worker reloads everything else from the database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission_id: PositiveInt


class RunBaselineJob(BaseModel):
    """Predict a phase with a baseline model on a GPU worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: PositiveInt
