"""All tables, imported together so that Alembic sees the whole metadata."""

from app.models.audit import AuditEntry
from app.models.baseline import BaselineModel, BaselineRun
from app.models.challenge import Challenge, ChallengeOrganizer, Phase
from app.models.enums import (
    COUNTED_STATUSES,
    PENDING_RUN_STATUSES,
    SETTLED_STATUSES,
    Counting,
    ExternalData,
    LeaderboardVisibility,
    ModerationAction,
    PhaseState,
    RegistrationMode,
    RunStatus,
    SubmissionStatus,
    TeamStatus,
)
from app.models.submission import Submission
from app.models.team import Team, TeamMember
from app.models.user import ApiToken, LoginAttempt, PasswordReset, User, WebSession

__all__ = [
    "COUNTED_STATUSES",
    "PENDING_RUN_STATUSES",
    "SETTLED_STATUSES",
    "ApiToken",
    "AuditEntry",
    "BaselineModel",
    "BaselineRun",
    "Challenge",
    "ChallengeOrganizer",
    "Counting",
    "ExternalData",
    "LeaderboardVisibility",
    "LoginAttempt",
    "ModerationAction",
    "PasswordReset",
    "Phase",
    "PhaseState",
    "RegistrationMode",
    "RunStatus",
    "Submission",
    "SubmissionStatus",
    "Team",
    "TeamMember",
    "TeamStatus",
    "User",
    "WebSession",
]
