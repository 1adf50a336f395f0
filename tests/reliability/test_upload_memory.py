"""Uploads are streamed to disk: the web process's memory stays flat while 20 clients upload
50 MB archives at once, and a body over the size cap is refused with 413 before it is read.

The archives are refused by the checks (a 50 MB member that is not a PNG), so nothing may
be stored; what matters is the server's resident memory, read from /proc. The figure is
logged: `pytest tests/reliability/test_upload_memory.py -k twenty -o log_cli=true
--log-cli-level=INFO` shows it.
"""

import logging
import select
import socket
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from app.models import Submission
from app.services import accounts as accounts_service
from tests.factories import make_phase, make_team, make_user, png_bytes, zip_bytes
from tests.live import live_stack
from tests.reliability.faults import MULTIPART_CONTENT_TYPE, memory_kib, multipart_parts

logger = logging.getLogger(__name__)

CLIENTS = 20
ARCHIVE_BYTES = 50 * 1024 * 1024
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
PEAK_GROWTH_LIMIT_MIB = 150
"""Far below CLIENTS x 50 MB = 1000 MB: what a server reading uploads into memory needs."""
SLICE = 1 << 20


def big_archive(masks) -> bytes:
    entries = {name: png_bytes(mask, "L") for name, mask in masks.items()}
    entries["padding.bin"] = bytes(ARCHIVE_BYTES)
    return zip_bytes(entries, compression=zipfile.ZIP_STORED)


class MemoryWatch:
    """Samples a process's resident memory every few milliseconds in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, memory_kib(self.pid)["VmRSS"])
            time.sleep(0.005)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_twenty_simultaneous_50_mb_uploads_keep_the_server_memory_flat(
    settings, session, sessions, storage, tmp_path
):
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=None)
    user = make_user(session, email="big@example.org")
    make_team(session, phase.challenge, user, name="Big Uploads")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    archive = big_archive(masks)
    head, tail = multipart_parts("big.zip", archive)
    body = head + archive + tail
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": MULTIPART_CONTENT_TYPE,
        "Content-Length": str(len(body)),
    }

    def stream():
        view = memoryview(body)
        for offset in range(0, len(body), SLICE):
            yield bytes(view[offset : offset + SLICE])

    with live_stack(
        settings,
        tmp_path / "logs",
        worker=False,
        TMPDIR=str(tmp_path),
        WSSS4LUAD_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES),
    ) as stack:
        url = f"{stack.base_url}/api/v1/challenges/wsss4luad/phases/validation/submissions"
        pid = stack.processes["serve"].popen.pid

        def upload(_: int) -> httpx2.Response:
            return httpx2.post(url, headers=headers, content=stream(), timeout=300)

        # Warm up: the first upload loads what a first request loads (multipart parser,
        # scoring checks); the baseline is the memory of a server that has served one.
        first = upload(0)
        assert first.status_code == 422, first.text
        baseline = memory_kib(pid)["VmRSS"]
        with MemoryWatch(pid) as watch, ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(upload, range(CLIENTS)))
        peak = max(watch.peak_kib, memory_kib(pid)["VmHWM"])

    assert [answer.status_code for answer in answers] == [422] * CLIENTS
    assert "padding.bin: is not a .png file" in answers[0].text
    growth_mib = (peak - baseline) / 1024
    logger.info(
        "server RSS %.0f MiB after one upload; peak growth during %d simultaneous uploads of "
        "%.0f MiB: %.0f MiB",
        baseline / 1024,
        CLIENTS,
        len(body) / 2**20,
        growth_mib,
    )
    assert growth_mib < PEAK_GROWTH_LIMIT_MIB, (
        f"the web process grew by {growth_mib:.0f} MiB while receiving "
        f"{CLIENTS} x {len(body) / 2**20:.0f} MiB"
    )
    with sessions() as check:
        assert check.scalar(sql_select(func.count(Submission.id))) == 0
    assert not list(storage.root.glob("submissions/**/*.zip"))
    assert list((storage.root / "tmp").glob("*")) == []


def read_status(sock: socket.socket) -> int:
    """Read an HTTP response's status line from a raw socket."""
    received = b""
    while b"\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return int(received.split(b" ", 2)[1])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_live_server_refuses_oversized_bodies_with_413_before_reading_them(
    settings, session, storage, tmp_path
):
    make_phase(session, storage, tmp_path)
    session.commit()
    path = "/challenges/wsss4luad/phases/validation/submissions"
    cap = 2 * 1024 * 1024

    with live_stack(
        settings, tmp_path / "logs", worker=False, WSSS4LUAD_MAX_UPLOAD_BYTES=str(cap)
    ) as stack:
        port = int(stack.base_url.rsplit(":", 1)[1])

        # A declared length over the cap: answered from the headers, no body sent at all.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: {MULTIPART_CONTENT_TYPE}\r\n"
                f"Content-Length: {64 * 1024**3}\r\n\r\n".encode()
            )
            assert read_status(sock) == 413

        # A chunked upload without a declared length: refused once it passes the cap, while
        # the client would go on sending forever.
        head, _ = multipart_parts("endless.zip", b"")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: {MULTIPART_CONTENT_TYPE}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
                + b"%x\r\n%s\r\n" % (len(head), head)
            )
            chunk = b"%x\r\n%s\r\n" % (SLICE, b"x" * SLICE)
            sent = 0
            deadline = time.monotonic() + 60
            while not select.select([sock], [], [], 0)[0]:
                assert time.monotonic() < deadline, "no answer while streaming"
                try:
                    sent += sock.send(chunk)
                except OSError:
                    break  # the server closed the connection after answering
            assert read_status(sock) == 413
        # The server stopped at the cap: what was sent beyond it is what the socket buffers
        # held, far less than an unbounded body.
        assert sent < cap + 64 * SLICE
