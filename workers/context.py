"""What a worker process builds once and keeps: settings, sessions, storage, ground truths."""

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.scoring import PreparedGroundTruth
from app.services.storage import LocalStorage


@dataclass
class WorkerContext:
    """Per-process resources, built lazily after the prefork pool has forked."""

    settings: Settings
    _ground_truths: dict[str, PreparedGroundTruth] = field(default_factory=dict)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Return this process's session factory."""
        return make_sessionmaker(make_engine(self.settings.database_url))

    @cached_property
    def storage(self) -> LocalStorage:
        """Return the shared storage."""
        return LocalStorage(self.settings.data_dir)

    def ground_truth(self, key: str) -> PreparedGroundTruth:
        """Return a phase's prepared ground truth, loaded once per process."""
        if key not in self._ground_truths:
            self._ground_truths[key] = PreparedGroundTruth(self.storage.path(key))
        return self._ground_truths[key]
