"""Outgoing email behind a small interface: printed to the console, or written to files."""

import json
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Email:
    """One message."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Something that delivers email."""

    def send(self, email: Email) -> None:
        """Deliver a message."""
        ...


class ConsoleMailer:
    """Prints messages to stderr: the development default."""

    def send(self, email: Email) -> None:
        """Print the message."""
        sys.stderr.write(f"--- email to {email.to}: {email.subject}\n{email.body}\n---\n")


class FileMailer:
    """Writes each message as JSON into a folder (an outbox that tests and operators read)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, email: Email) -> None:
        """Write the message to the outbox."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{uuid.uuid4().hex}.json").write_text(json.dumps(asdict(email)))
