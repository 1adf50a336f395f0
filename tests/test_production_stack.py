"""A production-mode start of `serve`, `worker` and `beat` on PostgreSQL and Redis.

As `docker compose up` runs them, minus Docker: health and readiness answer, a submission
flows through to its score, the metrics count it, and the logs are JSON lines.
"""

import json
import os
import subprocess
import time

import httpx2
import redis

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.services import accounts as accounts_service
from app.services.storage import LocalStorage
from tests.databases import postgres_database
from tests.factories import make_phase, make_team, make_user, prediction_zip
from tests.live import BIN, free_port, start, wait_for_http, wait_for_worker

REDIS_DB = 11


def production_environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSSS4LUAD_")}
    env.update(
        WSSS4LUAD_ENVIRONMENT="production",
        WSSS4LUAD_DATABASE_URL=settings.database_url,
        WSSS4LUAD_BROKER_URL=settings.broker_url,
        WSSS4LUAD_SECRET_KEY=settings.secret_key,
        WSSS4LUAD_BASE_URL=settings.base_url,
        WSSS4LUAD_DATA_DIR=str(settings.data_dir),
        WSSS4LUAD_EMAIL_BACKEND="file",
        WSSS4LUAD_RECONCILE_EVERY_S="2",
        WSSS4LUAD_METRICS_TOKEN="scrape-token",
    )
    return env


def test_production_refuses_the_embedded_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSSS4LUAD_")}
    env.update(WSSS4LUAD_ENVIRONMENT="production", WSSS4LUAD_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [str(BIN / "wsss4luad"), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "unsafe production settings" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_a_submission_flows_through_the_production_stack(tmp_path):
    broker = f"redis://127.0.0.1:6379/{REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    with postgres_database() as database_url:
        settings = Settings(
            environment="production",
            database_url=database_url,
            broker_url=broker,
            secret_key="production-secret-" + "k" * 40,
            base_url="https://wsss4luad.test",
            data_dir=tmp_path / "data",
        )
        env = production_environment(settings)
        upgrade = subprocess.run(
            [str(BIN / "wsss4luad"), "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert upgrade.returncode == 0, upgrade.stderr

        engine = make_engine(database_url)
        with make_sessionmaker(engine)() as session:
            phase, masks = make_phase(session, LocalStorage(settings.data_dir), tmp_path)
            user = make_user(session, email="prod@example.org")
            make_team(session, phase.challenge, user, name="Prod Team")
            token = accounts_service.create_api_token(session=session, user=user).secret
            session.commit()
        engine.dispose()

        port = free_port()
        logs = tmp_path / "logs"
        processes = [
            start("serve", ["serve", "--port", str(port)], env, logs),
            start("worker", ["worker", "--concurrency", "1"], env, logs),
            start("beat", ["beat"], env, logs),
        ]
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/healthz", processes[0])
            wait_for_worker(processes[1])
            # Scoring yields the CPU to the site on a shared host.
            assert os.getpriority(os.PRIO_PROCESS, processes[1].popen.pid) == os.nice(0) + 10
            assert httpx2.get(f"{base}/readyz").json() == {"database": "ok", "broker": "ok"}
            headers = {"Authorization": f"Bearer {token}"}
            archive = prediction_zip(tmp_path / "p.zip", masks, damage=0.1)
            with archive.open("rb") as handle:
                created = httpx2.post(
                    f"{base}/api/v1/challenges/wsss4luad/phases/validation/submissions",
                    headers=headers,
                    files={"file": ("p.zip", handle)},
                    timeout=30,
                )
            assert created.status_code == 202, created.text
            submission_id = created.json()["id"]
            deadline = time.monotonic() + 60
            state = {}
            while time.monotonic() < deadline:
                state = httpx2.get(
                    f"{base}/api/v1/submissions/{submission_id}", headers=headers
                ).json()
                if state["status"] == "scored":
                    break
                time.sleep(0.2)
            assert state["status"] == "scored", state
            assert httpx2.get(f"{base}/metrics").status_code == 401
            metrics = httpx2.get(
                f"{base}/metrics", headers={"Authorization": "Bearer scrape-token"}
            ).text
            assert 'wsss4luad_submissions{status="scored"} 1.0' in metrics
            assert "wsss4luad_scoring_duration_seconds_count 1.0" in metrics
        finally:
            for process in processes:
                process.stop()
        served = [
            json.loads(line) for line in processes[0].output().splitlines() if line.startswith("{")
        ]
        assert served, "the site logs JSON lines in production"
        scored = [
            json.loads(line)
            for line in processes[1].output().splitlines()
            if line.startswith("{") and '"submission_id"' in line
        ]
        assert any(entry["submission_id"] == submission_id for entry in scored)
        assert "beat" in processes[2].output().lower()
    redis.Redis.from_url(broker).flushdb()
