"""A corpus of hostile or broken submissions through the API: every one is answered with a
clear message (at upload, or by the worker), nothing is left in scratch space, nothing
crashes."""

import io
import stat
import struct
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from app.models import Submission
from app.services import accounts as accounts_service
from tests.factories import (
    directory_only_zip,
    forged_png_header,
    make_phase,
    make_team,
    make_user,
    png_bytes,
)

SHAPES = {"00.png": (24, 40), "01.png": (32, 40)}  # (height, width), as make_phase builds them


def good(name: str, mode: str = "P") -> bytes:
    height, width = SHAPES[name]
    return png_bytes(np.zeros((height, width), dtype=np.uint8), mode)


def zipped(entries, *, method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", compression=method) as archive:
        warnings.simplefilter("ignore")  # duplicate names are the point of some entries
        for name, content in entries:
            if isinstance(name, zipfile.ZipInfo):
                archive.writestr(name, content)
            else:
                archive.writestr(name, content)
    return buffer.getvalue()


def both(**replace) -> list[tuple[str, bytes]]:
    entries = {"00.png": good("00.png"), "01.png": good("01.png")} | replace
    return [(name, data) for name, data in entries.items() if data is not None]


def patched(data: bytes, member: str, offset: int, fmt: str, value: int) -> bytes:
    raw = bytearray(data)
    start = 0
    while True:
        start = raw.index(b"PK\x01\x02", start)
        length = struct.unpack_from("<H", raw, start + 28)[0]
        if bytes(raw[start + 46 : start + 46 + length]) == member.encode():
            struct.pack_into(fmt, raw, start + offset, value)
            return bytes(raw)
        start += 4


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("01.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zipped([("00.png", good("00.png")), (info, "/etc/passwd")])


def png_without_palette() -> bytes:
    data = good("01.png")
    start = data.index(b"PLTE") - 4
    length = struct.unpack(">I", data[start : start + 4])[0]
    return data[:start] + data[start + 12 + length :]


def png_with_bad_crc() -> bytes:
    data = bytearray(good("01.png"))
    data[data.index(b"IDAT") + 6] ^= 0xFF
    return bytes(data)


def image_bytes(array, mode=None, fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=fmt) if mode else Image.fromarray(array).save(
        buffer, format=fmt
    )
    return buffer.getvalue()


def overlapping_entries() -> bytes:
    data = bytearray(zipped(both()))
    first = data.index(b"PK\x01\x02")
    second = data.index(b"PK\x01\x02", first + 4)
    offset = struct.unpack_from("<I", data, first + 42)[0]
    struct.pack_into("<I", data, second + 42, offset)
    return bytes(data)


CORPUS = {
    "directory flood (200,000 records, zip64)": directory_only_zip(200_000, zip64=True),
    "directory flood (65,535 records)": directory_only_zip(0xFFFF),
    "ratio bomb (forged sizes)": patched(
        zipped(both(**{"01.png": b"\x89PNG" + bytes(900_000)})), "01.png", 20, "<I", 10
    ),
    "member declaring 4 GiB": patched(zipped(both()), "01.png", 24, "<I", 0xFFFF_FFF0),
    "overlapping entries": overlapping_entries(),
    "PNG dimension bomb": zipped(both(**{"01.png": forged_png_header(60000, 60000)})),
    "traversal": zipped([*both(), ("../../evil.png", b"x")]),
    "absolute path": zipped([*both(), ("/etc/cron.d/x.png", b"x")]),
    "drive letter": zipped([*both(), ("C:/x.png", b"x")]),
    "backslashes": zipped([*both(**{"01.png": None}), ("dir\\01.png", good("01.png"))]),
    "symlink": symlink_zip(),
    "duplicate names": zipped([*both(), ("01.png", good("01.png"))]),
    "duplicate by case": zipped([*both(), ("01.PNG", good("01.png"))]),
    "unicode look-alike name": zipped([*both(**{"01.png": None}), ("0\u0661.png", good("01.png"))]),
    "nested zip": zipped([("00.png", good("00.png")), ("inner.zip", zipped(both()))]),
    "zip disguised as PNG": zipped(both(**{"01.png": zipped(both())})),
    "encrypted member": patched(zipped(both()), "01.png", 8, "<H", 0x1),
    "bzip2 member": zipped(both(), method=zipfile.ZIP_BZIP2),
    "truncated archive": zipped(both())[:-40],
    "a PNG instead of a zip": good("00.png"),
    "empty file": b"",
    "empty zip": zipped([]),
    "member flood": zipped([*both(), *((f"__MACOSX/{i}", b"") for i in range(300))]),
    "wrong size": zipped(both(**{"01.png": good("00.png")})),
    "two folders deep": zipped([(f"a/b/{name}", data) for name, data in both()]),
    "spread over two folders": zipped([("a/00.png", good("00.png")), ("b/01.png", good("01.png"))]),
    "missing mask": zipped(both(**{"01.png": None})),
    "unknown extra file": zipped([*both(), ("notes.txt", b"hello")]),
    "JPEG named .png": zipped(
        both(**{"01.png": image_bytes(np.zeros((32, 40), np.uint8), fmt="JPEG")})
    ),
    "member data CRC error": (
        lambda d: (
            d[: d.index(b"IDAT") + 6]
            + bytes([d[d.index(b"IDAT") + 6] ^ 0xFF])
            + d[d.index(b"IDAT") + 7 :]
        )
    )(zipped(both(), method=zipfile.ZIP_STORED)),
    "PNG with bad CRC": zipped(both(**{"01.png": png_with_bad_crc()})),
    "16-bit PNG": zipped(both(**{"01.png": image_bytes(np.zeros((32, 40), np.uint16))})),
    "grayscale+alpha PNG": zipped(both(**{"01.png": image_bytes(np.zeros((32, 40, 2), np.uint8))})),
    "palette PNG without PLTE": zipped(both(**{"01.png": png_without_palette()})),
    "values outside 0..3": zipped(
        both(**{"01.png": png_bytes(np.full((32, 40), 7, np.uint8), "L")})
    ),
    "colours outside the palette": zipped(
        both(**{"01.png": image_bytes(np.full((32, 40, 3), 9, np.uint8), "RGB")})
    ),
    "truncated PNG": zipped(both(**{"01.png": good("01.png")[:60]})),
}


@pytest.fixture
def api(client, session, storage, tmp_path):
    masks = {name: np.zeros(shape, dtype=np.uint8) for name, shape in SHAPES.items()}
    phase, _ = make_phase(session, storage, tmp_path, masks=masks, daily_limit=None)
    user = make_user(session, email="fuzz@example.org")
    make_team(session, phase.challenge, user, name="Fuzzers")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_hostile_archive_gets_a_clear_answer(api, client, settings, sessions, storage):
    from workers.context import WorkerContext
    from workers.tasks import run_scoring

    context = WorkerContext(settings)
    path = "/api/v1/challenges/wsss4luad/phases/validation/submissions"
    unanswered = []
    for label, payload in CORPUS.items():
        response = client.post(path, headers=api, files={"file": ("s.zip", payload)})
        if response.status_code == 422:
            problems = response.json().get("problems") or []
            if not problems or any("Traceback" in p for p in problems):
                unanswered.append(f"{label}: 422 without problems")
            continue
        if response.status_code != 202:
            unanswered.append(f"{label}: {response.status_code} {response.text[:120]}")
            continue
        submission_id = response.json()["id"]
        assert run_scoring(submission_id, context) == "failed", label
        with sessions() as check:
            row = check.get(Submission, submission_id)
            if row.status != "failed" or "01.png" not in row.error:
                unanswered.append(f"{label}: worker said {row.status} / {row.error!r}")
    assert unanswered == []
    assert list((storage.root / "tmp").glob("*")) == [], "no scratch file is left behind"
    with sessions() as check:
        assert check.scalar(select(Submission).where(Submission.status == "scored")) is None
