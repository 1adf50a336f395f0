"""The console's queries and rules, now in the services: creating a challenge, listing
and filtering submissions, teams and organized challenges."""

from datetime import timedelta

import pytest

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.models import Submission
from app.services import challenges as challenges_service
from app.services import moderation as moderation_service
from app.services import teams as teams_service
from tests.factories import make_phase, make_team, make_user


def test_only_site_admins_create_challenges_with_valid_new_slugs(session):
    admin = make_user(session, email="admin@example.org", name="Admin", is_admin=True)
    someone = make_user(session, email="s@example.org", name="S")
    with pytest.raises(PermissionDenied):
        challenges_service.create_challenge(session=session, slug="x", title="X", creator=someone)
    with pytest.raises(InvalidInput) as bad:
        challenges_service.create_challenge(session=session, slug="Bad!", title="", creator=admin)
    assert set(bad.value.errors) == {"slug"}
    made = challenges_service.create_challenge(
        session=session, slug="new-one", title="New", creator=admin
    )
    assert challenges_service.is_organizer(session=session, challenge=made, user=admin)
    with pytest.raises(Conflict):
        challenges_service.create_challenge(
            session=session, slug="new-one", title="Again", creator=admin
        )
    assert challenges_service.list_organized(session=session, user=someone) == []


def test_submissions_are_filtered_by_team_status_and_day(session, storage, tmp_path):
    phase, _ = make_phase(session, storage, tmp_path)
    now = utcnow()
    for index, (name, status, age) in enumerate(
        [("Alpha_1", "scored", 0), ("Beta", "failed", 0), ("Alpha_2", "scored", 3)]
    ):
        user = make_user(session, email=f"t{index}@example.org", name=name)
        team = make_team(session, phase.challenge, user, name=name)
        session.add(
            Submission(
                phase_id=phase.id,
                team_id=team.id,
                user_id=user.id,
                status=status,
                archive_key="x.zip",
                created_at=now - timedelta(days=age),
            )
        )
    session.flush()

    def teams(**filters):
        rows = moderation_service.list_submissions(
            session=session, phase=phase, limit=10, **filters
        )
        return [row.team.name for row in rows]

    assert teams() == ["Alpha_2", "Beta", "Alpha_1"]
    assert sorted(teams(team_name="alpha_")) == ["Alpha_1", "Alpha_2"]  # `_` is no wildcard
    assert teams(status="failed") == ["Beta"]
    assert sorted(teams(created_from=now - timedelta(days=1))) == ["Alpha_1", "Beta"]
    assert teams(created_before=now - timedelta(days=1)) == ["Alpha_2"]
    assert len(moderation_service.list_submissions(session=session, phase=phase, limit=1)) == 1


def test_a_team_is_found_only_in_its_own_challenge(session, storage, tmp_path):
    phase, _ = make_phase(session, storage, tmp_path)
    other, _ = make_phase(session, storage, tmp_path, challenge="other")
    user = make_user(session, email="t@example.org", name="T")
    team = make_team(session, phase.challenge, user, name="Tee")
    assert teams_service.get_team(session=session, challenge=phase.challenge, team_id=team.id)
    with pytest.raises(NotFound):
        teams_service.get_team(session=session, challenge=other.challenge, team_id=team.id)
    assert teams_service.list_teams(session=session, challenge=phase.challenge) == [team]
    assert teams_service.require_team(session=session, challenge=phase.challenge, user=user) == team
    with pytest.raises(PermissionDenied):
        teams_service.require_team(session=session, challenge=other.challenge, user=user)
    same = teams_service.ensure_team(
        session=session, challenge=phase.challenge, user=user, name=" tee ", accept_rules=True
    )
    assert same == team
    with pytest.raises(Conflict):
        teams_service.ensure_team(
            session=session, challenge=phase.challenge, user=user, name="Else", accept_rules=True
        )
