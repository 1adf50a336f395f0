"""Closed sets of values: parsing user input, and what the database stores and returns."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from app.errors import InvalidInput
from app.models import Challenge, TeamStatus
from app.services.choices import choice_error, parse_choice
from tests.factories import make_team, make_user


def test_parse_choice_returns_the_member():
    assert parse_choice(TeamStatus, "denied", field="status") is TeamStatus.DENIED


def test_parse_choice_names_the_field_and_every_choice():
    with pytest.raises(InvalidInput) as refused:
        parse_choice(TeamStatus, "maybe", field="status")
    assert refused.value.errors == {"status": "use pending, approved or denied"}


def test_choice_error_is_none_for_a_valid_value():
    assert choice_error(TeamStatus, "approved") is None


def _team(session):
    challenge = Challenge(slug="choices", title="Choices")
    session.add(challenge)
    session.flush()
    return make_team(session, challenge, make_user(session))


def test_a_row_stores_the_plain_value_and_reads_back_the_member(session):
    team = _team(session)
    session.commit()
    stored = session.scalar(text("SELECT status FROM team WHERE id = :id"), {"id": team.id})
    assert stored == "approved"
    session.expire_all()
    assert session.get(type(team), team.id).status is TeamStatus.APPROVED


def test_a_stray_value_is_refused_at_the_write(session):
    team = _team(session)
    team.status = "maybe"
    with pytest.raises(StatementError, match="maybe"):
        session.flush()
