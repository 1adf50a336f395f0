"""The web application: `create_app()` builds it, the lifespan opens its resources."""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from anyio import to_thread
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, utcnow
from app.errors import DomainError, InvalidInput, LimitReached, NotAuthenticated
from app.logs import RequestId, configure_logging
from app.models import User
from app.observability import (
    DatabaseCollector,
    RequestMetrics,
    check_broker,
    check_database,
    make_registry,
)
from app.queue import TaskSender, make_celery
from app.services import sessions as sessions_service
from app.services.mail import ConsoleMailer, FileMailer, Mailer
from app.services.storage import LocalStorage
from app.web import api
from app.web.deps import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for
from app.web.middleware import CONTENT_SECURITY_POLICY, LimitBodySize, SecurityHeaders
from app.web.pages import accounts, baselines, challenges, organizer, submissions
from app.web.public_cache import KnownView, RenderedViews, SharedRenders, StampReader, StoredViews
from app.web.status_watch import StatusWatcher
from app.web.templating import templates

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


def make_mailer(settings: Settings) -> Mailer:
    """Return the configured email backend."""
    if settings.email_backend == "file":
        return FileMailer(settings.data_dir / "outbox")
    return ConsoleMailer()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the site for the given (or the environment's) settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.environment != "test":
            configure_logging(json=settings.environment == "production")
        to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        engine = make_engine(settings.database_url, threads=settings.web_threads)
        app.state.sessions = make_sessionmaker(engine)
        app.state.storage = LocalStorage(settings.data_dir)
        celery = make_celery(settings, client=True)
        app.state.celery = celery
        app.state.tasks = TaskSender(celery)
        app.state.mailer = make_mailer(settings)
        app.state.status_watcher = StatusWatcher(app.state.sessions)
        collector = DatabaseCollector(app.state.sessions, celery, settings)
        registry.register(collector)
        yield
        registry.unregister(collector)
        engine.dispose()

    app = FastAPI(
        title="WSSS4LUAD challenge server",
        lifespan=lifespan,
        debug=settings.debug,
        # FastAPI's own /docs loads Swagger UI from a CDN with an inline script, which the CSP
        # forbids; the route below serves the vendored copy instead.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    app.state.settings = settings
    app.state.public_views = RenderedViews[bytes]()
    app.state.known_views = RenderedViews[KnownView]()
    app.state.stamps = StampReader()
    app.state.public_renders = SharedRenders()
    registry, request_latency = make_registry()
    app.state.metrics = registry
    app.add_middleware(StoredViews)  # innermost: stored views still get every header
    app.add_middleware(
        SecurityHeaders,
        csrf_cookie=CSRF_COOKIE,
        secure_cookies=settings.secure_cookies,
        strict_transport=settings.secure_cookies,
    )
    app.add_middleware(
        LimitBodySize,
        max_bytes=settings.max_upload_bytes,
        larger=[(baselines.CHECKPOINT_UPLOAD, settings.max_checkpoint_bytes)],
    )
    app.add_middleware(RequestMetrics, histogram=request_latency)
    app.add_middleware(RequestId)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(accounts.router)
    app.include_router(challenges.router)
    app.include_router(submissions.router)
    app.include_router(organizer.router)
    app.include_router(baselines.router)
    app.include_router(api.router)

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        if not settings.api_docs:
            raise StarletteHTTPException(404, "the API reference is not published here")
        response = templates.TemplateResponse(
            request=request, name="api_docs.html", context={"openapi_url": "/openapi.json"}
        )
        # Swagger UI sets inline style attributes; scripts stay restricted to this origin.
        response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY.replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'"
        )
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        """Answer while the process runs (liveness)."""
        return PlainTextResponse("ok")

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        """Answer 200 when the database and the broker are reachable, 503 otherwise."""
        checks = {
            "database": check_database(request.app.state.sessions),
            "broker": check_broker(request.app.state.celery, settings),
        }
        body = {name: problem or "ok" for name, problem in checks.items()}
        ready = not any(checks.values())
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        """Prometheus metrics of this process and of the database, for the scraper only."""
        if settings.metrics_token:
            expected = f"Bearer {settings.metrics_token}"
            if not hmac.compare_digest((authorization or "").encode(), expected.encode()):
                return PlainTextResponse(
                    "send the metrics token as 'Authorization: Bearer <token>'",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        elif settings.environment == "production":
            return PlainTextResponse("not found", status_code=404)  # set WSSS4LUAD_METRICS_TOKEN
        return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)

    _add_error_handlers(app)
    return app


def _wants_html(request: Request) -> bool:
    """Pages answer in HTML unless the caller asks for JSON only (the API always gets JSON)."""
    accept = request.headers.get("accept", "")
    wants_json = "application/json" in accept and "text/html" not in accept
    return not request.url.path.startswith("/api/") and not wants_json


def _error_page(request: Request, status_code: int, message: str) -> Response:
    if not _wants_html(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return templates.TemplateResponse(
        request=request,
        name="error.html",
        context={
            "status_code": status_code,
            "message": message,
            "user": _viewer(request),
            "csrf_token": csrf_token_for(request, request.app.state.settings),
        },
        status_code=status_code,
    )


def _viewer(request: Request) -> User | None:
    """Return the logged-in user for the error page's header; never fail while failing."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not hasattr(request.app.state, "sessions"):
        return None
    settings: Settings = request.app.state.settings
    try:
        with request.app.state.sessions() as session:
            found = sessions_service.resolve_session(
                session=session,
                token=token,
                idle=timedelta(minutes=settings.session_idle_minutes),
            )
            return found.user if found else None
    except Exception:
        return None


def _json_error(error: DomainError) -> JSONResponse:
    """Answer a domain error as JSON, with what a script needs to react to it."""
    body: dict[str, object] = {"detail": error.message}
    headers: dict[str, str] = {}
    if isinstance(error, InvalidInput):
        body["errors"] = error.errors
        if "file" in error.errors:
            body["problems"] = error.errors["file"].splitlines()
    if isinstance(error, LimitReached) and error.retry_at is not None:
        body["retry_at"] = error.retry_at.isoformat()
        seconds = max(1, int((error.retry_at - utcnow()).total_seconds()))
        headers["Retry-After"] = str(seconds)
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=error.status_code, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        if isinstance(error, NotAuthenticated) and _wants_html(request):
            login = request.app.url_path_for("login_form")
            return RedirectResponse(f"{login}?next={request.url.path}", status_code=303)
        if not _wants_html(request):
            return _json_error(error)
        return _error_page(request, error.status_code, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = str(error.detail) if error.detail else "something went wrong"
        if error.status_code == 404:
            message = "This page does not exist."
        return _error_page(request, error.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'][1:])}: {e['msg']}" for e in error.errors()
        )
        return _error_page(request, 422, f"invalid request ({fields})")
