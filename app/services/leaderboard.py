"""Leaderboards: one row per team, ranked by mIoU, ties broken by the earlier submission.

Which submission of a team ranks follows the phase's rule (best, latest, or the team's
choice, falling back to the latest when none is chosen). Baseline teams are shown in
score order without a rank. Rows are cached per phase and recomputed only when the
phase's leaderboard_version changes, which happens whenever a score lands.
"""

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import Phase, Submission, Team

SORTABLE = ("rank", "team", "miou", "tumor", "stroma", "normal", "entries", "submitted_at")


@dataclass(frozen=True)
class LeaderboardRow:
    """One team's line on a leaderboard."""

    rank: int | None
    team: str
    team_id: int
    baseline: bool
    submission_id: int
    miou: float
    tumor: float | None
    stroma: float | None
    normal: float | None
    method_name: str
    entries: int
    submitted_at: datetime


_cache: dict[tuple[int, float], tuple[int, tuple[LeaderboardRow, ...]]] = {}
_cache_lock = threading.Lock()


def invalidate(*, session: Session, phase: Phase) -> None:
    """Mark the phase's leaderboard as changed (an atomic increment in the database).

    An UPDATE ... SET v = v + 1 rather than a read-modify-write, so two scores landing at
    once can never write the same version and leave a stale cache behind.
    """
    session.execute(
        update(Phase)
        .where(Phase.id == phase.id)
        .values(leaderboard_version=Phase.leaderboard_version + 1)
    )
    session.expire(phase, ["leaderboard_version"])


def leaderboard(*, session: Session, phase: Phase) -> tuple[LeaderboardRow, ...]:
    """Return the phase's rows in rank order, from the cache when it is current."""
    # The creation time guards against a recreated database reusing a phase id.
    key = (phase.id, phase.created_at.timestamp())
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == phase.leaderboard_version:
        return cached[1]
    rows = compute_leaderboard(session=session, phase=phase)
    with _cache_lock:
        _cache[key] = (phase.leaderboard_version, rows)
    return rows


def compute_leaderboard(*, session: Session, phase: Phase) -> tuple[LeaderboardRow, ...]:
    """Build the rows from the database."""
    scored = list(
        session.execute(
            select(Submission, Team)
            .join(Team, Submission.team_id == Team.id)
            .where(
                Submission.phase_id == phase.id,
                Submission.status == "scored",
                Submission.miou.is_not(None),
                Submission.hidden.is_(False),
                Submission.disqualified.is_(False),
            )
            .order_by(Submission.created_at, Submission.id)
        )
    )
    entries = {
        team_id: count
        for team_id, count in session.execute(
            select(Submission.team_id, func.count(Submission.id))
            .where(
                Submission.phase_id == phase.id,
                Submission.status == "scored",
                Submission.hidden.is_(False),
                Submission.disqualified.is_(False),
            )
            .group_by(Submission.team_id)
        )
    }
    by_team: dict[int, list[tuple[Submission, Team]]] = {}
    for submission, team in scored:
        by_team.setdefault(team.id, []).append((submission, team))
    chosen = [_counted(phase.counting, items) for items in by_team.values()]
    chosen.sort(key=lambda item: (-(item[0].miou or 0.0), item[0].created_at, item[0].id))
    rows = []
    rank = 0
    for submission, team in chosen:
        if not team.is_baseline:
            rank += 1
        rows.append(
            LeaderboardRow(
                rank=None if team.is_baseline else rank,
                team=team.name,
                team_id=team.id,
                baseline=team.is_baseline,
                submission_id=submission.id,
                miou=submission.miou or 0.0,
                tumor=submission.iou_tumor,
                stroma=submission.iou_stroma,
                normal=submission.iou_normal,
                method_name=submission.method_name,
                entries=entries.get(team.id, 0),
                submitted_at=submission.created_at,
            )
        )
    return tuple(rows)


def _counted(rule: str, items: list[tuple[Submission, Team]]) -> tuple[Submission, Team]:
    """Pick the submission that ranks; `items` are in submission order."""
    if rule == "latest":
        return items[-1]
    if rule == "selected":
        selected = [item for item in items if item[0].selected]
        return selected[-1] if selected else items[-1]
    return max(items, key=lambda item: (item[0].miou or 0.0, -item[0].created_at.timestamp()))


def sort_rows(rows: tuple[LeaderboardRow, ...], key: str, descending: bool) -> list[LeaderboardRow]:
    """Sort rows by a column; missing values always go last."""
    if key not in SORTABLE or key == "rank":
        return list(rows) if not descending else list(reversed(rows))
    present = [row for row in rows if getattr(row, key) is not None]
    missing = [row for row in rows if getattr(row, key) is None]
    if key == "team":
        present.sort(key=lambda row: row.team.casefold(), reverse=descending)
    else:
        present.sort(key=lambda row: getattr(row, key), reverse=descending)
    return present + missing
