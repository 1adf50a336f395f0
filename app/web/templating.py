"""The one Jinja2 environment: templates from templates/, filters for display only."""

from datetime import datetime
from pathlib import Path
from typing import Any

import nh3
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markdown_it import MarkdownIt
from markupsafe import Markup

from app.models import enums

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

_markdown = MarkdownIt("commonmark", {"linkify": False, "typographer": True}).enable("table")


def render_markdown(text: str | None) -> Markup:
    """Render organizer Markdown to HTML, then sanitise it (no scripts, no event handlers)."""
    html = _markdown.render(text or "")
    clean = nh3.clean(html, link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # sanitised by nh3 just above


def format_score(value: float | None, digits: int = 4) -> str:
    """Show a score with fixed digits, or an en dash when there is none."""
    return "\u2013" if value is None else f"{value:.{digits}f}"


def format_utc(value: datetime | None) -> Markup:
    """Render a timestamp as <time>; site.js rewrites it into the viewer's time zone."""
    if value is None:
        return Markup("\u2013")
    iso = value.isoformat()
    text = value.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, text, text)


def format_bytes(value: int) -> str:
    """Show a size in human units."""
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@pass_context
def path_for(context: Context, name: str, /, **path_params: Any) -> str:
    """Return the path of the named route, without scheme or host.

    url_for gives absolute URLs, which name the wrong scheme behind a TLS-terminating proxy
    and would make the cached public pages depend on the host they were first asked from.
    """
    return str(context["request"].app.url_path_for(name, **path_params))


templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["path_for"] = path_for
templates.env.filters["markdown"] = render_markdown
templates.env.filters["score"] = format_score
templates.env.filters["utc"] = format_utc
templates.env.filters["bytes"] = format_bytes
# Templates compare with the members, so a renamed value fails loudly instead of never matching.
templates.env.globals.update(
    {
        name: getattr(enums, name)
        for name in (
            "Counting",
            "ExternalData",
            "LeaderboardVisibility",
            "PhaseState",
            "RegistrationMode",
            "RunStatus",
            "SubmissionStatus",
            "TeamStatus",
        )
    }
)
