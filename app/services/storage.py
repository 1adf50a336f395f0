"""Where uploaded archives, prepared ground truth and data downloads live.

Keys are server-generated, '/'-separated relative paths; no user input ever becomes part
of one. LocalStorage keeps them under DATA_DIR; an object store can implement the same
protocol later.
"""

import os
import shutil
import uuid
from pathlib import Path
from typing import Protocol


class Storage(Protocol):
    """Files addressed by key."""

    def put_file(self, key: str, source: Path) -> None:
        """Move `source` to `key` atomically; the source is gone afterwards."""
        ...

    def path(self, key: str) -> Path:
        """Return a local path to read the object at `key`."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object at `key` if it exists."""
        ...

    def scratch_dir(self) -> Path:
        """Return a private folder on the same filesystem for files being received."""
        ...


class LocalStorage:
    """Storage in a folder of the local (or a shared network) filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """Return the path of a key, refusing keys that would leave the root."""
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            raise ValueError(f"invalid storage key {key!r}")
        return target

    def put_file(self, key: str, source: Path) -> None:
        """Move a file into place; rename when possible, copy then rename otherwise."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            os.replace(source, staging)
        except OSError:
            shutil.copyfile(source, staging)
            source.unlink()
        os.replace(staging, target)

    def delete(self, key: str) -> None:
        """Remove a file or a folder."""
        target = self.path(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def scratch_dir(self) -> Path:
        """Return DATA_DIR/tmp, created on demand."""
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
