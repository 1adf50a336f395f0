"""Rendered public views (the challenge page, the leaderboard page and its API answer),
kept per process, served by one helper: cached_view(view, render).

A public view is the same for every visitor who is not logged in, so its bytes are
rendered once and served again while its key is current. The key holds the view's stamp
(a leaderboard's BoardStamp or a challenge's ChallengeStamp, read with one light query
per request, or shared between the requests that arrive while one such query waits; see
StampReader), what of the moment the view shows (whether the board is visible to
everyone, the phases' states), and whatever else of the request the view shows. A new
score bumps the phase's leaderboard_version, part of a BoardStamp, so the next request
renders anew (the requests that miss together share one render; see SharedRenders); an
organizer's change to the texts, a phase or the challenge changes the stamps too.

Only visitors without a session cookie (pages) or without a token (API) are served from
here, so nothing that depends on who is asking (the user's name, their team's row, the
logout form's CSRF token, an organizer's view of a hidden board) is ever stored. A
render runs in one thread hop on the request's own session (the normal dependency) and
commits there; a stored view costs no thread hop and no session work at all.
"""

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.db import Session, SessionFactory, utcnow
from app.services import challenges as challenges_service
from app.services import leaderboard as leaderboard_service
from app.services.challenges import ChallengeStamp
from app.services.leaderboard import BoardStamp
from app.web.deps import SESSION_COOKIE, SessionDep

Stamp = BoardStamp | ChallengeStamp

MAX_ENTRIES = 256
Value = TypeVar("Value")


class RenderedViews(Generic[Value]):
    """A bounded, thread-safe map from a view's key to its rendered body (least recently
    used first out, so keys made of request values cannot grow it without end)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._bodies: OrderedDict[Hashable, Value] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Value | None:
        """Return the body stored under `key`, or None."""
        with self._lock:
            body = self._bodies.get(key)
            if body is None:
                self.misses += 1
                return None
            self._bodies.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: Value) -> None:
        """Store a rendered body under `key`."""
        with self._lock:
            self._bodies[key] = body
            self._bodies.move_to_end(key)
            while len(self._bodies) > self.max_entries:
                self._bodies.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)


class _Abandoned(Exception):
    """The request rendering a shared view went away before it finished."""


class SharedRenders:
    """Renders of a shared view that requests with the same key wait for together.

    When a score lands, every request in flight misses the stored view at once; the first
    renders it and the others, whose keys (the stamp they read after they arrived) are the
    same, take its result instead of rendering it again each. The render reads the
    database after that stamp was read, so what it shows is never older than the stamp.
    The first request renders in its own task, on its own session; its render runs in a
    worker thread that a cancellation cannot interrupt (anyio delivers it once the thread
    is done), so that session is never closed under the render. If the first request goes
    away, a waiter renders instead.
    """

    def __init__(self) -> None:
        self._results: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, render: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """Return the result of the render in flight for `key` (running it if there is
        none) and whether this call ran it."""
        while (pending := self._results.get(key)) is not None:
            try:
                # Shielded: a waiter that goes away does not cancel the shared result.
                return await asyncio.shield(pending), False
            except _Abandoned:
                continue  # its renderer went away: render, or wait for a newer one
        result = asyncio.get_running_loop().create_future()
        result.add_done_callback(_retrieve)
        self._results[key] = result
        try:
            value = await render()
        except asyncio.CancelledError:
            result.set_exception(_Abandoned())
            raise
        except BaseException as error:
            result.set_exception(error)
            raise
        finally:
            if self._results.get(key) is result:
                del self._results[key]
        result.set_result(value)
        return value, True


@dataclass
class _Slot:
    running: "asyncio.Task[Stamp | None] | None" = None
    waiting: "asyncio.Task[Stamp | None] | None" = None


class StampReader:
    """Reads leaderboard stamps for the requests of this process, sharing reads.

    A request joins the read of its stamp that has not started yet, or schedules one that
    starts when the read in progress (if any) ends. So every request gets a stamp read
    after it arrived (a score that landed before the request is never missed), at most one
    read per stamp runs at a time, and under load one query serves many requests instead
    of each paying a thread hop and a database round trip.
    """

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str | None], _Slot] = {}

    async def read(
        self, sessions: SessionFactory, challenge_slug: str, phase_slug: str | None
    ) -> Stamp | None:
        """Return the stamp of a phase's leaderboard (or, without a phase, of the
        challenge's page), read after this call began."""
        key = (challenge_slug, phase_slug)
        slot = self._slots.setdefault(key, _Slot())
        if slot.waiting is None:
            slot.waiting = asyncio.ensure_future(self._run(key, slot, sessions, slot.running))
            slot.waiting.add_done_callback(_retrieve)
        # Shielded: a caller that goes away does not cancel the read the others wait for.
        return await asyncio.shield(slot.waiting)

    async def _run(
        self,
        key: tuple[str, str | None],
        slot: _Slot,
        sessions: SessionFactory,
        previous: "asyncio.Task[Stamp | None] | None",
    ) -> Stamp | None:
        if previous is not None:
            await asyncio.wait([previous])
        this = asyncio.current_task()
        slot.waiting = None  # from now on, newcomers wait for the next read
        slot.running = this
        try:
            return await to_thread.run_sync(_read_stamp, sessions, *key)
        finally:
            if slot.running is this:
                slot.running = None
            if slot.running is None and slot.waiting is None:
                self._slots.pop(key, None)


def _read_stamp(
    sessions: SessionFactory, challenge_slug: str, phase_slug: str | None
) -> Stamp | None:
    with sessions() as session:
        stamp: Stamp | None
        if phase_slug is None:
            stamp = challenges_service.read_challenge_stamp(session=session, slug=challenge_slug)
        else:
            stamp = leaderboard_service.read_stamp(
                session=session, challenge_slug=challenge_slug, phase_slug=phase_slug
            )
        session.commit()  # end the read (on SQLite, every transaction holds the write lock)
        return stamp


def _retrieve(task: "asyncio.Future[Any]") -> None:
    # Every waiter may have gone; mark the failure as seen so asyncio does not log it.
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class PublicView:
    """What identifies a view shown alike to every visitor without a session or token."""

    name: tuple[Hashable, ...]
    """Whatever of the request the view shows (path, base URL, query parameters)."""
    challenge: str
    phase: str | None
    """The leaderboard whose stamp the view follows; None: the challenge page's stamp."""
    moment: Callable[[Any, datetime | None], Hashable]
    """What of the current time the view shows, from its stamp and a time (None: now)."""
    media_type: str


Rendered = tuple[Response, Stamp | None]
"""A rendered response, and the stamp of the rows it was rendered from when every visitor
without a session may be served it again (None: it is not stored)."""


class CachedView:
    """The request's cached_view(view, render): a stored rendering of `view` when one is
    current, else `render()` run in one thread hop on the request's session."""

    def __init__(self, request: Request, session: Session) -> None:
        self._request = request
        self._state = request.app.state
        self._session = session

    async def __call__(self, view: PublicView | None, render: Callable[[], Rendered]) -> Response:
        """Serve `view` from the stored bytes when current (None: never stored)."""
        if view is None:
            return (await run_in_threadpool(self._render, None, render))[0]
        current = await _current(self._state, view)
        if current is None:  # no such challenge or phase: the render answers 404
            return (await run_in_threadpool(self._render, None, render))[0]
        scope = self._request.scope
        self._state.known_views.put(_request_key(scope), KnownView(view, scope.get("route")))
        key, body = current
        if body is not None:
            return Response(body, media_type=view.media_type)
        shared: SharedRenders = self._state.public_renders
        (response, _), started = await shared.run(
            key, lambda: run_in_threadpool(self._render, view, render)
        )
        # The request that rendered sends the response itself; the others send copies.
        if started:
            return response  # type: ignore[no-any-return]
        return Response(response.body, response.status_code, media_type=view.media_type)

    def _render(self, view: PublicView | None, render: Callable[[], Rendered]) -> Rendered:
        started = utcnow()
        response, stamp = render()
        if view is not None and stamp is not None:
            # Keyed by the objects it was rendered from, not by the stamp read before: on
            # PostgreSQL the two reads may see different commits. A render during which a
            # phase opened or ended may show either moment, so it is not stored at all.
            moment = view.moment(stamp, None)
            if moment == view.moment(stamp, started):
                views: RenderedViews[bytes] = self._state.public_views
                views.put((view.name, stamp, moment), bytes(response.body))
        self._session.commit()  # no lock may outlive this thread hop (see app.web.routing)
        return response, stamp


async def _current(state: Any, view: PublicView) -> tuple[Hashable, bytes | None] | None:
    """Read the view's stamp now; return its key and the body stored under that key, or
    None when the view's challenge or phase does not exist."""
    stamp = await state.stamps.read(state.sessions, view.challenge, view.phase)
    if stamp is None:
        return None
    key = (view.name, stamp, view.moment(stamp, None))
    views: RenderedViews[bytes] = state.public_views
    return key, views.get(key)


async def get_cached_view(request: Request, session: SessionDep) -> CachedView:
    """Return the request's cached_view helper."""
    return CachedView(request, session)


CachedViewDep = Annotated[CachedView, Depends(get_cached_view, scope="function")]


@dataclass(frozen=True)
class KnownView:
    """The public view a request for the same address was, and the route that made it."""

    view: PublicView
    route: Any


def _request_key(scope: Scope) -> Hashable:
    """What of a request decides which view it gets, for a visitor without a session."""
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    return (scope["scheme"], host, scope.get("root_path", ""), scope["path"], scope["query_string"])


def _anonymous(scope: Scope) -> bool:
    # Stricter than any route's own rule (each needs only one of the two absent), so a
    # request passed on here is one its route would not have shared either.
    for name, value in scope["headers"]:
        if name == b"authorization" or (name == b"cookie" and _SESSION_COOKIE in value):
            return False
    return True


_SESSION_COOKIE = SESSION_COOKIE.encode() + b"="


class StoredViews:
    """ASGI middleware answering a visitor without a session or token from a stored
    public view, before routing and dependency resolution.

    It serves only an address that cached_view has already served as a public view (it
    remembers which view that was), and only while that view's stored bytes are current
    for a stamp read after the request arrived; anything else goes on to the routes,
    where cached_view is the one place that decides, renders and stores. On a 2-core
    machine routing and dependencies cost about as much as everything else of a stored
    leaderboard hit together.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stored view when there is a current one, else pass the request on."""
        if scope["type"] == "http" and scope["method"] == "GET" and _anonymous(scope):
            state = scope["app"].state
            known: KnownView | None = state.known_views.get(_request_key(scope))
            if known is not None:
                current = await _current(state, known.view)
                if current is not None and current[1] is not None:
                    scope["route"] = known.route  # for the latency metrics' route label
                    response = Response(current[1], media_type=known.view.media_type)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
