"""Rendered public views (the leaderboard page and its API answer), kept per process.

A public view is the same for every visitor who is not logged in, so its bytes are
rendered once and served again while its key is current. The key holds the
leaderboard's BoardStamp (read with one light query per request, or shared between the
requests that arrive while one such query waits; see StampReader), whether the board is
visible to everyone at that moment, and whatever else of the request the view shows. A
new score bumps the phase's leaderboard_version, part of the stamp, so the next request
renders anew (the requests that miss together share one render; see SharedRenders); an
organizer's change to the phase or its challenge changes the stamp too.

Only visitors without a session cookie (pages) or without a token (API) are served from
here, so nothing that depends on who is asking (the user's name, their team's row, the
logout form's CSRF token, an organizer's view of a hidden board) is ever stored.
"""

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from anyio import to_thread

from app.db import SessionFactory
from app.services import leaderboard as leaderboard_service
from app.services.leaderboard import BoardStamp

MAX_ENTRIES = 256


class RenderedViews:
    """A bounded, thread-safe map from a view's key to its rendered body (least recently
    used first out, so keys made of request values cannot grow it without end)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        """Return the body stored under `key`, or None."""
        with self._lock:
            body = self._bodies.get(key)
            if body is None:
                self.misses += 1
                return None
            self._bodies.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        """Store a rendered body under `key`."""
        with self._lock:
            self._bodies[key] = body
            self._bodies.move_to_end(key)
            while len(self._bodies) > self.max_entries:
                self._bodies.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)


class SharedRenders:
    """Renders of a shared view that requests with the same key wait for together.

    When a score lands, every request in flight misses the stored view at once; the first
    renders it and the others, whose keys (the stamp they read after they arrived) are the
    same, take its result instead of rendering it again each. The render reads the
    database after that stamp was read, so what it shows is never older than the stamp.
    """

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, render: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """Return the result of the render in flight for `key` (starting it if there is
        none) and whether this call started it."""
        task = self._tasks.get(key)
        started = task is None
        if task is None:
            task = asyncio.ensure_future(render())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
            task.add_done_callback(_retrieve)
        # Shielded: a caller that goes away does not cancel the render the others wait for.
        return await asyncio.shield(task), started

    def _forget(self, key: Hashable, task: "asyncio.Future[Any]") -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]


@dataclass
class _Slot:
    running: "asyncio.Task[BoardStamp | None] | None" = None
    waiting: "asyncio.Task[BoardStamp | None] | None" = None


class StampReader:
    """Reads leaderboard stamps for the requests of this process, sharing reads.

    A request joins the read of its stamp that has not started yet, or schedules one that
    starts when the read in progress (if any) ends. So every request gets a stamp read
    after it arrived (a score that landed before the request is never missed), at most one
    read per stamp runs at a time, and under load one query serves many requests instead
    of each paying a thread hop and a database round trip.
    """

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], _Slot] = {}

    async def read(
        self, sessions: SessionFactory, challenge_slug: str, phase_slug: str
    ) -> BoardStamp | None:
        """Return the stamp of a phase's leaderboard, read after this call began."""
        key = (challenge_slug, phase_slug)
        slot = self._slots.setdefault(key, _Slot())
        if slot.waiting is None:
            slot.waiting = asyncio.ensure_future(self._run(key, slot, sessions, slot.running))
            slot.waiting.add_done_callback(_retrieve)
        # Shielded: a caller that goes away does not cancel the read the others wait for.
        return await asyncio.shield(slot.waiting)

    async def _run(
        self,
        key: tuple[str, str],
        slot: _Slot,
        sessions: SessionFactory,
        previous: "asyncio.Task[BoardStamp | None] | None",
    ) -> BoardStamp | None:
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
    sessions: SessionFactory, challenge_slug: str, phase_slug: str
) -> BoardStamp | None:
    with sessions() as session:
        stamp = leaderboard_service.read_stamp(
            session=session, challenge_slug=challenge_slug, phase_slug=phase_slug
        )
        session.commit()  # end the read (on SQLite, every transaction holds the write lock)
        return stamp


def _retrieve(task: "asyncio.Future[Any]") -> None:
    # Every waiter may have gone; mark the failure as seen so asyncio does not log it.
    if not task.cancelled():
        task.exception()
