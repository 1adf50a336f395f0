"""All tables, imported together so that Alembic sees the whole metadata."""

from app.models.audit import AuditEntry
from app.models.baseline import RUN_STATUSES, BaselineModel, BaselineRun
from app.models.challenge import Challenge, ChallengeOrganizer, Phase
from app.models.submission import STATUSES, Submission
from app.models.team import Team, TeamMember
from app.models.user import ApiToken, LoginAttempt, PasswordReset, User, WebSession

__all__ = [
    "RUN_STATUSES",
    "STATUSES",
    "ApiToken",
    "AuditEntry",
    "BaselineModel",
    "BaselineRun",
    "Challenge",
    "ChallengeOrganizer",
    "LoginAttempt",
    "PasswordReset",
    "Phase",
    "Submission",
    "Team",
    "TeamMember",
    "User",
    "WebSession",
]
