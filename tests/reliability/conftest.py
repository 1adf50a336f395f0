"""The reliability tests reuse the site fixtures of tests/web."""

from tests.web.conftest import app, board, client  # noqa: F401  (fixtures)
