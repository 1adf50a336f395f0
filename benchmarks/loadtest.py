"""`make loadtest`: deadline-day load on loopback, with the figures written to
docs/reliability.md.

Starts the real stack (uvicorn with 2 processes, a Celery worker with 2 processes and
beat) on the local PostgreSQL and Redis, imports the real validation split (or the
synthetic one when ../shared is absent), registers 20 teams and runs locust: 200 browsers
on the leaderboard and challenge pages while 20 teams upload full submissions and wait
for their scores. Bounded in time; everything runs on 127.0.0.1.

`--think 0` turns the browsers into a capacity test (no pause between pages) and
`--section NAME` records such a run between its own markers, so that the document keeps the
realistic run and the capacity run side by side. Each run also records the machine's load
before it started and the CPU seconds that locust, the web processes, the workers and the
load database's PostgreSQL backends used while it ran: on a shared 2-core machine the
generator's share is part of the figures.
"""

import argparse
import csv
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
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
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def markers(section: str | None) -> tuple[str, str]:
    """The comment lines that frame a run's figures in the document."""
    name = f"loadtest:{section}" if section else "loadtest"
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dataset(work: Path) -> tuple[Path, str]:
    if (REAL_VALIDATION / "mask").is_dir():
        return REAL_VALIDATION, "real WSSS4LUAD validation split (40 images, 65.9 Mpx)"
    from app.devtools.demo_data import make_demo_data

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


def cpu_seconds(match: Callable[[int, str], bool]) -> float:
    """CPU time (user + system, reaped children included) of the processes that match
    (pid's session id, command line)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if match(int(fields[3]), cmdline):
            total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as handle:
        return list(csv.DictReader(handle))


def render(rows: list[dict[str, str]], meta: dict[str, str], section: str | None = None) -> str:
    start_marker, end_marker = markers(section)
    lines = [
        start_marker,
        f"Measured {meta['when']} on {meta['machine']}, {meta['seconds']} s, "
        f"{meta['users']} simulated users ({meta['browsers']} browsers, "
        f"{meta['submitters']} submitting teams), browser think time {meta['think']}, "
        f"data: {meta['data']}. 1-minute load average before the run: {meta['load']}.",
        "",
        "| request | count | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |"
        )
    lines += [
        "",
        f"CPU seconds used during the run (of {meta['available']} available): {meta['cpu']}.",
        "",
        f"Reproduce: `{meta['command']}`",
        end_marker,
    ]
    return "\n".join(lines)


def record(document: Path, section: str, name: str | None = None) -> None:
    start_marker, end_marker = markers(name)
    text = document.read_text() if document.exists() else "# Reliability\n\n"
    main_end = markers(None)[1]
    if start_marker in text:
        head, rest = text.split(start_marker, 1)
        text = head + section + rest.split(end_marker, 1)[1]
    elif main_end in text:  # a named run goes right after the main one
        head, rest = text.split(main_end, 1)
        text = head + main_end + "\n\n" + section + rest
    else:
        text = text.rstrip("\n") + "\n\n## Load test\n\n" + section + "\n"
    document.write_text(text)


def command(args: argparse.Namespace) -> str:
    """The make command line that repeats this run."""
    options = [
        f"--{option} {getattr(args, option)}"
        for option, default in (
            ("seconds", 120),
            ("browsers", 200),
            ("teams", 20),
            ("think", "0.5-1.5"),
            ("section", None),
        )
        if getattr(args, option) != default
    ]
    return "make loadtest" + (f' LOADTEST_ARGS="{" ".join(options)}"' if options else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--browsers", type=int, default=200)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument(
        "--think",
        default="0.5-1.5",
        help="a browser's pause between pages in seconds, 'LOW-HIGH' or '0' (capacity)",
    )
    parser.add_argument("--section", help="record between the markers of this name")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()[0]
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
        sessions = {process.pid for process in processes}

        def usage() -> tuple[float, float, float, float]:
            return (
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
                + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime,
                cpu_seconds(lambda sid, _: sid == processes[0].pid),
                cpu_seconds(lambda sid, _: sid == processes[1].pid),
                cpu_seconds(lambda sid, cmd: sid not in sessions and f" {name} " in cmd),
            )

        before = usage()
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
            env={
                **env,
                "LOADTEST_TOKENS": ",".join(tokens),
                "LOADTEST_ARCHIVE": str(archive),
                "LOADTEST_THINK": args.think,
            },
            check=False,
            timeout=args.seconds + 180,
        )
        used = [after - earlier for after, earlier in zip(usage(), before, strict=True)]
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
            "think": "none (capacity test)" if args.think == "0" else f"{args.think} s",
            "load": f"{load:.2f}",
            "available": f"{len(os.sched_getaffinity(0)) * args.seconds} on "
            f"{len(os.sched_getaffinity(0))} cores",
            "cpu": ", ".join(
                f"{what} {seconds:.0f}"
                for what, seconds in zip(
                    ("locust", "web", "workers", "PostgreSQL"), used, strict=True
                )
            ),
            "command": command(args),
        }
        section = render(rows, meta, args.section)
        print(section)
        if args.write:
            record(args.write, section, args.section)
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
