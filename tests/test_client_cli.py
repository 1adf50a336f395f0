"""`wsss4luad submit` against a live server and worker, as a participant's script runs it."""

import subprocess

import httpx2
import pytest

from app.scoring import GroundTruthFolder, score_path
from app.services import accounts as accounts_service
from tests.factories import make_phase, make_user, prediction_zip
from tests.live import BIN, live_stack


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_submit_and_wait_prints_the_score(settings, session, storage, tmp_path):
    _, masks = make_phase(session, storage, tmp_path, daily_limit=5)
    user = make_user(session, email="script@example.org")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    good = prediction_zip(tmp_path / "good.zip", masks, damage=0.15)
    broken = dict(masks)
    broken.pop("01.png")
    bad = prediction_zip(tmp_path / "bad.zip", broken)
    expected = score_path(GroundTruthFolder(tmp_path / "wsss4luad-validation"), good)

    with live_stack(settings, tmp_path / "logs") as stack:
        joined = httpx2.post(
            f"{stack.base_url}/api/v1/challenges/wsss4luad/join",
            json={"team": "Scripters"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert joined.status_code == 201
        base = [str(BIN / "wsss4luad"), "submit", "wsss4luad", "validation"]
        scored = subprocess.run(
            [
                *base,
                str(good),
                "--server",
                stack.base_url,
                "--token",
                token,
                "--wait",
                "--method",
                "cli run",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        env = {**stack.env, "WSSS4LUAD_SERVER": stack.base_url, "WSSS4LUAD_TOKEN": token}
        refused = subprocess.run(
            [*base, str(bad)], capture_output=True, text=True, timeout=60, check=False, env=env
        )

    assert scored.returncode == 0, scored.stderr
    submission_id = int(scored.stdout.splitlines()[0])
    assert submission_id > 0
    assert f"{expected.miou:.4f}" in scored.stdout
    assert refused.returncode == 1
    assert "01.png: is missing" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_submit_without_a_token_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    archive = tmp_path / "x.zip"
    archive.write_bytes(b"PK")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(BIN / "wsss4luad"), "submit", "c", "p", str(archive), "--server", "http://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert "no token" in result.stderr
