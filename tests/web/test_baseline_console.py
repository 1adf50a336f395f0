"""The console's baseline page: upload a checkpoint, refuse bad ones, queue runs once."""

import hashlib
import io
import zipfile

from sqlalchemy import select

from app.models import AuditEntry, BaselineModel, BaselineRun
from tests.web.conftest import csrf, log_in


def checkpoint_bytes() -> bytes:
    """The shape of what torch.save writes: a zip archive holding <name>/data.pkl."""
    buffer = io.BytesIO()
    # A fixed timestamp: two calls must give the same bytes, even across a second boundary.
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (("mlps/data.pkl", b"\x80\x02}q\x00."), ("mlps/data/0", bytes(64))):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def upload(client, token: str, name: str, content: bytes, file_name: str = "mlps.pt"):
    return client.post(
        "/organizer/wsss4luad/baselines",
        data={"csrf_token": token, "name": name},
        files={"file": (file_name, content)},
    )


def test_an_organizer_uploads_a_checkpoint_and_queues_one_run_per_press(
    client, app, board, session, storage
):
    log_in(client, "org@example.org")
    token = csrf(client, "/organizer/wsss4luad/baselines")
    assert upload(client, token, "  MLPS   organizers ", checkpoint_bytes()).status_code == 303

    page = client.get("/organizer/wsss4luad/baselines")
    assert "MLPS organizers" in page.text and "read at first run" in page.text
    session.commit()
    model = session.scalars(select(BaselineModel)).one()
    assert storage.path(model.checkpoint_key).read_bytes() == checkpoint_bytes()
    assert model.checkpoint_sha256 == hashlib.sha256(checkpoint_bytes()).hexdigest()
    assert not list((storage.root / "tmp").glob("*"))
    session.commit()  # a SQLite read holds the write lock until the transaction ends

    for _ in range(2):
        answer = client.post(
            "/organizer/wsss4luad/phases/validation/baseline",
            data={"csrf_token": token, "model_id": str(model.id)},
        )
        assert answer.status_code == 303
    session.commit()
    runs = session.scalars(select(BaselineRun)).all()
    assert len(runs) == 1 and runs[0].status == "queued"
    assert app.state.tasks.baseline_runs == [runs[0].id]
    session.commit()
    assert "queued" in client.get("/organizer/wsss4luad/baselines").text
    actions = session.scalars(select(AuditEntry.action)).all()
    assert {"baseline.register", "baseline.run"} <= set(actions)


def test_bad_checkpoints_and_taken_names_are_refused_and_nothing_is_stored(
    client, board, session, storage
):
    log_in(client, "org@example.org")
    token = csrf(client, "/organizer/wsss4luad/baselines")
    refused = upload(client, token, "junk", b"not a zip", file_name="weights.pth")
    assert refused.status_code == 422
    assert "weights.pth: not a PyTorch checkpoint" in refused.text
    assert upload(client, token, "MLPS", checkpoint_bytes()).status_code == 303
    taken = upload(client, token, "MLPS", checkpoint_bytes())
    assert taken.status_code == 409 and "exists already" in taken.text
    session.commit()
    assert session.scalars(select(BaselineModel.name)).all() == ["MLPS"]
    assert len(list(storage.root.glob("baselines/**/*.pt"))) == 1
    assert not list((storage.root / "tmp").glob("*"))


def test_a_model_of_another_challenge_cannot_be_run_here(client, board, session):
    from app.models import Challenge

    other = Challenge(slug="elsewhere", title="Elsewhere")
    session.add(other)
    session.flush()
    foreign = BaselineModel(
        challenge_id=other.id, name="x", checkpoint_key="k", checkpoint_sha256="0" * 64
    )
    session.add(foreign)
    session.commit()
    log_in(client, "org@example.org")
    token = csrf(client, "/organizer/wsss4luad/baselines")
    answer = client.post(
        "/organizer/wsss4luad/phases/validation/baseline",
        data={"csrf_token": token, "model_id": str(foreign.id)},
    )
    assert answer.status_code == 404


def test_checkpoint_uploads_have_their_own_larger_size_cap(app, settings):
    from app.web.middleware import LimitBodySize

    middleware = next(m for m in app.user_middleware if m.cls is LimitBodySize)
    limiter = LimitBodySize(lambda *_: None, **middleware.kwargs)  # type: ignore[arg-type]
    assert limiter.cap_for("/organizer/wsss4luad/baselines") == settings.max_checkpoint_bytes
    assert settings.max_checkpoint_bytes > 628 * 1024**2, "a full-preset checkpoint fits"
    for path in ("/challenges/wsss4luad/phases/validation/submit", "/organizer/x/baselines/y"):
        assert limiter.cap_for(path) == settings.max_upload_bytes
