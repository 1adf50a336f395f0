"""Exports for organizers: the leaderboard and all submissions as CSV, and the leaderboard as
a LaTeX table in the layout of the challenge paper (Team, mIoU, Tumor, Normal, Stroma; the
best value of each column in bold)."""

import csv
import io
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Phase, Submission
from app.services.leaderboard import LeaderboardRow

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """Neutralise text that a spreadsheet would run as a formula (CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def leaderboard_csv(rows: Iterable[LeaderboardRow]) -> str:
    """Return the leaderboard as CSV, in rank order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "rank",
            "team",
            "baseline",
            "miou",
            "tumor",
            "stroma",
            "normal",
            "entries",
            "submission_id",
            "method",
            "submitted_at",
        ]
    )
    for row in rows:
        writer.writerow(
            [
                row.rank or "",
                _cell(row.team),
                int(row.baseline),
                _score(row.miou),
                _score(row.tumor),
                _score(row.stroma),
                _score(row.normal),
                row.entries,
                row.submission_id,
                _cell(row.method_name),
                row.submitted_at.isoformat(),
            ]
        )
    return out.getvalue()


def submissions_csv(*, session: Session, phase: Phase) -> str:
    """Return every submission of a phase as CSV, with its team, status, scores and flags."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "id",
            "team",
            "submitted_by",
            "status",
            "created_at",
            "method",
            "miou",
            "tumor",
            "stroma",
            "normal",
            "hidden",
            "disqualified",
            "reason",
            "error",
            "archive_sha256",
        ]
    )
    for submission in session.scalars(
        select(Submission).where(Submission.phase_id == phase.id).order_by(Submission.id)
    ):
        writer.writerow(
            [
                submission.id,
                _cell(submission.team.name),
                _cell(submission.user.email) if submission.user else "",
                submission.status,
                submission.created_at.isoformat(),
                _cell(submission.method_name),
                _score(submission.miou),
                _score(submission.iou_tumor),
                _score(submission.iou_stroma),
                _score(submission.iou_normal),
                int(submission.hidden),
                int(submission.disqualified),
                _cell(submission.moderation_reason),
                _cell(submission.error),
                submission.archive_sha256,
            ]
        )
    return out.getvalue()


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in a team name."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def leaderboard_latex(rows: list[LeaderboardRow], caption: str) -> str:
    """Return a booktabs table: Team, mIoU, Tumor, Normal, Stroma; column maxima in bold."""
    columns = ("miou", "tumor", "normal", "stroma")
    best = {
        column: max((getattr(row, column) or 0.0 for row in rows), default=0.0)
        for column in columns
    }
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(caption)}}}",
        r"\begin{tabular}{lcccc}",
        r"\toprule",
        r"Team & mIoU & Tumor & Normal & Stroma \\",
        r"\midrule",
    ]
    for row in rows:
        cells = [latex_escape(row.team) + (" (baseline)" if row.baseline else "")]
        for column in columns:
            value = getattr(row, column)
            text = _score(value) or "--"
            if value is not None and round(value, 4) == round(best[column], 4):
                text = rf"\textbf{{{text}}}"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)
