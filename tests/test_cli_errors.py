"""The command line's one error handler: exit codes, messages, and nothing else catching."""

import ast
import io
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console

from app.cli.common import (
    EXIT_BAD_GROUND_TRUTH,
    EXIT_INTERNAL,
    EXIT_REJECTED,
    explain,
    reported_errors,
)
from app.client import ClientError
from app.errors import Conflict, DomainError, NotFound
from app.scoring import GroundTruthError, Problem, SubmissionRejected

CLI_DIR = Path(__file__).resolve().parents[1] / "app" / "cli"


def explained(error: Exception, **options: str) -> tuple[int | None, str]:
    out = io.StringIO()
    code = explain(error, Console(file=out, soft_wrap=True), **options)
    return code, out.getvalue()


@pytest.mark.parametrize(
    ("error", "options", "code", "lines"),
    [
        (DomainError("no such phase"), {}, EXIT_REJECTED, ["Refused: no such phase"]),
        (NotFound("no such team"), {}, EXIT_REJECTED, ["Refused: no such team"]),
        (
            Conflict("mask: folder not found"),
            {"refused": "Import refused"},
            EXIT_REJECTED,
            ["Import refused: mask: folder not found"],
        ),
        (
            ClientError("422: refused", problems=["01.png: is missing"]),
            {},
            EXIT_REJECTED,
            ["Refused: 422: refused", "  - 01.png: is missing"],
        ),
        (
            ClientError("no token"),
            {"refused": "Cannot submit"},
            EXIT_REJECTED,
            ["Cannot submit: no token"],
        ),
        (
            GroundTruthError("mask: folder not found"),
            {},
            EXIT_BAD_GROUND_TRUTH,
            ["Ground truth unusable: mask: folder not found"],
        ),
        (
            SubmissionRejected([Problem("01.png", "is missing")], omitted=2),
            {"scoring": "s.zip"},
            EXIT_REJECTED,
            [
                "Submission refused (s.zip), 3 problem(s):",
                "  - 01.png: is missing",
                "  ... and 2 more",
            ],
        ),
    ],
)
def test_each_expected_error_has_its_exit_code_and_message(error, options, code, lines):
    assert explained(error, **options) == (code, "\n".join(lines) + "\n")


def test_an_unexpected_error_is_not_explained():
    assert explained(RuntimeError("boom")) == (None, "")


def test_an_unexpected_error_while_scoring_is_the_scorers_bug(capsys):
    with pytest.raises(typer.Exit) as exited, reported_errors(scoring="s.zip"):
        raise RuntimeError("boom")
    assert exited.value.exit_code == EXIT_INTERNAL
    assert (
        "Internal error (RuntimeError: boom); this is a bug in the scorer"
        in capsys.readouterr().err
    )


def test_an_unexpected_error_elsewhere_keeps_its_traceback():
    with pytest.raises(RuntimeError, match="boom"), reported_errors():
        raise RuntimeError("boom")


@pytest.mark.parametrize("module", sorted(CLI_DIR.glob("*.py")), ids=lambda path: path.name)
def test_only_the_shared_handler_catches_errors(module):
    tree = ast.parse(module.read_text())
    handlers = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler)]
    if module.name == "common.py":
        assert handlers, "the shared handler lives here"
    else:
        assert handlers == [], f"{module.name} catches errors itself; use reported_errors()"


def test_the_command_line_starts_without_the_heavy_libraries():
    heavy = ["numpy", "sqlalchemy", "fastapi", "starlette", "celery", "httpx2", "uvicorn"]
    code = f"import sys, app.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
