"""Health, readiness and Prometheus metrics of the site.

Submission counts, the scoring-time histogram and baseline runs are read from the database
at scrape time, so every web process reports the same numbers whichever worker scored what.
Request latency is measured in each web process.
"""

import time
from collections.abc import Iterator
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.models import Submission, SubmissionStatus, Team
from app.queue import SCORING_QUEUE

SCORING_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


def check_database(sessions: sessionmaker[Session]) -> str | None:
    """Return None when the database answers, else the reason."""
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:200]
    return None


def check_broker(celery: Celery, settings: Settings) -> str | None:
    """Return None when the broker accepts a connection, else the reason."""
    if settings.uses_embedded_broker:
        folder = settings.broker_dir / "messages"
        return None if folder.is_dir() else f"{folder} is missing"
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:200]
    return None


def queue_depth(celery: Celery, settings: Settings) -> int | None:
    """Return how many scoring messages wait in the broker (None when unknown)."""
    try:
        if settings.uses_embedded_broker:
            pattern = f"*.{SCORING_QUEUE}.msg"
            return sum(1 for _ in (settings.broker_dir / "messages").glob(pattern))
        with celery.connection_for_read() as connection:
            client = connection.default_channel.client
            return int(client.llen(SCORING_QUEUE))
    except Exception:
        return None


class DatabaseCollector(Collector):
    """Exposes what the database knows: submissions by status, scoring times, baselines."""

    def __init__(self, sessions: sessionmaker[Session], celery: Celery, settings: Settings):
        self.sessions = sessions
        self.celery = celery
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        """Query the database (and the broker) once per scrape."""
        with self.sessions() as session:
            by_status = dict(
                session.execute(
                    select(Submission.status, func.count(Submission.id)).group_by(Submission.status)
                ).all()
            )
            seconds = list(
                session.scalars(
                    select(Submission.scoring_seconds).where(
                        Submission.scoring_seconds.is_not(None)
                    )
                )
            )
            baseline_runs = session.scalar(
                select(func.count(Submission.id))
                .join(Team, Team.id == Submission.team_id)
                .where(Team.is_baseline.is_(True))
            )
        submissions = GaugeMetricFamily(
            "wsss4luad_submissions", "Submissions by status", labels=["status"]
        )
        for status in SubmissionStatus:
            submissions.add_metric([status], by_status.get(status, 0))
        yield submissions
        buckets = [
            (str(bound), sum(1 for value in seconds if value is not None and value <= bound))
            for bound in SCORING_BUCKETS
        ]
        buckets.append(("+Inf", len(seconds)))
        yield HistogramMetricFamily(
            "wsss4luad_scoring_duration_seconds",
            "Time to score a submission (latest run of each)",
            buckets=buckets,
            sum_value=float(sum(value for value in seconds if value is not None)),
        )
        runs = CounterMetricFamily("wsss4luad_baseline_runs", "Submissions by baseline teams")
        runs.add_metric([], baseline_runs or 0)
        yield runs
        depth = queue_depth(self.celery, self.settings)
        if depth is not None:
            yield GaugeMetricFamily(
                "wsss4luad_queue_depth", "Scoring messages waiting in the broker", value=depth
            )


class RequestMetrics:
    """ASGI middleware timing every request by route template and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.histogram.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


def make_registry() -> tuple[CollectorRegistry, Histogram]:
    """Return a registry of this app's own and its request-latency histogram."""
    registry = CollectorRegistry()
    histogram = Histogram(
        "wsss4luad_http_request_duration_seconds",
        "HTTP request latency by route",
        ["method", "route", "status"],
        registry=registry,
    )
    return registry, histogram
