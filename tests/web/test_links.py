"""Internal links come from route names: no literal paths in templates or redirects."""

import ast
import re
from pathlib import Path

import pytest
from starlette.routing import NoMatchFound

from app.config import Settings
from app.main import create_app
from app.web.templating import TEMPLATES_DIR

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(TEMPLATES_DIR.rglob("*.html"))
ROUTER_MODULES = [*sorted((ROOT / "app" / "web").rglob("*.py")), ROOT / "app" / "main.py"]

# An attribute whose value starts with a path, e.g. href="/challenges/...".
LITERAL_ATTRIBUTE = re.compile(r"""\b(?:href|action|src|hx-[\w-]+|data-[\w-]+)=["']/""")
# A path built by hand in an expression or a query, e.g. "/challenges/" ~ slug, ?next=/login
# (a suffix test such as path.endswith("/submissions") names no link).
LITERAL_PATH = re.compile(
    r"""(?<!endswith\()(?:["'=])/(?:account|api|challenges|login|logout|organizer|password|signup|static|submissions)\b"""
)
PATH_FOR = re.compile(r"path_for\(\s*'(\w+)'([^)]*)\)")
KEYWORD = re.compile(r"(\w+)=")
REDIRECTS = {"redirect", "RedirectResponse"}


def _lines(pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{template.relative_to(ROOT)}:{number}: {line.strip()}"
        for template in TEMPLATES
        for number, line in enumerate(template.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]


def test_templates_have_no_literal_internal_paths() -> None:
    assert _lines(LITERAL_ATTRIBUTE) == []
    assert _lines(LITERAL_PATH) == []


def _starts_with_path(node: ast.expr) -> bool:
    if isinstance(node, ast.JoinedStr):
        node = node.values[0] if node.values else node
    return isinstance(node, ast.Constant) and str(node.value).startswith("/")


def test_routers_build_no_paths_by_hand() -> None:
    found = []
    for module in ROUTER_MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.JoinedStr | ast.Call):
                continue
            # An f-string starting with "/" builds a path (route decorators take plain strings).
            hand_built = isinstance(node, ast.JoinedStr) and _starts_with_path(node)
            redirect_to_literal = (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) in REDIRECTS
                and bool(node.args)
                and _starts_with_path(node.args[0])
            )
            if hand_built or redirect_to_literal:
                found.append(f"{module.relative_to(ROOT)}:{node.lineno}")
    assert found == []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("links")
    return create_app(
        Settings(
            environment="test",
            data_dir=folder / "data",
            database_url=f"sqlite:///{folder / 'unused.db'}",
            secret_key="test-secret-key-" + "x" * 32,
        )
    )


def test_every_path_for_names_a_route_with_its_parameters(site) -> None:
    calls = [
        (template.relative_to(ROOT), match.group(1), KEYWORD.findall(match.group(2)))
        for template in TEMPLATES
        for match in PATH_FOR.finditer(template.read_text())
    ]
    assert len(calls) > 80
    unknown = []
    for template, name, parameters in calls:
        try:
            site.url_path_for(name, **dict.fromkeys(parameters, "1"))
        except NoMatchFound:
            unknown.append(f"{template}: path_for('{name}', {', '.join(parameters)})")
    assert unknown == []
