"""Database plumbing: the declarative base, engines and sessions. Nothing connects at import."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.orm import Session as Session  # re-exported: app.web names it from here
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class StrEnumType(TypeDecorator[E]):
    """A StrEnum stored as its plain value in a VARCHAR column, read back as the member."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Any) -> str | None:
        # A stray value fails here, at the write, instead of being read back later.
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def make_engine(url: str, *, threads: int = 40) -> Engine:
    """Create an engine for a process running `threads` threads that use the database.

    SQLite gets WAL, foreign keys and write-locking transactions.
    """
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # More connections than threads, so a thread never waits for a connection that no
    # other thread is using.
    return create_engine(url, pool_pre_ping=True, pool_size=threads + 5, max_overflow=0)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so check-then-insert sequences
        # (submission quotas) are serialised on SQLite, which has no SELECT ... FOR UPDATE.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


SessionFactory = sessionmaker[Session]
"""What make_sessionmaker returns. The web layer, which may not import SQLAlchemy (an
import-linter contract keeps its queries in app.services), names the types from here."""


def make_sessionmaker(engine: Engine) -> SessionFactory:
    """Return a session factory whose objects stay readable after commit."""
    factory = sessionmaker(engine, expire_on_commit=False)

    @event.listens_for(factory, "after_commit")
    def _run_after_commit(session: Session) -> None:
        session.info.pop(_ON_ROLLBACK, None)
        for callback in session.info.pop(_AFTER_COMMIT, []):
            callback()

    @event.listens_for(factory, "after_soft_rollback")
    def _run_on_rollback(session: Session, _transaction: Any) -> None:
        session.info.pop(_AFTER_COMMIT, None)
        for callback in session.info.pop(_ON_ROLLBACK, []):
            callback()

    return factory


_AFTER_COMMIT = "after_commit_callbacks"
_ON_ROLLBACK = "on_rollback_callbacks"


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` if the session's transaction is rolled back (undo work outside it)."""
    session.info.setdefault(_ON_ROLLBACK, []).append(callback)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed (never on rollback).

    This is how a task is sent only after the row it names is visible to workers.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit when the block succeeds, roll back when it raises."""
    with factory() as session, session.begin():
        yield session
