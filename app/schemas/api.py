"""Request and response bodies of the REST API (`/api/v1`)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.models.enums import ModerationAction, SubmissionStatus, TeamStatus


class ErrorRead(BaseModel):
    """Every error answer: a readable message, and per-field or per-entry problems."""

    detail: str
    errors: dict[str, str] | None = None
    problems: list[str] | None = None
    retry_at: datetime | None = None


class JoinRequest(BaseModel):
    """Register the caller's team for a challenge."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=2, max_length=80, description="Team name")
    accept_rules: bool = Field(
        default=True, description="Registering through the API accepts the challenge rules"
    )


class TeamRead(BaseModel):
    """A team's registration."""

    id: int
    name: str
    status: TeamStatus
    invite_code: str


class ClassIou(BaseModel):
    """IoU per tissue class (null when the class has an empty union)."""

    tumor: float | None
    stroma: float | None
    normal: float | None


class Scores(BaseModel):
    """The ranking score and its parts."""

    miou: float | None
    iou: ClassIou


class SubmissionRead(BaseModel):
    """A submission's state, and its scores once scored."""

    id: int
    status: SubmissionStatus
    challenge: str
    phase: str
    team: str
    method_name: str
    created_at: datetime
    finished_at: datetime | None
    scores: Scores | None = None
    error: str | None = None


class LeaderboardRowRead(BaseModel):
    """One team's line; baseline rows have no rank."""

    rank: int | None
    team: str
    miou: float
    iou: ClassIou
    baseline: bool
    entries: int
    method_name: str
    submitted_at: datetime


class LeaderboardRead(BaseModel):
    """The leaderboard of a phase, in rank order."""

    challenge: str
    phase: str
    rows: list[LeaderboardRowRead]


class RemainingRead(BaseModel):
    """Submissions a team may still make (null: no limit)."""

    today: int | None
    total: int | None
    used_today: int
    used_total: int
    resets_at: datetime


class ModerationRequest(BaseModel):
    """Hide, unhide, disqualify or requalify a submission."""

    model_config = ConfigDict(extra="forbid")

    action: ModerationAction
    reason: str = Field(default="", max_length=1000)


class RescoreRead(BaseModel):
    """The submissions a rescore queued again."""

    queued: list[int]
