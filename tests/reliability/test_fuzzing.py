"""Hypothesis fuzzing of the archive reader, the mask decoder and the upload endpoint.

The contracts under test:
- the archive reader (app.scoring.archive) refuses anything it cannot accept with
  SubmissionRejected when opened and MaskFormatError when a member is read, never another
  exception;
- the mask decoder (app.scoring.png.decode_mask) raises only MaskFormatError, and what it
  returns is an index array of the declared size with values 0..3;
- the scorer raises only SubmissionRejected, and its mIoU lies in [0, 1];
- the upload API answers a mutated archive with 202 or 422 (never 500), and 202 exactly
  when the archive passes the structural checks;
- valid masks and archives round-trip.

Mutations keep the bytes close to a valid archive or PNG, which reaches the deep code
paths far more often than random bytes: zip members are flipped, cut and spliced; PNG
chunks are mutated with their CRC recomputed, and image data is mutated before deflate.
tests/scoring/ holds the hand-written cases and the generated member-name property.
"""

import io
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sqlalchemy import func, select

from app.models import Submission as SubmissionRow
from app.scoring import (
    GroundTruthFolder,
    MaskFormatError,
    Submission,
    SubmissionRejected,
    check_submission,
    decode_mask,
    score_path,
)
from app.scoring.png import HEADER_BYTES, read_header
from app.services import accounts as accounts_service
from tests.factories import make_phase, make_team, make_user, png_bytes, write_ground_truth

SHAPES = {"00.png": (24, 40), "01.png": (32, 40)}  # (height, width) of the phase's images
SIZES = {name: (w, h) for name, (h, w) in SHAPES.items()}
MODES = ["P", "L", "RGB", "RGBA"]


def masks(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 4, size=shape, dtype=np.uint8) for name, shape in SHAPES.items()}


def predictions(mode: str = "P", seed: int = 0) -> dict[str, bytes]:
    return {name: png_bytes(np.minimum(mask, 2), mode) for name, mask in masks(seed).items()}


def zipped(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


VALID_ARCHIVES = [
    zipped(predictions("P")),
    zipped(predictions("RGB", seed=1), zipfile.ZIP_STORED),
    zipped({f"run/{name}": data for name, data in predictions("L", seed=2).items()}),
]


# --- Byte-level mutations ---------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """Apply one to four random edits: flip, overwrite, insert, delete, cut or repeat."""
    raw = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not raw:
            break
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            raw[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del raw[at:]
        else:
            end = min(len(raw), at + draw(st.integers(1, 64)))
            raw[at:at] = raw[at:end]
    return bytes(raw)


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a valid PNG into (type, body) chunks."""
    found, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        found.append((data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return found


def assemble(parts: list[tuple[bytes, bytes]]) -> bytes:
    """Build a PNG from (type, body) chunks with correct lengths and CRCs."""
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in parts:
        out += (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )
    return out


def sample_pngs(shape: tuple[int, int]) -> list[bytes]:
    """Valid PNGs of a random mask in every accepted encoding, and two unusual ones."""
    mask = np.random.default_rng(3).integers(0, 3, size=shape, dtype=np.uint8)
    return [png_bytes(mask, mode) for mode in MODES] + [
        png_bytes(mask, "L", optimize=True),  # filtered rows: the Pillow path
        png_bytes(mask, "P", bits=2),  # a 2-bit palette
    ]


SAMPLE_SHAPE = (13, 17)
SAMPLE_PNGS = {shape: sample_pngs(shape) for shape in [SAMPLE_SHAPE, *SHAPES.values()]}


@st.composite
def crc_correct_mutation(draw: st.DrawFn, shape: tuple[int, int]) -> bytes:
    """Mutate a valid PNG below the CRC: IHDR fields, chunk order and bodies, or the image
    data before deflate, so the decoder sees structurally plausible input."""
    parts = chunks(draw(st.sampled_from(SAMPLE_PNGS[shape])))
    kind = draw(st.sampled_from(["ihdr", "idat-raw", "body", "drop", "duplicate", "swap"]))
    index = draw(st.integers(0, len(parts) - 1))
    if kind == "ihdr":
        fields = list(struct.unpack(">IIBBBBB", parts[0][1]))
        for field in draw(st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True)):
            fields[field] = draw(
                st.integers(0, 0xFFFF_FFFF if field < 2 else 255)
                | st.sampled_from([0xFFFF_FFFF, 2**31, 2**31 - 1] if field < 2 else [0, 3, 6, 16])
            )
        parts[0] = (b"IHDR", struct.pack(">IIBBBBB", *fields))
    elif kind == "idat-raw":
        positions = [i for i, (name, _) in enumerate(parts) if name == b"IDAT"]
        raw = zlib.decompress(b"".join(parts[i][1] for i in positions))
        raw = draw(mutated(raw))
        parts = [part for i, part in enumerate(parts) if i not in positions[1:]]
        parts[positions[0]] = (b"IDAT", zlib.compress(raw))
    elif kind == "body":
        name, body = parts[index]
        parts[index] = (name, draw(mutated(body)) if body else draw(st.binary(max_size=8)))
    elif kind == "drop":
        del parts[index]
    elif kind == "duplicate":
        parts.insert(index, parts[index])
    else:
        other = draw(st.integers(0, len(parts) - 1))
        parts[index], parts[other] = parts[other], parts[index]
    return assemble(parts)


def forged(width: int, height: int, *, color_type: int = 0) -> bytes:
    """A CRC-correct PNG declaring any size, with a little zeroed image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return assemble([(b"IHDR", ihdr), (b"IDAT", zlib.compress(bytes(4096))), (b"IEND", b"")])


def png_inputs(sized: tuple[int, int] = SAMPLE_SHAPE) -> st.SearchStrategy[bytes]:
    return st.one_of(
        crc_correct_mutation(sized),
        crc_correct_mutation(sized),
        st.sampled_from(SAMPLE_PNGS[sized]).flatmap(mutated),
        st.binary(max_size=256).map(lambda tail: b"\x89PNG\r\n\x1a\n" + tail),
    )


@st.composite
def archive_with_a_mutated_mask(draw: st.DrawFn) -> bytes:
    """A well-formed zip whose masks are fuzzed PNGs (see png_inputs): the zip layer is
    sound, so the members are read and decoded."""
    mode = draw(st.sampled_from(MODES))
    entries = predictions(mode, seed=draw(st.integers(0, 3)))
    for name in draw(st.lists(st.sampled_from(sorted(entries)), min_size=1, unique=True)):
        entries[name] = draw(png_inputs(sized=SHAPES[name]))
    return zipped(entries, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))


def archive_inputs() -> st.SearchStrategy[bytes]:
    valid = st.sampled_from(VALID_ARCHIVES)
    return st.one_of(
        valid.flatmap(mutated),
        archive_with_a_mutated_mask(),
        archive_with_a_mutated_mask().flatmap(mutated),
        st.binary(max_size=512).map(lambda tail: b"PK\x03\x04" + tail),
    )


def write(folder: str, data: bytes) -> Path:
    path = Path(folder) / "s.zip"
    path.write_bytes(data)
    return path


def assert_a_valid_mask(array: np.ndarray, size: tuple[int, int] | None) -> None:
    assert array.dtype == np.uint8
    assert array.ndim == 2
    if size is not None:
        assert (array.shape[1], array.shape[0]) == size
    assert int(array.max(initial=0)) <= 3


@pytest.fixture(scope="module")
def ground_truth(tmp_path_factory) -> GroundTruthFolder:
    return GroundTruthFolder(write_ground_truth(tmp_path_factory.mktemp("gt") / "gt", masks()))


# --- The archive reader ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(archive_inputs())
def test_the_archive_reader_only_ever_refuses_with_its_own_errors(data):
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, data)
        problems = check_submission(path, SIZES)
        assert all(isinstance(p.message, str) and p.message for p in problems)
        try:
            submission = Submission(path, SIZES)
        except SubmissionRejected as rejected:
            event("refused when opened")
            assert rejected.problems
            assert problems, "check_submission must agree with Submission"
            return
        assert problems == []
        with submission:
            for name, size in SIZES.items():
                try:
                    member = submission.read(name)
                    decoded = decode_mask(member, expected_size=size)
                except MaskFormatError as error:
                    event("a member refused when read or decoded")
                    assert str(error)
                    continue
                event("a member decoded")
                assert_a_valid_mask(decoded, size)


@settings(max_examples=150, deadline=None)
@given(archive=archive_inputs())
def test_the_scorer_only_ever_refuses_with_submission_rejected(ground_truth, archive):
    with tempfile.TemporaryDirectory() as folder:
        try:
            result = score_path(ground_truth, write(folder, archive), threads=1)
        except SubmissionRejected as rejected:
            event("refused")
            assert rejected.problems
            assert all(str(problem) for problem in rejected.problems)
            return
    event("scored")
    assert result.miou is not None
    assert 0.0 <= result.miou <= 1.0


@settings(max_examples=100, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**16),
    folder=st.sampled_from(["", "preds/", "My Run/"]),
    upper=st.booleans(),
    junk=st.booleans(),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)
def test_valid_archives_round_trip(ground_truth, mode, seed, folder, upper, junk, method):
    files = predictions(mode, seed)
    entries = {f"{folder}{name.upper() if upper else name}": data for name, data in files.items()}
    if junk:
        entries |= {"__MACOSX/._00.png": b"junk", f"{folder}.DS_Store": b"junk"}
    with tempfile.TemporaryDirectory() as scratch:
        path = write(scratch, zipped(entries, method))
        assert check_submission(path, SIZES) == []
        with Submission(path, SIZES) as submission:
            for name, data in files.items():
                assert submission.read(name) == data
                assert np.array_equal(
                    decode_mask(data, expected_size=SIZES[name]), np.minimum(masks(seed)[name], 2)
                )
        miou = score_path(ground_truth, path, threads=1).miou
        assert miou is not None
        assert 0.0 <= miou <= 1.0


# --- The mask decoder -------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(data=png_inputs(), checked_size=st.booleans())
@example(data=forged(0xFFFF_FFFF, 0xFFFF_FFFF), checked_size=False)  # was an OverflowError
@example(data=forged(2**31 - 1, 2**31 - 1, color_type=2), checked_size=False)
def test_the_mask_decoder_only_ever_raises_mask_format_error(data, checked_size):
    size = (17, 13) if checked_size else None
    try:
        array = decode_mask(data, expected_size=size)
    except MaskFormatError as error:
        event(f"refused: {str(error).split('(')[0].split(':')[0][:40]}")
        assert str(error)
        assert " object at 0x" not in str(error)
        return
    event("decoded")
    assert_a_valid_mask(array, size)


def test_sizes_beyond_the_png_limit_are_refused_from_the_header():
    for width, height in [(2**31, 13), (17, 0xFFFF_FFFF)]:
        with pytest.raises(MaskFormatError, match="beyond the PNG size limit"):
            read_header(forged(width, height)[:HEADER_BYTES])
        with pytest.raises(MaskFormatError, match="beyond the PNG size limit"):
            decode_mask(forged(width, height))


@settings(max_examples=200, deadline=None)
@given(
    mask=hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 40), st.integers(1, 70)),
        elements=st.integers(0, 3),
    ),
    mode=st.sampled_from(MODES),
)
def test_every_accepted_encoding_round_trips(mask, mode):
    decoded = decode_mask(png_bytes(mask, mode), expected_size=(mask.shape[1], mask.shape[0]))
    assert np.array_equal(decoded, mask)


# --- Through the API ---------------------------------------------------------------------


@pytest.fixture
def api_token(session, storage, tmp_path):
    phase, _ = make_phase(session, storage, tmp_path, masks=masks(), daily_limit=None)
    user = make_user(session, email="hypothesis@example.org")
    make_team(session, phase.challenge, user, name="Hypothesis")
    token = accounts_service.create_api_token(session=session, user=user).secret
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mutated_archives_through_the_api_get_202_or_422_never_500(
    client, api_token, sessions, storage
):
    path = "/api/v1/challenges/wsss4luad/phases/validation/submissions"
    answers: dict[int, int] = {}

    @settings(
        max_examples=50,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(archive=st.sampled_from(VALID_ARCHIVES).flatmap(mutated))
    def upload(archive):
        response = client.post(path, headers=api_token, files={"file": ("s.zip", archive)})
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        assert response.status_code in (202, 422), response.text
        with tempfile.TemporaryDirectory() as folder:
            accepted = check_submission(write(folder, archive), SIZES) == []
        assert (response.status_code == 202) == accepted, response.text
        if response.status_code == 422:
            assert response.json()["problems"]

    upload()
    assert sum(answers.values()) >= 50
    assert list((storage.root / "tmp").glob("*")) == [], "no scratch file is left behind"
    with sessions() as check:
        stored = check.scalar(select(func.count(SubmissionRow.id)))
    assert stored == answers.get(202, 0)
    assert len(list(storage.root.glob("submissions/**/*.zip"))) == stored
