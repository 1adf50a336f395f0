"""Leaderboards: one row per team, ranked by mIoU, ties broken by the earlier submission.

Which submission of a team ranks follows the phase's rule (best, latest, or the team's
choice, falling back to the latest when none is chosen). Baseline teams are shown in
score order without a rank. Rows are cached per phase and recomputed only when the
phase's leaderboard_version changes, which happens whenever a score lands.

A BoardStamp names everything a public view of a leaderboard is made of besides its rows;
read_stamp() reads it with one light query (no ORM objects, none of the phase's large JSON
columns), so that the web layer can serve a page it rendered before while it is current.
"""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import Challenge, Counting, Phase, Submission, SubmissionStatus, Team

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
_computing: dict[tuple[int, float], threading.Lock] = {}


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
    """Return the phase's rows in rank order, from the cache when it is current.

    When a score lands, every request in flight finds the cache stale at once; one of
    them recomputes while the others wait for its rows instead of each recomputing. A
    waiter holds only a read transaction: on PostgreSQL it blocks nobody, and on SQLite,
    where every transaction holds the write lock, the transaction begun here before the
    wait means no two threads are ever in here at once.
    """
    session.connection()  # begin the transaction (see above) before any wait
    # The creation time guards against a recreated database reusing a phase id.
    key = (phase.id, phase.created_at.timestamp())
    version = phase.leaderboard_version
    with _cache_lock:
        cached = _cache.get(key)
        computing = _computing.setdefault(key, threading.Lock())
    if cached is not None and cached[0] == version:
        return cached[1]
    with computing:
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        rows = compute_leaderboard(session=session, phase=phase)
        with _cache_lock:
            current = _cache.get(key)
            if current is None or current[0] <= version:  # never replace newer rows
                _cache[key] = (version, rows)
    return rows


_CHALLENGE_COLUMNS = (Challenge.id, Challenge.slug, Challenge.title)
# Every phase column a public leaderboard page or answer shows or depends on (the header
# lists all phases of the challenge). A column added to those views must be added here.
_PHASE_COLUMNS = (
    Phase.id,
    Phase.slug,
    Phase.title,
    Phase.starts_at,
    Phase.ends_at,
    Phase.leaderboard_visibility,
    Phase.counting,
    Phase.image_count,
    Phase.leaderboard_version,
    Phase.created_at,
)
_PHASE_FIELDS = tuple(column.key for column in _PHASE_COLUMNS)


@dataclass(frozen=True)
class BoardStamp:
    """What a public view of one phase's leaderboard depends on, its rows aside (they
    follow leaderboard_version, part of the stamp): the challenge, every phase of it, and
    which phase is shown. Two equal stamps describe the same public page."""

    challenge: tuple[Any, ...]
    phases: tuple[tuple[Any, ...], ...]
    """Every phase of the challenge, ordered by id, as the values of _PHASE_COLUMNS."""
    phase_id: int

    def _own(self, field: str) -> Any:
        row = next(row for row in self.phases if row[0] == self.phase_id)
        return row[_PHASE_FIELDS.index(field)]

    @property
    def starts_at(self) -> datetime:
        """The phase's start."""
        value: datetime = self._own("starts_at")
        return value

    @property
    def ends_at(self) -> datetime | None:
        """The phase's end, if it has one."""
        value: datetime | None = self._own("ends_at")
        return value

    @property
    def leaderboard_visibility(self) -> str:
        """Who may see the phase's leaderboard."""
        value: str = self._own("leaderboard_visibility")
        return value


def phases_by_id(phases: Iterable[tuple[Any, ...]]) -> tuple[tuple[Any, ...], ...]:
    """Order phase rows (id first) by id, so that equal stamps compare equal."""
    return tuple(sorted(phases, key=lambda values: int(values[0])))


def read_stamp(*, session: Session, challenge_slug: str, phase_slug: str) -> BoardStamp | None:
    """Read the stamp of a phase's leaderboard in one query; None when there is no such
    phase (the caller's ordinary path then answers 404)."""
    rows = session.execute(
        select(*_CHALLENGE_COLUMNS, *_PHASE_COLUMNS)
        .join(Phase, Phase.challenge_id == Challenge.id)
        .where(Challenge.slug == challenge_slug)
    ).all()
    width = len(_CHALLENGE_COLUMNS)
    phases = phases_by_id(tuple(row[width:]) for row in rows)
    shown = [values[0] for values in phases if values[1] == phase_slug]
    if not shown:
        return None
    return BoardStamp(tuple(rows[0][:width]), phases, shown[0])


def stamp_of(phase: Phase) -> BoardStamp:
    """The stamp of a phase loaded as ORM objects: equal to what read_stamp() reads for
    the same database state, so a page rendered from `phase` can be stored under it."""
    challenge = phase.challenge
    return BoardStamp(
        tuple(getattr(challenge, column.key) for column in _CHALLENGE_COLUMNS),
        phases_by_id(
            tuple(getattr(each, key) for key in _PHASE_FIELDS) for each in challenge.phases
        ),
        phase.id,
    )


def compute_leaderboard(*, session: Session, phase: Phase) -> tuple[LeaderboardRow, ...]:
    """Build the rows from the database.

    Reads only the columns a row needs: a scored submission's `result` (per-image scores
    and confusion matrices) is large JSON, and decoding it for every submission on every
    recompute was most of the cost of a leaderboard under load.
    """
    scored: list[Any] = list(
        session.execute(
            select(
                Submission.id,
                Submission.team_id,
                Submission.miou,
                Submission.iou_tumor,
                Submission.iou_stroma,
                Submission.iou_normal,
                Submission.method_name,
                Submission.selected,
                Submission.created_at,
                Team.name,
                Team.is_baseline,
            )
            .join(Team, Submission.team_id == Team.id)
            .where(
                Submission.phase_id == phase.id,
                Submission.status == SubmissionStatus.SCORED,
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
                Submission.status == SubmissionStatus.SCORED,
                Submission.hidden.is_(False),
                Submission.disqualified.is_(False),
            )
            .group_by(Submission.team_id)
        )
    }
    by_team: dict[int, list[Any]] = {}
    for submission in scored:
        by_team.setdefault(submission.team_id, []).append(submission)
    chosen = [_counted(phase.counting, items) for items in by_team.values()]
    chosen.sort(key=lambda item: (-(item.miou or 0.0), item.created_at, item.id))
    rows = []
    rank = 0
    for submission in chosen:
        if not submission.is_baseline:
            rank += 1
        rows.append(
            LeaderboardRow(
                rank=None if submission.is_baseline else rank,
                team=submission.name,
                team_id=submission.team_id,
                baseline=submission.is_baseline,
                submission_id=submission.id,
                miou=submission.miou or 0.0,
                tumor=submission.iou_tumor,
                stroma=submission.iou_stroma,
                normal=submission.iou_normal,
                method_name=submission.method_name,
                entries=entries.get(submission.team_id, 0),
                submitted_at=submission.created_at,
            )
        )
    return tuple(rows)


def _counted(rule: Counting, items: list[Any]) -> Any:
    """Pick the submission that ranks; `items` (a team's scored submissions, as rows of
    compute_leaderboard's query) are in submission order."""
    if rule == Counting.LATEST:
        return items[-1]
    if rule == Counting.SELECTED:
        selected = [item for item in items if item.selected]
        return selected[-1] if selected else items[-1]
    return max(items, key=lambda item: (item.miou or 0.0, -item.created_at.timestamp()))


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
