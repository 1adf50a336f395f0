"""The closed sets of values that rows, schemas, forms and templates share.

StrEnum members compare equal to their values, so a row read back, a form field and a
template literal all agree; the database stores the plain value.
"""

from enum import StrEnum


class SubmissionStatus(StrEnum):
    """Where a submission is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SCORED = "scored"
    FAILED = "failed"
    CANCELLED = "cancelled"


COUNTED_STATUSES = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING, SubmissionStatus.SCORED)
"""Statuses that use up a team's quota: failed and cancelled submissions do not."""

SETTLED_STATUSES = (SubmissionStatus.SCORED, SubmissionStatus.FAILED, SubmissionStatus.CANCELLED)
"""Statuses a submission never leaves on its own."""


class RunStatus(StrEnum):
    """Where a baseline run is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


PENDING_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class TeamStatus(StrEnum):
    """An organizer's decision on a team's registration."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class RegistrationMode(StrEnum):
    """Whether teams are approved at once or wait for an organizer."""

    AUTO = "auto"
    MANUAL = "manual"


class LeaderboardVisibility(StrEnum):
    """Who sees a phase's leaderboard."""

    PUBLIC = "public"
    AFTER_END = "after_end"
    ORGANIZERS = "organizers"


class Counting(StrEnum):
    """Which submission of a team ranks on the leaderboard."""

    BEST = "best"
    LATEST = "latest"
    SELECTED = "selected"


class PhaseState(StrEnum):
    """Whether a phase takes submissions, from its dates."""

    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


class ExternalData(StrEnum):
    """A team's declaration of the data its method used beyond the training set."""

    NONE = "none"
    OTHER = "other"


class ModerationAction(StrEnum):
    """What an organizer can do to a submission's place on the leaderboard."""

    HIDE = "hide"
    UNHIDE = "unhide"
    DISQUALIFY = "disqualify"
    REQUALIFY = "requalify"
