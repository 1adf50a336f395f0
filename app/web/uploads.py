"""Uploaded files, shared by pages and the API: a scratch copy with its digest, and the
submission made from an uploaded archive."""

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import UploadFile

from app.db import Session
from app.models import Phase, Submission, User
from app.services import submissions as submissions_service
from app.services.storage import Storage

_COPY_CHUNK = 1 << 20


def receive_upload(upload: UploadFile, storage: Storage) -> tuple[Path, str]:
    """Copy an uploaded file to a server-named scratch file; return its path and SHA-256."""
    target = storage.scratch_dir() / f"{uuid.uuid4().hex}.upload"
    digest = hashlib.sha256()
    with target.open("wb") as out:
        while chunk := upload.file.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return target, digest.hexdigest()


def submit_upload(
    file: UploadFile,
    *,
    session: Session,
    storage: Storage,
    phase: Phase,
    user: User,
    enqueue: Callable[[int], None],
    **fields: Any,
) -> Submission:
    """Receive an uploaded archive and create its submission; the scratch copy never stays."""
    upload, sha256 = receive_upload(file, storage)
    try:
        return submissions_service.create_submission(
            session=session,
            storage=storage,
            phase=phase,
            user=user,
            upload=upload,
            archive_name=file.filename or "submission.zip",
            sha256=sha256,
            enqueue=enqueue,
            **fields,
        )
    finally:
        upload.unlink(missing_ok=True)  # moved into storage on success; scratch otherwise
