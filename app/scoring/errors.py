"""Errors of the scoring core.

    ScoringError
     ├── SubmissionRejected   the participant's files break a rule; carries every Problem found
     └── GroundTruthError     the organizers' reference data is unusable

MaskFormatError is raised by the PNG decoder without a file name; callers turn it into
a Problem naming the file.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason a submission was refused, naming the archive entry it concerns."""

    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.message}" if self.entry else self.message


class ScoringError(Exception):
    """Base class of the errors the scoring core raises on purpose."""


class SubmissionRejected(ScoringError):
    """The submission breaks the rules; `problems` lists every violation found."""

    def __init__(self, problems: list[Problem], *, omitted: int = 0) -> None:
        self.problems = problems
        self.omitted = omitted
        super().__init__(self.summary())

    def summary(self) -> str:
        """Return all problems as readable lines."""
        lines = [str(problem) for problem in self.problems]
        if self.omitted:
            lines.append(f"... and {self.omitted} more problems")
        return "\n".join(lines)


class GroundTruthError(ScoringError):
    """The reference data is missing, inconsistent or unreadable."""


class MaskFormatError(ValueError):
    """A PNG is not an acceptable mask; the message says what was found."""
