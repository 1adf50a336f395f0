"""What every console page shares: its router settings and its rendering."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.config import Settings
from app.models import User
from app.web.rendering import render
from app.web.routing import TransactionRoute


def console_router() -> APIRouter:
    """Return a router for console routes (under /organizer)."""
    return APIRouter(prefix="/organizer", tags=["organizer"], route_class=TransactionRoute)


def console_page(
    request: Request,
    name: str,
    settings: Settings,
    user: User,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """Render a console page (the challenge bar shows the console as the current section)."""
    return render(
        request,
        f"organizer/{name}.html",
        settings=settings,
        user=user,
        is_organizer=True,
        status_code=status_code,
        **context,
    )
