"""`make loadtest`: deadline-day load on loopback, with the figures written to
docs/reliability.md.

Starts the real stack (uvicorn with 2 processes, a Celery worker with 2 processes and
beat) on the local PostgreSQL and Redis, imports the real validation split (or the
synthetic one when ../shared is absent), registers 20 teams and runs locust: 200 browsers
on the leaderboard and challenge pages while 20 teams upload full submissions and wait
for their scores. Bounded in time; everything runs on 127.0.0.1.
"""

import argparse
import csv
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import psycopg
import redis

from app import migrate
from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.services import accounts as accounts_service
from app.services import challenges as challenges_service
from app.services import teams as teams_service
from app.services.storage import LocalStorage

ROOT = Path(__file__).resolve().parents[1]
REAL_VALIDATION = ROOT.parent / "shared" / "wsss4luad" / "validation"
POSTGRES = os.environ.get(
    "WSSS4LUAD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = "redis://127.0.0.1:6379/10"
BIN = Path(sys.executable).parent
START, END = "<!-- loadtest:start -->", "<!-- loadtest:end -->"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dataset(work: Path) -> tuple[Path, str]:
    if (REAL_VALIDATION / "mask").is_dir():
        return REAL_VALIDATION, "real WSSS4LUAD validation split (40 images, 65.9 Mpx)"
    from app.demo_data import make_demo_data

    make_demo_data(work / "demo", seed=0, scale="full")
    return work / "demo" / "2.validation", "synthetic full-scale validation split"


def submission_zip(split: Path, target: Path) -> Path:
    """The ground truth itself as a submission: a full-size, realistic archive."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for mask in sorted((split / "mask").glob("*.png")):
            archive.write(mask, mask.name)
    return target


def seed(settings: Settings, split: Path, teams: int) -> list[str]:
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    tokens = []
    with transaction(make_sessionmaker(engine)) as session:
        phase = challenges_service.import_phase(
            session=session,
            storage=LocalStorage(settings.data_dir),
            challenge_slug="wsss4luad",
            phase_slug="validation",
            dataset_dir=split,
            title="Validation",
            daily_limit=None,
        ).phase
        phase.daily_limit = None
        for index in range(teams):
            user = accounts_service.create_user(
                session=session,
                email=f"team{index}@load.example.org",
                password="load-test-password",
                display_name=f"Team {index}",
            )
            teams_service.register_team(
                session=session,
                challenge=phase.challenge,
                user=user,
                name=f"Load team {index}",
                accept_rules=True,
            )
            tokens.append(accounts_service.create_api_token(session=session, user=user).secret)
    engine.dispose()
    return tokens


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [str(BIN / "wsss4luad"), *args],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as handle:
        return list(csv.DictReader(handle))


def render(rows: list[dict[str, str]], meta: dict[str, str]) -> str:
    lines = [
        START,
        f"Measured {meta['when']} on {meta['machine']}, {meta['seconds']} s, "
        f"{meta['users']} simulated users ({meta['browsers']} browsers, "
        f"{meta['submitters']} submitting teams), data: {meta['data']}.",
        "",
        "| request | count | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |"
        )
    lines += ["", f"Reproduce: `{meta['command']}`", END]
    return "\n".join(lines)


def record(document: Path, section: str) -> None:
    text = document.read_text() if document.exists() else "# Reliability\n\n"
    if START in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Load test\n\n" + section + "\n"
    document.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--browsers", type=int, default=200)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    name = f"wsss4luad_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    work = Path(tempfile.mkdtemp(prefix="wsss4luad-load-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        port = free_port()
        settings = Settings(
            database_url=f"{database_url}/{name}",
            broker_url=REDIS_URL,
            data_dir=work / "data",
            secret_key="load-test-" + "s" * 40,
            base_url=f"http://127.0.0.1:{port}",
        )
        split, label = dataset(work)
        tokens = seed(settings, split, args.teams)
        archive = submission_zip(split, work / "submission.zip")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WSSS4LUAD_")}
        env.update(
            WSSS4LUAD_DATABASE_URL=settings.database_url,
            WSSS4LUAD_BROKER_URL=REDIS_URL,
            WSSS4LUAD_DATA_DIR=str(settings.data_dir),
            WSSS4LUAD_SECRET_KEY=settings.secret_key,
            WSSS4LUAD_BASE_URL=settings.base_url,
        )
        processes.append(
            start(["serve", "--port", str(port), "--workers", "2"], env, work / "serve.log")
        )
        processes.append(
            start(
                ["worker", "--concurrency", "2", "--beat", "--loglevel", "WARNING"],
                env,
                work / "worker.log",
            )
        )
        for _ in range(300):
            try:
                if httpx2.get(f"{settings.base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
        users = args.browsers + args.teams
        prefix = work / "locust"
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "benchmarks" / "locustfile.py"),
                "--headless",
                "-u",
                str(users),
                "-r",
                "50",
                "-t",
                f"{args.seconds}s",
                "--host",
                settings.base_url,
                "--csv",
                str(prefix),
                "--only-summary",
                "--stop-timeout",
                "30",
            ],
            env={**env, "LOADTEST_TOKENS": ",".join(tokens), "LOADTEST_ARCHIVE": str(archive)},
            check=False,
            timeout=args.seconds + 180,
        )
        rows = [row for row in read_stats(prefix) if row["Name"] != "Aggregated"]
        cpu = "unknown CPU"
        if Path("/proc/cpuinfo").exists():
            found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
            cpu = found.group(1).strip() if found else cpu
        meta = {
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": (
                f"{cpu}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}"
            ),
            "seconds": str(args.seconds),
            "users": str(users),
            "browsers": str(args.browsers),
            "submitters": str(args.teams),
            "data": label,
            "command": "make loadtest",
        }
        section = render(rows, meta)
        print(section)
        if args.write:
            record(args.write, section)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        redis.Redis.from_url(REDIS_URL).flushdb()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
