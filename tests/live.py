"""Real processes for integration tests: `wsss4luad serve` and `wsss4luad worker`.

Everything runs on loopback with the settings passed through the environment, exactly as
an operator would start them.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

BIN = Path(sys.executable).parent


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(settings, **extra: str) -> dict[str, str]:
    """Return os.environ plus the WSSS4LUAD_* variables for these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WSSS4LUAD_")}
    env.update(
        WSSS4LUAD_ENVIRONMENT="test",
        WSSS4LUAD_DATA_DIR=str(settings.data_dir),
        WSSS4LUAD_DATABASE_URL=settings.database_url,
        WSSS4LUAD_BROKER_URL=settings.broker_url,
        WSSS4LUAD_SECRET_KEY=settings.secret_key,
        WSSS4LUAD_EMAIL_BACKEND=settings.email_backend,
        **extra,
    )
    return env


@dataclass
class Process:
    """A started command whose output goes to a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Return what the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Stop the process group (Celery's pool children included)."""
        if self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Process:
    """Start `wsss4luad ARGS` in its own process group."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as handle:  # the child keeps its own descriptor
        popen = subprocess.Popen(
            [str(BIN / "wsss4luad"), *args],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log)


def wait_for_http(url: str, process: Process, timeout: float = 30) -> None:
    """Wait until `url` answers 200, failing with the process's output if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.output()}")
        try:
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s:\n{process.output()}")


def wait_for_worker(process: Process, timeout: float = 60) -> None:
    """Wait until Celery reports the worker ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.output()}")
        if " ready." in process.output():
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker not ready in {timeout} s:\n{process.output()}")


@dataclass
class LiveStack:
    """A running site and worker."""

    base_url: str
    env: dict[str, str]
    logs: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def start_server(self, name: str = "serve") -> Process:
        """Start (or restart) `wsss4luad serve` on the stack's port and wait until it answers."""
        port = self.base_url.rsplit(":", 1)[1]
        server = start(name, ["serve", "--port", port], self.env, self.logs)
        self.processes[name] = server
        wait_for_http(f"{self.base_url}/healthz", server)
        return server

    def start_worker(self, name: str = "worker", *extra: str) -> Process:
        """Start (or restart) a scoring worker and wait until it is ready."""
        worker = start(name, ["worker", "--concurrency", "1", *extra], self.env, self.logs)
        self.processes[name] = worker
        wait_for_worker(worker)
        return worker


@contextmanager
def live_stack(
    settings, logs: Path, *, worker: bool = True, beat: bool = False, **extra: str
) -> Iterator[LiveStack]:
    """Run `wsss4luad serve` (and a worker) against the given settings and extra variables."""
    port = free_port()
    env = environment(settings, WSSS4LUAD_BASE_URL=f"http://127.0.0.1:{port}", **extra)
    stack = LiveStack(f"http://127.0.0.1:{port}", env, logs)
    try:
        stack.start_server()
        if worker:
            stack.start_worker("worker", *(["--beat"] if beat else []))
        yield stack
    finally:
        for process in stack.processes.values():
            process.stop()
