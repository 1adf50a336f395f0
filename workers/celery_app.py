"""The workers' Celery app: `celery -A workers.celery_app worker` (or `wsss4luad worker`)."""

import logging
from typing import Any

from celery.signals import setup_logging

from app.config import get_settings
from app.logs import configure_logging
from app.queue import make_celery

celery_app = make_celery(get_settings())
celery_app.conf.include = ["workers.tasks", "workers.baseline"]


@setup_logging.connect
def _use_structured_logs(loglevel: Any = None, **_: Any) -> None:
    """Replace Celery's log setup: JSON lines in production, with the bound submission id."""
    level = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
    configure_logging(
        json=get_settings().environment == "production",
        level=level if isinstance(level, int) else logging.INFO,
    )
