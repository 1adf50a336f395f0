"""Dependencies that load a resource and authorize the caller in one step.

One policy for the console and the API: 404 for what the caller may not know exists (a
missing row, another team's submission), 403 for what they may see but not change (an
organizer action on a challenge, which every visitor sees, or on a submission of their
own team). Every challenge and phase is public, so a non-organizer learns nothing from
a 403 on one; a submission is known only to its team and the organizers.

The console takes its path parameters as `slug`, `phase_slug` and `submission_id` and its
caller from the session cookie; the API takes `challenge`, `phase` and `submission_id`
and its caller from the bearer token. Each guard commits its read before the endpoint
runs, as the user dependencies do: no lock may outlive a thread hop (app.web.routing).
"""

from typing import Annotated

from fastapi import Depends

from app.db import Session
from app.models import Challenge, Phase, Submission, User
from app.services import challenges as challenges_service
from app.services import moderation as moderation_service
from app.services import submissions as submissions_service
from app.web.deps import ApiUser, RowId, SessionDep, UserDep


def _organized_challenge(session: Session, slug: str, user: User) -> Challenge:
    challenge = challenges_service.get_challenge(session=session, slug=slug)
    moderation_service.require_organizer(session=session, challenge=challenge, user=user)
    session.commit()
    return challenge


def _organized_phase(session: Session, challenge_slug: str, phase_slug: str, user: User) -> Phase:
    phase = challenges_service.get_challenge_phase(
        session=session, challenge_slug=challenge_slug, phase_slug=phase_slug
    )
    moderation_service.require_organizer(session=session, challenge=phase.challenge, user=user)
    session.commit()
    return phase


def _own_submission(session: Session, submission_id: int, user: User) -> Submission:
    # NotFound for anyone but its team and the challenge's organizers.
    submission = submissions_service.get_submission(
        session=session, submission_id=submission_id, user=user
    )
    session.commit()
    return submission


def _organized_submission(session: Session, submission_id: int, user: User) -> Submission:
    submission = submissions_service.get_submission(
        session=session, submission_id=submission_id, user=user
    )
    # Its own team sees it, so for them this is a 403, not a 404.
    moderation_service.require_organizer(
        session=session, challenge=submission.phase.challenge, user=user
    )
    session.commit()
    return submission


def get_organized_challenge(slug: str, session: SessionDep, user: UserDep) -> Challenge:
    """Load the challenge of the path for one of its organizers."""
    return _organized_challenge(session, slug, user)


def get_organized_phase(slug: str, phase_slug: str, session: SessionDep, user: UserDep) -> Phase:
    """Load the phase of the path for one of its challenge's organizers."""
    return _organized_phase(session, slug, phase_slug, user)


def get_organized_submission(
    submission_id: RowId, session: SessionDep, user: UserDep
) -> Submission:
    """Load the submission of the path for one of its challenge's organizers."""
    return _organized_submission(session, submission_id, user)


def get_own_submission(submission_id: RowId, session: SessionDep, user: UserDep) -> Submission:
    """Load the submission of the path for its team (and its challenge's organizers)."""
    return _own_submission(session, submission_id, user)


OrganizedChallenge = Annotated[Challenge, Depends(get_organized_challenge, scope="function")]
OrganizedPhase = Annotated[Phase, Depends(get_organized_phase, scope="function")]
OrganizedSubmission = Annotated[Submission, Depends(get_organized_submission, scope="function")]
OwnSubmission = Annotated[Submission, Depends(get_own_submission, scope="function")]


def get_api_organized_phase(
    challenge: str, phase: str, session: SessionDep, user: ApiUser
) -> Phase:
    """Load the phase of the API path for one of its challenge's organizers."""
    return _organized_phase(session, challenge, phase, user)


def get_api_organized_submission(
    submission_id: RowId, session: SessionDep, user: ApiUser
) -> Submission:
    """Load the submission of the API path for one of its challenge's organizers."""
    return _organized_submission(session, submission_id, user)


def get_api_own_submission(submission_id: RowId, session: SessionDep, user: ApiUser) -> Submission:
    """Load the submission of the API path for its team (and its challenge's organizers)."""
    return _own_submission(session, submission_id, user)


ApiOrganizedPhase = Annotated[Phase, Depends(get_api_organized_phase, scope="function")]
ApiOrganizedSubmission = Annotated[
    Submission, Depends(get_api_organized_submission, scope="function")
]
ApiOwnSubmission = Annotated[Submission, Depends(get_api_own_submission, scope="function")]
