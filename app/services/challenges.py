"""Challenges, organizers and phases, including importing a phase's dataset."""

import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.models import (
    Challenge,
    ChallengeOrganizer,
    Counting,
    LeaderboardVisibility,
    Phase,
    PhaseState,
    RegistrationMode,
    TeamStatus,
    User,
)
from app.scoring import GroundTruthError, GroundTruthFolder, prepare_ground_truth
from app.scoring.png import HEADER_BYTES, read_header
from app.services import leaderboard as leaderboard_service
from app.services import teams as teams_service
from app.services.choices import choice_error, parse_choice
from app.services.storage import Storage

MAX_LIMIT = 1_000_000
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
"""What a challenge or phase slug created from the console looks like (it is part of URLs)."""


def check_slug(*, slug: str, field: str) -> str:
    """Return the slug when it follows SLUG; raise InvalidInput on `field` otherwise."""
    if not SLUG.fullmatch(slug):
        raise InvalidInput({field: "use lower-case letters, digits and hyphens"})
    return slug


def get_challenge(*, session: Session, slug: str) -> Challenge:
    """Return a challenge by slug, or raise NotFound."""
    challenge = session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise NotFound(f"no challenge named {slug!r}")
    return challenge


def list_challenges(*, session: Session) -> list[Challenge]:
    """Return every challenge, newest first."""
    return list(session.scalars(select(Challenge).order_by(Challenge.created_at.desc())))


def list_organized(*, session: Session, user: User) -> list[Challenge]:
    """Return the challenges the user organizes (every one for site admins), newest first."""
    return [
        challenge
        for challenge in list_challenges(session=session)
        if is_organizer(session=session, challenge=challenge, user=user)
    ]


def create_challenge(*, session: Session, slug: str, title: str, creator: User) -> Challenge:
    """Create a challenge (site admins only) and make its creator an organizer."""
    if not creator.is_admin:
        raise PermissionDenied("only site admins create challenges")
    check_slug(slug=slug, field="slug")
    if session.scalar(select(Challenge.id).where(Challenge.slug == slug)) is not None:
        raise Conflict(f"a challenge named {slug!r} exists already")
    challenge = ensure_challenge(session=session, slug=slug, title=title)
    add_organizer(session=session, challenge=challenge, user=creator)
    return challenge


def get_phase(*, session: Session, challenge: Challenge, slug: str) -> Phase:
    """Return a phase of a challenge by slug, or raise NotFound."""
    phase = session.scalar(
        select(Phase).where(Phase.challenge_id == challenge.id, Phase.slug == slug)
    )
    if phase is None:
        raise NotFound(f"challenge {challenge.slug!r} has no phase {slug!r}")
    return phase


def get_challenge_phase(*, session: Session, challenge_slug: str, phase_slug: str) -> Phase:
    """Return a phase by its challenge's slug and its own, or raise NotFound."""
    challenge = get_challenge(session=session, slug=challenge_slug)
    return get_phase(session=session, challenge=challenge, slug=phase_slug)


def ensure_challenge(*, session: Session, slug: str, title: str | None = None) -> Challenge:
    """Return the challenge with this slug, creating it with default texts when missing."""
    try:
        return get_challenge(session=session, slug=slug)
    except NotFound:
        pass
    if not slug.replace("-", "").isalnum() or slug != slug.lower():
        raise InvalidInput({"challenge": "use lower-case letters, digits and hyphens"})
    challenge = Challenge(slug=slug, title=title or slug.upper())
    session.add(challenge)
    session.flush()
    return challenge


def update_phase(
    *,
    session: Session,
    phase: Phase,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None,
    daily_limit: int | None,
    total_limit: int | None,
    visibility: str,
    counting: str,
    show_details: bool,
) -> None:
    """Change a phase's schedule, limits and leaderboard settings."""
    errors = {}
    if not title.strip():
        errors["title"] = "give the phase a title"
    if ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = "the end must come after the start"
    for name, limit in (("daily_limit", daily_limit), ("total_limit", total_limit)):
        if limit is not None and not 0 <= limit <= MAX_LIMIT:
            errors[name] = f"use 0 to {MAX_LIMIT:,}, or leave empty for no limit"
    if errors:
        raise InvalidInput(errors)
    phase.title = title.strip()
    phase.starts_at = starts_at
    phase.ends_at = ends_at
    phase.daily_limit = daily_limit
    phase.total_limit = total_limit
    configure_phase(
        session=session,
        phase=phase,
        visibility=visibility,
        counting=counting,
        show_details=show_details,
    )


def describe_challenge(
    *,
    challenge: Challenge,
    title: str | None = None,
    summary: str | None = None,
    description_md: str | None = None,
    rules_md: str | None = None,
    data_md: str | None = None,
    registration_mode: RegistrationMode | str | None = None,
) -> None:
    """Set a challenge's texts and registration mode; None leaves a field as it is."""
    if registration_mode is not None:
        registration_mode = parse_choice(RegistrationMode, registration_mode, field="registration")
    if title is not None and not title.strip():
        raise InvalidInput({"title": "give the challenge a title"})
    updates = {
        "title": title.strip() if title is not None else None,
        "summary": summary,
        "description_md": description_md,
        "rules_md": rules_md,
        "data_md": data_md,
        "registration_mode": registration_mode,
    }
    for name, value in updates.items():
        if value is not None:
            setattr(challenge, name, value)


def add_organizer(*, session: Session, challenge: Challenge, user: User) -> None:
    """Make a user an organizer of a challenge (idempotent)."""
    if not is_organizer(session=session, challenge=challenge, user=user):
        session.add(ChallengeOrganizer(challenge_id=challenge.id, user_id=user.id))
        session.flush()


def is_organizer(*, session: Session, challenge: Challenge, user: User | None) -> bool:
    """Return True for the challenge's organizers and for site admins."""
    if user is None:
        return False
    if user.is_admin:
        return True
    found = session.scalar(
        select(ChallengeOrganizer.id).where(
            ChallengeOrganizer.challenge_id == challenge.id, ChallengeOrganizer.user_id == user.id
        )
    )
    return found is not None


class Schedule(Protocol):
    """A phase's dates and leaderboard visibility: a Phase, or a leaderboard's BoardStamp."""

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime | None: ...

    @property
    def leaderboard_visibility(self) -> LeaderboardVisibility: ...


def phase_state(phase: Schedule, now: datetime | None = None) -> PhaseState:
    """Return whether the phase is upcoming, open or closed at `now`."""
    return _state(phase.starts_at, phase.ends_at, now)


def _state(starts_at: datetime, ends_at: datetime | None, now: datetime | None) -> PhaseState:
    now = now or utcnow()
    if now < starts_at:
        return PhaseState.UPCOMING
    if ends_at is not None and now >= ends_at:
        return PhaseState.CLOSED
    return PhaseState.OPEN


# What the challenge page shows of a challenge and of each phase to a visitor without a
# session (the phases' dates give their states). A column added to that page must be
# added here, or the page stored for visitors would not change with it.
_PAGE_CHALLENGE_COLUMNS = (
    Challenge.id,
    Challenge.slug,
    Challenge.title,
    Challenge.summary,
    Challenge.description_md,
    Challenge.rules_md,
    Challenge.data_md,
)
_PAGE_PHASE_COLUMNS = (
    Phase.id,
    Phase.slug,
    Phase.title,
    Phase.starts_at,
    Phase.ends_at,
    Phase.image_count,
    Phase.daily_limit,
    Phase.total_limit,
    Phase.counting,
    Phase.created_at,
)


@dataclass(frozen=True)
class ChallengeStamp:
    """What the challenge page shows visitors without a session, as plain values: two
    equal stamps (and equal phase states) describe the same page."""

    challenge: tuple[Any, ...]
    phases: tuple[tuple[Any, ...], ...]
    """Every phase of the challenge, ordered by id, as the values of _PAGE_PHASE_COLUMNS."""

    def phase_states(self, now: datetime | None = None) -> tuple[str, ...]:
        """Return each phase's state at `now`, in the order of `phases`."""
        return tuple(_state(values[3], values[4], now) for values in self.phases)


def read_challenge_stamp(*, session: Session, slug: str) -> ChallengeStamp | None:
    """Read the stamp of a challenge's page in one query; None when there is no such
    challenge (the caller's ordinary path then answers 404)."""
    rows = session.execute(
        select(*_PAGE_CHALLENGE_COLUMNS, *_PAGE_PHASE_COLUMNS)
        .outerjoin(Phase, Phase.challenge_id == Challenge.id)
        .where(Challenge.slug == slug)
    ).all()
    if not rows:
        return None
    width = len(_PAGE_CHALLENGE_COLUMNS)
    phases = (tuple(row[width:]) for row in rows if row[width] is not None)
    return ChallengeStamp(tuple(rows[0][:width]), leaderboard_service.phases_by_id(phases))


def challenge_stamp_of(challenge: Challenge) -> ChallengeStamp:
    """The stamp of a challenge loaded as ORM objects: equal to what read_challenge_stamp()
    reads for the same database state."""
    return ChallengeStamp(
        tuple(getattr(challenge, column.key) for column in _PAGE_CHALLENGE_COLUMNS),
        leaderboard_service.phases_by_id(
            tuple(getattr(phase, column.key) for column in _PAGE_PHASE_COLUMNS)
            for phase in challenge.phases
        ),
    )


def leaderboard_visible(
    *, session: Session, phase: Phase, user: User | None, now: datetime | None = None
) -> bool:
    """Apply the phase's leaderboard visibility to a viewer."""
    if visible_to_everyone(phase, now):
        return True
    return is_organizer(session=session, challenge=phase.challenge, user=user)


def data_archive_key(*, session: Session, phase: Phase, user: User) -> str:
    """Return the storage key of the phase's data download, for organizers and approved
    teams once the phase has started; PermissionDenied or NotFound otherwise."""
    if not is_organizer(session=session, challenge=phase.challenge, user=user):
        membership = teams_service.get_membership(
            session=session, challenge=phase.challenge, user=user
        )
        if membership is None or membership.team.status != TeamStatus.APPROVED:
            raise PermissionDenied("the data is for approved participants; register a team first")
        if phase_state(phase) == PhaseState.UPCOMING:
            raise PermissionDenied("the phase has not started; its data is released when it opens")
    if not phase.data_archive_key:
        raise NotFound("this phase has no data yet")
    return phase.data_archive_key


def visible_to_everyone(phase: Schedule, now: datetime | None = None) -> bool:
    """Whether a leaderboard is visible without organizer rights (to anonymous visitors)."""
    if phase.leaderboard_visibility == LeaderboardVisibility.PUBLIC:
        return True
    if phase.leaderboard_visibility == LeaderboardVisibility.AFTER_END:
        return phase_state(phase, now) == PhaseState.CLOSED
    return False


def configure_phase(
    *,
    session: Session,
    phase: Phase,
    visibility: LeaderboardVisibility | str | None = None,
    counting: Counting | str | None = None,
    show_details: bool | None = None,
) -> None:
    """Change a phase's leaderboard visibility, ranking rule or result detail."""
    errors = {
        name: error
        for name, enum, value in (
            ("visibility", LeaderboardVisibility, visibility),
            ("counting", Counting, counting),
        )
        if value is not None and (error := choice_error(enum, value)) is not None
    }
    if errors:
        raise InvalidInput(errors)
    if visibility is not None:
        phase.leaderboard_visibility = LeaderboardVisibility(visibility)
    if counting is not None:
        phase.counting = Counting(counting)
    if show_details is not None:
        phase.show_details = show_details
    session.flush()
    leaderboard_service.invalidate(session=session, phase=phase)


@dataclass
class ImportReport:
    """What an import found: counts, warnings that did not stop it, and the phase."""

    phase: Phase
    images: int
    pixels: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def import_phase(
    *,
    session: Session,
    storage: Storage,
    challenge_slug: str,
    phase_slug: str,
    dataset_dir: Path,
    title: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    daily_limit: int | None = None,
    total_limit: int | None = None,
) -> ImportReport:
    """Validate a dataset folder in the official layout, prepare its ground truth and
    data download, and create or update the phase. Re-importing replaces the data.
    """
    try:
        ground_truth = GroundTruthFolder(dataset_dir)
    except GroundTruthError as error:
        raise InvalidInput({"dataset": str(error)}) from None
    warnings = _check_images(dataset_dir, ground_truth)
    warnings += _check_background_masks(ground_truth)

    challenge = ensure_challenge(session=session, slug=challenge_slug)
    base_key = f"phases/{challenge.slug}/{phase_slug}/{uuid.uuid4().hex}"
    try:
        prepared = prepare_ground_truth(ground_truth, storage.path(f"{base_key}/ground-truth"))
    except GroundTruthError as error:
        storage.delete(base_key)
        raise InvalidInput({"dataset": str(error)}) from None
    archive_key = f"{base_key}/{challenge.slug}-{phase_slug}-data.zip"
    _write_data_archive(dataset_dir, ground_truth, storage.path(archive_key))

    pixels = {"tumor": 0, "stroma": 0, "normal": 0, "background": 0}
    for entry in prepared.manifest["images"]:
        for label, count in entry["pixels"].items():
            pixels[label] += count

    phase = session.scalar(
        select(Phase).where(Phase.challenge_id == challenge.id, Phase.slug == phase_slug)
    )
    if phase is None:
        phase = Phase(challenge_id=challenge.id, slug=phase_slug, starts_at=starts_at or utcnow())
        session.add(phase)
    phase.title = title or phase.title or phase_slug.replace("-", " ").title()
    if starts_at is not None:
        phase.starts_at = starts_at
    if ends_at is not None:
        phase.ends_at = ends_at
    phase.daily_limit = daily_limit if daily_limit is not None else phase.daily_limit
    phase.total_limit = total_limit if total_limit is not None else phase.total_limit
    phase.ground_truth_key = f"{base_key}/ground-truth"
    phase.data_archive_key = archive_key
    phase.data_archive_bytes = storage.path(archive_key).stat().st_size
    phase.image_count = len(ground_truth.images)
    phase.image_sizes = {i.name: [i.width, i.height] for i in ground_truth.images}
    phase.pixel_counts = pixels
    session.flush()
    leaderboard_service.invalidate(session=session, phase=phase)
    return ImportReport(phase, len(ground_truth.images), pixels, warnings)


def _check_images(dataset_dir: Path, ground_truth: GroundTruthFolder) -> list[str]:
    image_dir = dataset_dir / "img"
    if not image_dir.is_dir():
        return ["no img/ folder: the data download will hold background masks only"]
    missing, wrong = [], []
    for image in ground_truth.images:
        path = image_dir / image.name
        if not path.is_file():
            missing.append(image.name)
            continue
        with path.open("rb") as handle:
            size = read_header(handle.read(HEADER_BYTES)).size
        if size != (image.width, image.height):
            wrong.append(
                f"{image.name} is {size[0]}x{size[1]}, its mask {image.width}x{image.height}"
            )
    if wrong:
        raise InvalidInput({"dataset": "image and mask sizes differ: " + "; ".join(wrong)})
    if missing:
        return [f"img/ lacks {len(missing)} images ({', '.join(missing[:8])}...)"]
    return []


def _check_background_masks(ground_truth: GroundTruthFolder) -> list[str]:
    """Report images where background-mask == 1 is not exactly mask == 3."""
    differing = []
    for image in ground_truth.images:
        mask, background = ground_truth.load(image.name)
        assert background is not None
        mismatched = int(np.count_nonzero((background == 1) != (mask == 3)))
        if mismatched:
            differing.append(f"{image.name} ({mismatched} px)")
    if not differing:
        return []
    return [
        "background-mask == 1 differs from mask == 3 in "
        + ", ".join(differing[:10])
        + "; pixels are evaluated only where the background mask is not 1 and the mask is 0-2"
    ]


def _write_data_archive(dataset_dir: Path, ground_truth: GroundTruthFolder, target: Path) -> None:
    """Zip the images and background masks participants may download (never the masks)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".part")
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_STORED) as archive:
        for image in ground_truth.images:
            picture = dataset_dir / "img" / image.name
            if picture.is_file():
                archive.write(picture, f"img/{image.name}")
            archive.write(ground_truth.background_dir / image.name, f"background-mask/{image.name}")
    staging.replace(target)
