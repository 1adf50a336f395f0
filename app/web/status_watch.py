"""Requests that wait for a submission's status to change (the page's and the API's long poll).

Every waiter of this process is served by one query per tick for all the submissions
waited on, so a hundred teams watching their scores cost the database ten light queries
a second, not a hundred, and a score is seen within a tick of its commit instead of
within a browser's polling period.
"""

import asyncio
from collections import defaultdict

from anyio import to_thread
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from app.db import Session, SessionFactory
from app.models import SETTLED_STATUSES, Submission, SubmissionStatus
from app.services import submissions as submissions_service

TICK_SECONDS = 0.1
MAX_WAIT_SECONDS = 30.0


class StatusWatcher:
    """Wakes waiters when a submission's status is no longer the one they know."""

    def __init__(self, sessions: SessionFactory, tick: float = TICK_SECONDS) -> None:
        self._sessions = sessions
        self._tick = tick
        self._waiters: defaultdict[int, list[tuple[str, asyncio.Future[None]]]] = defaultdict(list)
        self._loop_task: asyncio.Task[None] | None = None

    async def wait(self, submission_id: int, known: str, timeout: float) -> bool:
        """Return True when the submission's status differs from `known`, False after `timeout`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (str(known), future)
        self._waiters[submission_id].append(entry)
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.ensure_future(self._watch())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=min(timeout, MAX_WAIT_SECONDS))
        except TimeoutError:
            return False
        finally:
            waiting = self._waiters.get(submission_id)
            if waiting is not None and entry in waiting:
                waiting.remove(entry)
                if not waiting:
                    del self._waiters[submission_id]
        return True

    async def _watch(self) -> None:
        while self._waiters:
            await asyncio.sleep(self._tick)
            ids = list(self._waiters)
            if not ids:
                break
            try:
                current = await to_thread.run_sync(self._read, ids)
            except Exception:
                # The database is away: waiters time out and poll again; nothing is lost.
                continue
            for submission_id, status in current.items():
                for known, future in self._waiters.get(submission_id, []):
                    if status != known and not future.done():
                        future.set_result(None)

    def _read(self, ids: list[int]) -> dict[int, SubmissionStatus]:
        with self._sessions() as session:
            found = submissions_service.statuses(session=session, submission_ids=ids)
            session.commit()  # end the read: on SQLite every transaction holds the write lock
            return found


async def wait_for_change(
    request: Request,
    session: Session,
    submission: Submission,
    seconds: float,
    since: SubmissionStatus | None = None,
) -> None:
    """Hold a request up to `seconds` until the submission's status differs from `since`
    (by default its status now), then read the submission again."""
    if seconds <= 0 or submission.status in SETTLED_STATUSES:
        return
    if since is not None and since != submission.status:
        return  # it changed already: answer at once
    watcher: StatusWatcher = request.app.state.status_watcher
    if await watcher.wait(submission.id, submission.status, seconds):
        await run_in_threadpool(_read_again, session, submission)


def _read_again(session: Session, submission: Submission) -> None:
    session.refresh(submission)
    session.commit()  # end the read: on SQLite every transaction holds the write lock
