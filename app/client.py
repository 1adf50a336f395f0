"""The `wsss4luad submit` client: upload a zip to a server and follow it until scored.

Settings come from the options, then the environment (WSSS4LUAD_SERVER, WSSS4LUAD_TOKEN),
then ~/.config/wsss4luad/credentials.json ({"server": ..., "token": ...}).
"""

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx2

CONFIG_FILE = Path("~/.config/wsss4luad/credentials.json")
# As the API spells them: the client stays free of the server's models and SQLAlchemy.
SETTLED = ("scored", "failed", "cancelled")
LONG_POLL_SECONDS = 25.0
"""How long one request may wait for a change (the server holds it at most 30 s)."""


class ClientError(Exception):
    """The server refused the request or could not be reached; the message says why."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Credentials:
    """Where to submit, and as whom."""

    server: str
    token: str


def resolve_credentials(server: str | None, token: str | None) -> Credentials:
    """Combine options, environment and the credentials file; refuse when something lacks."""
    stored: dict[str, Any] = {}
    config = CONFIG_FILE.expanduser()
    if config.is_file():
        try:
            stored = json.loads(config.read_text())
        except ValueError:
            raise ClientError(f"{config} is not valid JSON") from None
    server = server or os.environ.get("WSSS4LUAD_SERVER") or stored.get("server")
    token = token or os.environ.get("WSSS4LUAD_TOKEN") or stored.get("token")
    if not server:
        raise ClientError("no server: pass --server URL or set WSSS4LUAD_SERVER")
    if not token:
        raise ClientError(
            "no token: create one on your account page, then pass --token or set WSSS4LUAD_TOKEN"
        )
    return Credentials(server.rstrip("/"), token)


class _ProgressReader:
    """A file wrapper that reports how many bytes were read (for the upload bar)."""

    def __init__(self, handle: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._handle = handle
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._on_read(len(chunk))
        return chunk


class Client:
    """A small wrapper around the REST API."""

    def __init__(self, credentials: Credentials, timeout: float = 60) -> None:
        self._http = httpx2.Client(
            base_url=credentials.server,
            headers={"Authorization": f"Bearer {credentials.token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.HTTPError as error:
            raise ClientError(f"cannot reach the server ({error})") from None
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {"detail": response.text[:200] or response.reason_phrase}
        if response.status_code >= 400:
            detail = str(body.get("detail", response.reason_phrase))
            if body.get("retry_at"):
                detail += f" (next submission allowed at {body['retry_at']})"
            raise ClientError(
                f"{response.status_code}: {detail}", problems=list(body.get("problems") or [])
            )
        return body

    def submit(
        self,
        challenge: str,
        phase: str,
        archive: Path,
        *,
        method_name: str = "",
        description: str = "",
        url: str = "",
        on_progress: Callable[[int], None] = lambda _: None,
    ) -> dict[str, Any]:
        """Upload an archive; one retry on a network error is safe (Idempotency-Key)."""
        key = uuid.uuid4().hex
        path = f"/api/v1/challenges/{quote(challenge, safe='')}/phases/{quote(phase, safe='')}"
        path += "/submissions"
        for attempt in (1, 2):
            with archive.open("rb") as handle:
                try:
                    return self._request(
                        "POST",
                        path,
                        headers={"Idempotency-Key": key},
                        data={"method_name": method_name, "description": description, "url": url},
                        files={"file": (archive.name, _ProgressReader(handle, on_progress))},
                    )
                except ClientError as error:
                    if attempt == 2 or not str(error).startswith("cannot reach"):
                        raise
        raise AssertionError("unreachable")

    def submission(
        self, submission_id: int, *, wait: float = 0, since: str | None = None
    ) -> dict[str, Any]:
        """Read a submission's state; with `wait`, once it differs from `since` (long poll)."""
        params: dict[str, Any] = {"wait": wait, "since": since} if wait and since else {}
        return self._request("GET", f"/api/v1/submissions/{submission_id}", params=params)

    def wait(
        self, submission_id: int, *, interval: float = 1.0, timeout: float = 3600
    ) -> dict[str, Any]:
        """Follow the submission until it is scored, failed or cancelled.

        Each request is a long poll that the server answers as soon as the status changes;
        `interval` paces the requests only when a server answers at once without a change.
        """
        deadline = time.monotonic() + timeout
        state = self.submission(submission_id)
        while state["status"] not in SETTLED:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError(f"submission {submission_id} is still {state['status']}")
            asked = time.monotonic()
            known = state["status"]
            state = self.submission(submission_id, wait=min(LONG_POLL_SECONDS, left), since=known)
            if state["status"] == known:
                time.sleep(max(0.0, interval - (time.monotonic() - asked)))
        return state
