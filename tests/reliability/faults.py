"""Fault injection on loopback: a TCP proxy that can cut the database off, a private
redis-server that can be killed and restarted empty, and helpers to stream uploads and
read a process's memory. No Docker, no mocks: real sockets and real servers."""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import redis

from tests.live import free_port

# --- A TCP proxy that can take its upstream away -----------------------------------


class FaultyProxy:
    """Forward 127.0.0.1:<port> to an upstream server; cause outages on demand.

    During an outage every forwarded connection is cut and new ones are accepted and closed
    at once, which a database client sees as "server closed the connection unexpectedly".

    `cut_on(pattern, occurrence, seconds)` starts an outage when the client side has sent
    `pattern` for the `occurrence`-th time (counted over all connections). The chunk that
    carries it is dropped, so the server never sees that statement. Matching a statement
    instead of a wall-clock moment makes the outage land at the same step of the client's
    work however fast or loaded the machine is.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._listener.settimeout(0.1)
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._outage_until = 0.0
        self._stopping = threading.Event()
        self._pattern = b""
        self._occurrence = 0
        self._seen = 0
        self._cut_seconds = 0.0
        self.triggered = threading.Event()
        self.refused = 0
        self.accepted = 0
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    # -- control --

    def outage(self, seconds: float) -> None:
        """Cut every connection now and refuse new ones for `seconds`."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _close(client)
            _close(server)

    def cut_on(self, pattern: bytes, occurrence: int, seconds: float) -> None:
        """Arm an outage of `seconds` for the `occurrence`-th time `pattern` is sent."""
        with self._lock:
            self._pattern, self._occurrence, self._seen = pattern, occurrence, 0
            self._cut_seconds = seconds

    @property
    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    def close(self) -> None:
        self._stopping.set()
        self.outage(0)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    # -- forwarding --

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.in_outage:
                self.refused += 1
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
            self.accepted += 1
            self._spawn(self._pump, client, server, True)
            self._spawn(self._pump, server, client, False)

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while data := source.recv(65536):
                if from_client and self._pattern and self._matches(tail + data):
                    self.outage(self._cut_seconds)
                    self.triggered.set()
                    return
                if from_client:
                    # Enough to find a pattern cut across two reads, too little to count it twice.
                    tail = data[-(len(self._pattern) - 1) :] if len(self._pattern) > 1 else b""
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(target)

    def _matches(self, data: bytes) -> bool:
        with self._lock:
            if not self._pattern or self.triggered.is_set():
                return False
            self._seen += data.count(self._pattern)
            return self._seen >= self._occurrence


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


@contextmanager
def faulty_proxy(upstream: tuple[str, int]) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()


# --- A private redis-server --------------------------------------------------------


class RedisServer:
    """A redis-server of our own on a free port, without persistence (a restart empties it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("ab")
        with log:
            self.popen = subprocess.Popen(
                [
                    *("redis-server", "--bind", "127.0.0.1", "--port", str(self.port)),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_connect_timeout=1) as client:
                    if client.info("server")["process_id"] == self.popen.pid:
                        return
                    raise RuntimeError("another server holds the port")
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.popen.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: whatever the server held in memory is gone."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=3)


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    """Run a private redis-server; skip without one (fail when the CI variable is set)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    for _ in range(3):  # another process may take the free port first
        server = RedisServer(folder)
        try:
            server.start()
            break
        except RuntimeError:
            server.kill()
    else:
        raise RuntimeError(f"redis-server did not start:\n{(folder / 'redis.log').read_text()}")
    try:
        yield server
    finally:
        server.kill()


# --- Uploads and memory ----------------------------------------------------------------

BOUNDARY = "wsss4luad-test-boundary"


def multipart_parts(filename: str, archive: bytes) -> tuple[bytes, bytes]:
    """Return the bytes before and after a single file field of a multipart/form-data body."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART_CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def memory_kib(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM (peak RSS) of a process, in KiB, from /proc."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found
