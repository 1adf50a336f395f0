"""The workers' Celery app: `celery -A workers.celery_app worker` (or `wsss4luad worker`)."""

from app.config import get_settings
from app.queue import make_celery

celery_app = make_celery(get_settings())
celery_app.conf.include = ["workers.tasks"]
