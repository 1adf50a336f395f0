"""Builders for masks, ground-truth folders, archives and database rows used across tests."""

import io
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.models import TeamStatus
from app.scoring.classes import BACKGROUND_MASK_PALETTE, PALETTE, flat_palette

Mask = npt.NDArray[np.uint8]


def png_bytes(indices: Mask, mode: str = "P", **save_options: object) -> bytes:
    """Encode an index array as a PNG: P (official palette), L, RGB or RGBA colours."""
    if mode in ("RGB", "RGBA"):
        colours = np.zeros((*indices.shape, 3), dtype=np.uint8)
        for index, colour in PALETTE.items():
            colours[indices == index] = colour
        image = Image.fromarray(colours, "RGB").convert(mode)
    else:
        image = Image.fromarray(indices, "L")
        if mode == "P":
            image = image.convert("P")
            image.putpalette(flat_palette())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save_options)
    return buffer.getvalue()


def background_png_bytes(background: Mask) -> bytes:
    """Encode a background mask the official way: mode P, 1 = background."""
    image = Image.fromarray(background, "L").convert("P")
    flat = [channel for colour in BACKGROUND_MASK_PALETTE for channel in colour]
    image.putpalette(flat + [0] * (768 - len(flat)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def random_mask(rng: np.random.Generator, height: int, width: int) -> Mask:
    """Return a blocky random ground-truth mask with values 0..3."""
    coarse = rng.integers(0, 4, size=(max(1, height // 8) + 1, max(1, width // 8) + 1))
    mask = np.kron(coarse, np.ones((8, 8), dtype=np.int64))[:height, :width]
    return mask.astype(np.uint8)


def write_ground_truth(root: Path, masks: Mapping[str, Mask]) -> Path:
    """Write masks in the official layout, background mask = (mask == 3)."""
    (root / "mask").mkdir(parents=True)
    (root / "background-mask").mkdir()
    for name, mask in masks.items():
        (root / "mask" / name).write_bytes(png_bytes(mask))
        background = (mask == 3).astype(np.uint8)
        (root / "background-mask" / name).write_bytes(background_png_bytes(background))
    return root


def zip_bytes(entries: Mapping[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Return a zip archive holding `entries` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_zip(path: Path, entries: Mapping[str, bytes]) -> Path:
    """Write a zip of `entries` to path and return it."""
    path.write_bytes(zip_bytes(entries))
    return path


def forged_png_header(width: int, height: int) -> bytes:
    """Return a tiny, CRC-correct PNG whose header declares width x height."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- Database rows -------------------------------------------------------------------

PASSWORD = "correct-horse-battery"


def make_user(session, email="pat@example.org", name="Pat", **fields):
    """Create an account with the shared test password."""
    from app.services import accounts as accounts_service

    return accounts_service.create_user(
        session=session, email=email, password=PASSWORD, display_name=name, **fields
    )


def make_phase(
    session,
    storage,
    folder: Path,
    *,
    challenge="wsss4luad",
    phase="validation",
    masks=None,
    **options,
):
    """Import a small generated phase (ground truth written under `folder`)."""
    from app.services import challenges as challenges_service

    masks = masks or {
        f"{i:02d}.png": random_mask(np.random.default_rng(i), 24 + 8 * i, 40) for i in range(3)
    }
    dataset = write_ground_truth(folder / f"{challenge}-{phase}", masks)
    (dataset / "img").mkdir()
    for name, mask in masks.items():
        rgb = np.stack([mask * 60, mask * 40, 255 - mask * 50], axis=-1).astype(np.uint8)
        Image.fromarray(rgb, "RGB").save(dataset / "img" / name)
    report = challenges_service.import_phase(
        session=session,
        storage=storage,
        challenge_slug=challenge,
        phase_slug=phase,
        dataset_dir=dataset,
        **options,
    )
    return report.phase, masks


def make_team(session, challenge, user, name="Team Pat"):
    """Register an approved team for `user`."""
    from app.services import teams as teams_service

    team = teams_service.register_team(
        session=session, challenge=challenge, user=user, name=name, accept_rules=True
    )
    team.status = TeamStatus.APPROVED
    session.flush()
    return team


def prediction_zip(path: Path, masks, *, damage: float = 0.0, seed: int = 0) -> Path:
    """Write a zip predicting `masks`, with a fraction `damage` of pixels relabelled."""
    rng = np.random.default_rng(seed)
    entries = {}
    for name, mask in masks.items():
        prediction = np.where(mask == 3, 0, mask).astype(np.uint8)
        if damage:
            flip = rng.random(mask.shape) < damage
            prediction[flip] = (prediction[flip] + 1) % 3
        entries[name] = png_bytes(prediction, "L")
    return write_zip(path, entries)


class RecordingTasks:
    """Stands in for the task sender where a test needs no worker: records the ids."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.baseline_runs: list[int] = []

    def score(self, submission_id: int) -> None:
        self.sent.append(submission_id)

    def baseline(self, run_id: int) -> None:
        self.baseline_runs.append(run_id)


def directory_only_zip(entries: int, *, zip64: bool = False, name: bytes = b"00.png") -> bytes:
    """A zip of `entries` central-directory records and no file data (an archive whose
    directory alone costs the reader time and memory)."""
    record = (
        b"PK\x01\x02"
        + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
        + name
    )
    directory = record * entries
    if not zip64:
        end = b"PK\x05\x06" + struct.pack(
            "<HHHHIIH", 0, 0, min(entries, 0xFFFF), min(entries, 0xFFFF), len(directory), 0, 0
        )
        return directory + end
    record64 = b"PK\x06\x06" + struct.pack(
        "<QHHIIQQQQ", 44, 45, 45, 0, 0, entries, entries, len(directory), 0
    )
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, len(directory), 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return directory + record64 + locator + end
