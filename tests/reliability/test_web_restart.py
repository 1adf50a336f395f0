"""The web process killed (SIGKILL) in the middle of an upload: the client gets an error,
nothing half-stored remains, and retrying with the same Idempotency-Key after the restart
creates exactly one submission."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import func, select

from app.models import Submission
from app.services import accounts as accounts_service
from tests.factories import make_phase, make_team, make_user, png_bytes, zip_bytes
from tests.live import live_stack
from tests.reliability.faults import MULTIPART_CONTENT_TYPE, multipart_parts

PADDING_BYTES = 4 << 20
"""A macOS resource-fork member (ignored by the checks) makes the archive big enough to
be spooled to disk by the server and to be cut off halfway."""
CHUNK = 64 << 10


def padded_archive(masks) -> bytes:
    entries = {name: png_bytes(mask, "L") for name, mask in masks.items()}
    entries["__MACOSX/._padding"] = os.urandom(PADDING_BYTES)
    return zip_bytes(entries)


def wait_for_spooled_file(pid: int, folder, timeout: float = 30) -> None:
    """Wait until the process holds a file open in `folder` (deleted or not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd).startswith(str(folder)):
                    return
        time.sleep(0.02)
    pytest.fail(f"the server never spooled the upload to {folder}")


def stored_state(sessions, storage, server_tmp):
    """Rows, stored archives, scratch files and the server's own temporary files."""
    with sessions() as check:
        rows = check.scalars(select(Submission.id)).all()
    archives = sorted(storage.root.glob("submissions/**/*"))
    scratch = sorted((storage.root / "tmp").glob("*")) if (storage.root / "tmp").exists() else []
    return {
        "rows": rows,
        "archives": [p for p in archives if p.is_file()],
        "scratch": scratch,
        "spooled": sorted(server_tmp.iterdir()),
    }


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_an_upload_cut_by_a_server_kill_leaves_nothing_and_its_retry_counts_once(
    settings, session, sessions, storage, tmp_path
):
    phase, masks = make_phase(session, storage, tmp_path, daily_limit=None)
    user = make_user(session, email="restart@example.org")
    make_team(session, phase.challenge, user, name="Restart")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    archive = padded_archive(masks)
    head, tail = multipart_parts("preds.zip", archive)
    body_length = len(head) + len(archive) + len(tail)
    server_tmp = tmp_path / "server-tmp"  # where Starlette spools uploaded files
    server_tmp.mkdir()
    key = "7c1e0a52-retry-after-restart"
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": key,
        "Content-Type": MULTIPART_CONTENT_TYPE,
        "Content-Length": str(body_length),
    }

    with live_stack(settings, tmp_path / "logs", worker=False, TMPDIR=str(server_tmp)) as stack:
        url = f"{stack.base_url}/api/v1/challenges/wsss4luad/phases/validation/submissions"
        server = stack.processes["serve"]
        halfway, killed = threading.Event(), threading.Event()

        def slow_body():
            yield head
            for offset in range(0, len(archive), CHUNK):
                if offset >= len(archive) // 2 and not halfway.is_set():
                    halfway.set()
                    killed.wait(60)  # the rest is sent only once the server is gone
                yield archive[offset : offset + CHUNK]
            yield tail

        with ThreadPoolExecutor(1) as pool:
            upload = pool.submit(httpx2.post, url, headers=headers, content=slow_body(), timeout=60)
            assert halfway.wait(60), "the upload never got halfway"
            # The server is receiving: it holds the part received so far in a spooled file.
            wait_for_spooled_file(server.popen.pid, server_tmp)
            server.stop(signal.SIGKILL)
            killed.set()
            with pytest.raises(httpx2.TransportError):
                upload.result(timeout=60)

        after_kill = stored_state(sessions, storage, server_tmp)
        assert after_kill == {"rows": [], "archives": [], "scratch": [], "spooled": []}

        stack.start_server("serve-restarted")
        retry = httpx2.post(url, headers=headers, content=head + archive + tail, timeout=60)
        assert retry.status_code == 202, retry.text
        again = httpx2.post(url, headers=headers, content=head + archive + tail, timeout=60)
        assert again.status_code == 202, again.text

    assert again.json()["id"] == retry.json()["id"]
    final = stored_state(sessions, storage, server_tmp)
    assert final["rows"] == [retry.json()["id"]]
    assert len(final["archives"]) == 1
    assert final["archives"][0].read_bytes() == archive
    assert final["scratch"] == []
    assert final["spooled"] == []
    with sessions() as check:
        assert check.scalar(select(func.count(Submission.id))) == 1
        stored = check.get(Submission, retry.json()["id"])
        assert stored.idempotency_key == key
        assert stored.status == "queued"
