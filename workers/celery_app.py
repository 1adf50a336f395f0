"""The workers' Celery app: `celery -A workers.celery_app worker` (or `wsss4luad worker`)."""

from typing import Any

from celery.signals import setup_logging

from app.config import get_settings
from app.logs import configure_logging
from app.queue import make_celery

celery_app = make_celery(get_settings())
celery_app.conf.include = ["workers.tasks"]


@setup_logging.connect
def _use_structured_logs(**_: Any) -> None:
    """Replace Celery's log setup: JSON lines in production, with the bound submission id."""
    configure_logging(json=get_settings().environment == "production")
