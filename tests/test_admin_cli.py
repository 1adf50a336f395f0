"""The scripted set-up commands, run as the operator runs them (settings from the env)."""

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.models import ChallengeOrganizer, Phase, RegistrationMode, Team, User
from app.security import token_digest
from tests.factories import random_mask, write_ground_truth

runner = CliRunner()


@pytest.fixture
def environment(settings, monkeypatch):
    """Point the CLI at the test database and DATA_DIR through its environment."""
    monkeypatch.setenv("WSSS4LUAD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WSSS4LUAD_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def dataset(tmp_path, mismatch=False):
    import numpy as np

    masks = {f"{i:02d}.png": random_mask(np.random.default_rng(i), 20, 30) for i in range(3)}
    root = write_ground_truth(tmp_path / "split", masks)
    if mismatch:
        from tests.factories import background_png_bytes

        (root / "background-mask" / "01.png").write_bytes(
            background_png_bytes(np.zeros((20, 30), dtype=np.uint8))
        )
    return root


def test_import_phase_creates_the_challenge_and_reports(environment, sessions, tmp_path):
    result = runner.invoke(
        cli,
        [
            "admin",
            "import-phase",
            "wsss4luad",
            "validation",
            str(dataset(tmp_path, True)),
            "--daily-limit",
            "4",
            "--total-limit",
            "9",
            "--visibility",
            "after_end",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Imported wsss4luad/validation: 3 images" in result.stdout
    assert "background-mask == 1 differs from mask == 3 in 01.png" in result.stdout
    with sessions() as session:
        phase = session.scalar(select(Phase))
        assert (phase.daily_limit, phase.total_limit) == (4, 9)
        assert phase.leaderboard_visibility == "after_end"
        assert phase.image_sizes == {f"{i:02d}.png": [30, 20] for i in range(3)}


def test_import_refuses_a_broken_dataset_with_a_clear_message(environment, tmp_path):
    result = runner.invoke(cli, ["admin", "import-phase", "w", "v", str(tmp_path)])
    assert result.exit_code == 1
    assert "mask: folder not found" in result.stderr


def test_create_user_token_and_team_status(environment, sessions, tmp_path):
    runner.invoke(cli, ["admin", "import-phase", "wsss4luad", "test", str(dataset(tmp_path))])
    created = runner.invoke(
        cli,
        [
            "admin",
            "create-user",
            "Org@Example.org",
            "--password",
            "organizer-pass-1",
            "--organizer",
        ],
    )
    assert created.exit_code == 0, created.output
    token = runner.invoke(cli, ["admin", "create-token", "org@example.org"])
    assert token.exit_code == 0, token.output
    secret = token.stdout.strip().splitlines()[-1]
    assert secret.startswith("wsss_")
    with sessions() as session:
        user = session.scalar(select(User))
        assert user.email == "org@example.org"
        assert session.scalar(select(ChallengeOrganizer.user_id)) == user.id
        from app.models import ApiToken

        assert session.scalar(select(ApiToken.token_hash)) == token_digest(secret)
        from app.services import teams as teams_service
        from app.services.challenges import get_challenge

        challenge = get_challenge(session=session, slug="wsss4luad")
        challenge.registration_mode = RegistrationMode.MANUAL
        teams_service.register_team(
            session=session, challenge=challenge, user=user, name="Lab X", accept_rules=True
        )
        session.commit()
    approved = runner.invoke(cli, ["admin", "set-team-status", "wsss4luad", "lab x", "approved"])
    assert approved.exit_code == 0, approved.output
    with sessions() as session:
        assert session.scalar(select(Team.status)) == "approved"
    unknown = runner.invoke(cli, ["admin", "set-team-status", "wsss4luad", "nope", "approved"])
    assert unknown.exit_code == 1


def test_describe_challenge_sets_texts_and_registration(environment, sessions, tmp_path):
    runner.invoke(cli, ["admin", "import-phase", "wsss4luad", "test", str(dataset(tmp_path))])
    rules = tmp_path / "rules.md"
    rules.write_text("1. Be nice.")
    result = runner.invoke(
        cli,
        [
            "admin",
            "describe-challenge",
            "wsss4luad",
            "--title",
            "WSSS4LUAD 2022",
            "--rules",
            str(rules),
            "--registration",
            "manual",
        ],
    )
    assert result.exit_code == 0, result.output
    from app.models import Challenge

    with sessions() as session:
        challenge = session.scalar(select(Challenge))
        assert (challenge.title, challenge.rules_md, challenge.registration_mode) == (
            "WSSS4LUAD 2022",
            "1. Be nice.",
            "manual",
        )
    wrong = runner.invoke(cli, ["admin", "describe-challenge", "wsss4luad", "--registration", "x"])
    assert wrong.exit_code == 1
