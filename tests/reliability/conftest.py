"""The reliability tests reuse the site fixtures of tests/web and the worker fixtures of
tests/workers. Their Redis servers are private (tests/reliability/faults.py), so that no
other test run on the machine shares their queues."""

from tests.web.conftest import app, board, client  # noqa: F401  (fixtures)
from tests.workers.conftest import task_client, watcher  # noqa: F401  (fixtures)
