"""Read a submission (a zip archive or a folder of PNG masks) safely.

Rules, each refusal naming the offending entry:
- masks lie at the archive root or inside exactly one top-level folder; `__MACOSX/`,
  `.DS_Store`, `Thumbs.db`, `desktop.ini` and dot-files are ignored;
- every ground-truth image has exactly one prediction with its file name (letter case
  aside); missing, unknown and duplicated names (also by case or Unicode normalisation)
  are refused;
- absolute paths, `..`, backslashes, symlinks and other special files, nested archives,
  encrypted members, unusual compression methods and non-PNG content are refused;
- member count, declared sizes (per member and in total) and compression ratios are
  checked from the archive directory before anything is inflated, and the PNG header of
  each mask is checked against the image size before any pixel is decoded.

Nothing is extracted to disk: members are read into memory, bounded by the size caps.
All problems are collected (up to MAX_PROBLEMS) rather than only the first.
"""

import os
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Protocol, Self

from app.scoring.errors import MaskFormatError, Problem, SubmissionRejected
from app.scoring.png import HEADER_BYTES, read_header

MAX_PROBLEMS: Final = 50
JUNK_NAMES: Final = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
ARCHIVE_SUFFIXES: Final = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")
MAX_COMPRESSION_RATIO: Final = 1100
"""Above what deflate can produce (about 1032:1): such a member is forged. Honest but
extreme ratios (uncompressed PNGs of uniform masks reach several hundred) are accepted;
the declared-size caps are what bound inflation."""
RATIO_CHECK_FROM_BYTES: Final = 1 << 20
_ZIP_METHODS: Final = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_ENCRYPTED: Final = 0x1
_PATCHED_DATA: Final = 0x20
_STRONG_ENCRYPTION: Final = 0x40
_SLACK_BYTES: Final = 1 << 20
_MEMBER_SLACK: Final = 64
"""Entries beyond two per image (folders, junk files) that an archive may hold."""

Kind = Literal["file", "dir", "symlink", "special"]


@dataclass(frozen=True)
class Limits:
    """Size caps for one phase, derived from its image sizes."""

    max_members: int
    max_member_bytes: Mapping[str, int]
    max_total_bytes: int

    @classmethod
    def for_images(cls, sizes: Mapping[str, tuple[int, int]]) -> "Limits":
        """Derive caps with slack: an uncompressed RGBA PNG of each image must still fit."""
        return cls(
            max_members=2 * len(sizes) + _MEMBER_SLACK,
            max_member_bytes={name: png_size_cap(w, h) for name, (w, h) in sizes.items()},
            max_total_bytes=sum(_rgba_png_bytes(w, h) + 4096 for w, h in sizes.values())
            + _SLACK_BYTES,
        )


_EOCD: Final = b"PK\x05\x06"
_EOCD_BYTES: Final = 22
_ZIP64_LOCATOR: Final = b"PK\x06\x07"
_ZIP64_EOCD: Final = b"PK\x06\x06"
_MAX_COMMENT: Final = 0xFFFF
_CENTRAL_HEADER_BYTES: Final = 46
MAX_DIRECTORY_RECORD_BYTES: Final = _CENTRAL_HEADER_BYTES + 1024
"""What one honest directory record can take: its fixed part, a name of a few hundred
bytes (a top-level folder and a mask name) and the extra fields that zip tools add."""


def _check_declared_directory(path: Path, limits: Limits) -> None:
    """Refuse an archive whose end record declares more entries, or a larger directory,
    than the phase can need, before zipfile reads (and builds objects for) the directory.

    Reads at most the last 64 KiB and the zip64 record: constant time and memory whatever
    the archive declares. An archive without a readable end record is left to zipfile,
    which names the problem.
    """
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            tail_start = max(0, size - _EOCD_BYTES - _MAX_COMMENT)
            handle.seek(tail_start)
            tail = handle.read()
            at = tail.rfind(_EOCD)
            if at < 0 or len(tail) - at < _EOCD_BYTES:
                return
            entries = int.from_bytes(tail[at + 10 : at + 12], "little")
            directory = int.from_bytes(tail[at + 12 : at + 16], "little")
            locator = tail[at - 20 : at] if at >= 20 else b""
            if locator[:4] == _ZIP64_LOCATOR:
                handle.seek(int.from_bytes(locator[8:16], "little"))
                record = handle.read(56)
                if record[:4] == _ZIP64_EOCD and len(record) == 56:
                    entries = int.from_bytes(record[32:40], "little")
                    directory = int.from_bytes(record[40:48], "little")
    except OSError:
        return  # opening it again names the problem
    if entries > limits.max_members:
        raise SubmissionRejected(
            [
                Problem(
                    "",
                    f"the archive holds {entries} entries; at most {limits.max_members} "
                    f"are accepted for {len(limits.max_member_bytes)} images",
                )
            ]
        )
    most = limits.max_members * MAX_DIRECTORY_RECORD_BYTES
    if directory > most:
        raise SubmissionRejected(
            [
                Problem(
                    "",
                    f"the archive's directory takes {directory} bytes; {entries} entries "
                    f"need at most {most}",
                )
            ]
        )


def png_size_cap(width: int, height: int) -> int:
    """Return the largest acceptable PNG file for an image: RGBA with no compression, plus slack."""
    return _rgba_png_bytes(width, height) + _SLACK_BYTES


def _rgba_png_bytes(width: int, height: int) -> int:
    """Return the size of an uncompressed RGBA PNG's pixel data, with 1 % for deflate framing."""
    return (4 * width + 1) * height * 101 // 100


@dataclass(frozen=True)
class Member:
    """One entry of a submission as its directory describes it, before reading it."""

    path: str
    size: int
    packed_size: int
    kind: Kind
    flaw: str | None = None
    position: int = 0
    """Index in the archive directory, which tells apart members sharing a name."""


class Source(Protocol):
    """A container of submission entries: a zip archive or a folder."""

    def members(self) -> list[Member]:
        """List every entry, directories included."""
        ...

    def read(self, member: Member, limit: int) -> bytes:
        """Return at most `limit` bytes of a member's content."""
        ...

    def close(self) -> None:
        """Release the underlying file handles."""
        ...


class ZipSource:
    """Entries of a zip archive, read through zipfile without extracting anything."""

    def __init__(self, path: Path, limits: Limits | None = None, name: str | None = None) -> None:
        shown = name or path.name  # the name the user gave the file, not a scratch name
        if limits is not None:
            _check_declared_directory(path, limits)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError) as error:
            raise SubmissionRejected(
                [Problem(shown, f"not a readable zip archive ({error})")]
            ) from None
        except OSError as error:
            raise SubmissionRejected([Problem(shown, f"cannot open ({error.strerror})")]) from None

    def members(self) -> list[Member]:
        """List every entry of the archive directory."""
        return [self._member(i, info) for i, info in enumerate(self._zip.infolist())]

    @staticmethod
    def _member(position: int, info: zipfile.ZipInfo) -> Member:
        mode = info.external_attr >> 16
        file_type = stat.S_IFMT(mode)
        kind: Kind
        # zipfile cuts names at a NUL byte, so the name may be empty: no info.is_dir().
        if info.filename.endswith("/") or file_type == stat.S_IFDIR:
            kind = "dir"
        elif file_type == stat.S_IFLNK:
            kind = "symlink"
        elif file_type in (0, stat.S_IFREG):
            kind = "file"
        else:
            kind = "special"
        flaw = None
        if info.flag_bits & (_ENCRYPTED | _STRONG_ENCRYPTION):
            flaw = "is encrypted; encrypted archives are not accepted"
        elif info.flag_bits & _PATCHED_DATA or info.extract_version > zipfile.MAX_EXTRACT_VERSION:
            flaw = "uses a zip feature this server does not read; re-create the zip plainly"
        elif info.compress_type not in _ZIP_METHODS:
            flaw = (
                f"uses compression method {info.compress_type}; only stored and deflate "
                "are accepted"
            )
        return Member(info.orig_filename, info.file_size, info.compress_size, kind, flaw, position)

    def read(self, member: Member, limit: int) -> bytes:
        """Inflate at most `limit` bytes of a member; zipfile checks its CRC at the end."""
        try:
            with self._zip.open(self._zip.infolist()[member.position]) as handle:
                return handle.read(limit)
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
            RuntimeError,
        ) as error:
            raise MaskFormatError(f"corrupt archive member ({error})") from None

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()


class FolderSource:
    """Entries of a folder, walked without following symlinks (for the command line)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def members(self) -> list[Member]:
        """List files and folders up to a few levels deep."""
        found: list[Member] = []
        self._walk(self._root, "", found, depth=0)
        return found

    def _walk(self, folder: Path, prefix: str, found: list[Member], depth: int) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = prefix + entry.name
                if entry.is_symlink():
                    found.append(Member(path, 0, 0, "symlink"))
                elif entry.is_dir(follow_symlinks=False):
                    found.append(Member(path + "/", 0, 0, "dir"))
                    if depth < 3:
                        self._walk(Path(entry.path), path + "/", found, depth + 1)
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    found.append(Member(path, size, size, "file"))
                else:
                    found.append(Member(path, 0, 0, "special"))

    def read(self, member: Member, limit: int) -> bytes:
        """Read at most `limit` bytes of a file, refusing to follow a symlink swapped in."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            descriptor = os.open(self._root / member.path, flags)
        except OSError as error:
            raise MaskFormatError(f"cannot read ({error.strerror})") from None
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise MaskFormatError("is no longer a regular file")
            try:
                return handle.read(limit)
            except OSError as error:
                raise MaskFormatError(f"cannot read ({error.strerror})") from None

    def close(self) -> None:
        """Nothing to release."""


class Submission:
    """A checked submission: one PNG member for every ground-truth image.

    Use as a context manager. Construction runs every structural check and raises
    SubmissionRejected with all problems found.
    """

    def __init__(
        self, path: Path, sizes: Mapping[str, tuple[int, int]], *, name: str | None = None
    ) -> None:
        """`name` is what the user called the file, for messages (default: its own name)."""
        self.sizes = dict(sizes)
        self.limits = Limits.for_images(sizes)
        self._source: Source = (
            FolderSource(path) if path.is_dir() else ZipSource(path, self.limits, name)
        )
        try:
            self._by_image = _plan(self._source, self.sizes, self.limits)
        except BaseException:
            self._source.close()
            raise

    def entry_name(self, image: str) -> str:
        """Return the path of the member that predicts `image`, as written in the archive."""
        return self._by_image[image].path

    def read(self, image: str) -> bytes:
        """Return the PNG bytes predicting `image`, never more than its size cap."""
        member = self._by_image[image]
        cap = self.limits.max_member_bytes[image]
        data = self._source.read(member, cap + 1)
        if len(data) > cap:
            raise MaskFormatError(f"holds more than {cap} bytes, the cap for this image")
        return data

    def close(self) -> None:
        """Release the archive."""
        self._source.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def check_submission(
    path: Path, sizes: Mapping[str, tuple[int, int]], *, name: str | None = None
) -> list[Problem]:
    """Run the structural checks only (names, sizes, headers); return every problem found."""
    try:
        Submission(path, sizes, name=name).close()
    except SubmissionRejected as rejected:
        more = (
            [Problem("", f"... and {rejected.omitted} more problems")] if rejected.omitted else []
        )
        return rejected.problems + more
    return []


class _Problems:
    """Collects problems, keeping the first MAX_PROBLEMS and counting the rest."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.omitted = 0

    def add(self, entry: str, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(entry, message))
        else:
            self.omitted += 1

    def raise_if_any(self) -> None:
        if self.items:
            raise SubmissionRejected(self.items, omitted=self.omitted)


def _plan(
    source: Source, sizes: Mapping[str, tuple[int, int]], limits: Limits
) -> dict[str, Member]:
    """Run every structural check; return the member predicting each image."""
    problems = _Problems()
    members = source.members()
    if len(members) > limits.max_members:
        problems.add(
            "",
            f"the archive holds {len(members)} entries; at most {limits.max_members} are "
            f"accepted for {len(sizes)} images",
        )
        problems.raise_if_any()

    masks: list[Member] = []
    refused: set[str] = set()
    for member in members:
        verdict = _screen(member, problems)
        if verdict == "mask":
            masks.append(member)
        elif verdict == "refused" and _parts(member.path):
            refused.add(_name_key(_parts(member.path)[-1]))
    _check_layout(masks, problems)
    by_image = _match_names(masks, sizes, problems, already_refused=refused)
    oversized = _check_declared_sizes(by_image, limits, problems)
    for image, member in sorted(by_image.items()):
        if image in oversized:
            continue
        try:
            head = source.read(member, HEADER_BYTES)
            header = read_header(head)
        except MaskFormatError as error:
            problems.add(member.path, str(error))
            continue
        width, height = sizes[image]
        if header.size != (width, height):
            problems.add(
                member.path,
                f"size {header.width}x{header.height} in its PNG header, expected "
                f"{width}x{height} (the size of image {image})",
            )
    problems.raise_if_any()
    return by_image


def _screen(member: Member, problems: _Problems) -> Literal["mask", "skip", "refused"]:
    """Check one entry's name and type: a mask to consider, an entry to skip, or refused."""
    path = member.path
    unsafe = _unsafe_path_reason(path)
    if unsafe:
        problems.add(path, unsafe)
        return "refused"
    parts = _parts(path)
    if member.kind == "dir" or not parts or _is_junk(parts):
        return "skip"
    if member.kind == "symlink":
        problems.add(path, "is a symbolic link; only regular files are accepted")
        return "refused"
    if member.kind == "special":
        problems.add(path, "is a special file (device, pipe or socket); not accepted")
        return "refused"
    if member.flaw:
        problems.add(path, member.flaw)
        return "refused"
    lower = parts[-1].lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        problems.add(path, "is a nested archive; put the PNG masks in the archive directly")
        return "refused"
    if not lower.endswith(".png"):
        problems.add(path, "is not a .png file; only PNG masks are accepted")
        return "refused"
    return "mask"


def _unsafe_path_reason(path: str) -> str | None:
    if not path:
        return "has an empty name"
    if "\x00" in path:
        return "has a NUL byte in its name"
    if "\\" in path:
        return "uses backslashes in its path; zip paths must use '/'"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "has an absolute path"
    if ".." in path.split("/"):
        return "escapes the archive with '..'"
    return None


def _parts(path: str) -> list[str]:
    """Split a member path, dropping empty and '.' components ('./00.png' is '00.png')."""
    return [part for part in path.split("/") if part not in ("", ".")]


def _is_junk(parts: list[str]) -> bool:
    if parts[0] == "__MACOSX":
        return True
    return any(part.startswith(".") for part in parts) or parts[-1].lower() in JUNK_NAMES


def _check_layout(masks: list[Member], problems: _Problems) -> None:
    folders: set[str] = set()
    for member in masks:
        parts = _parts(member.path)
        if len(parts) > 2:
            problems.add(
                member.path,
                "is nested more than one folder deep; put masks at the archive root or "
                "in one top-level folder",
            )
        else:
            folders.add(parts[0] + "/" if len(parts) == 2 else "(archive root)")
    if len(folders) > 1:
        problems.add(
            "",
            f"masks are spread over {', '.join(sorted(folders))}; put them all at the "
            "archive root or all in one top-level folder",
        )


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _match_names(
    masks: list[Member],
    sizes: Mapping[str, tuple[int, int]],
    problems: _Problems,
    *,
    already_refused: set[str],
) -> dict[str, Member]:
    expected = {_name_key(name): name for name in sizes}
    by_image: dict[str, Member] = {}
    for member in masks:
        basename = _parts(member.path)[-1]
        image = expected.get(_name_key(basename))
        if image is None:
            problems.add(member.path, f"matches no image of this phase ({_name_hint(sizes)})")
        elif image in by_image:
            problems.add(
                member.path,
                f"duplicates {by_image[image].path} (names are compared ignoring letter case)",
            )
        else:
            by_image[image] = member
    for image in sorted(set(sizes) - set(by_image)):
        if _name_key(image) not in already_refused:
            problems.add(image, "is missing: every image of the phase needs one prediction")
    return by_image


def _name_hint(sizes: Mapping[str, tuple[int, int]]) -> str:
    names = sorted(sizes)
    if len(names) <= 3:
        return "expected " + ", ".join(names)
    return f"expected {names[0]} ... {names[-1]}"


def _check_declared_sizes(
    by_image: dict[str, Member], limits: Limits, problems: _Problems
) -> set[str]:
    """Report members whose declared size or ratio is too large; return their images."""
    oversized: set[str] = set()
    total = 0
    for image, member in sorted(by_image.items()):
        total += member.size
        cap = limits.max_member_bytes[image]
        if member.size > cap:
            oversized.add(image)
            problems.add(
                member.path,
                f"declares {member.size:,} bytes uncompressed; at most {cap:,} are accepted "
                f"for image {image}",
            )
        elif member.size >= RATIO_CHECK_FROM_BYTES and member.size > MAX_COMPRESSION_RATIO * max(
            member.packed_size, 1
        ):
            ratio = member.size // max(member.packed_size, 1)
            oversized.add(image)
            problems.add(
                member.path,
                f"compresses {ratio}:1, above the {MAX_COMPRESSION_RATIO}:1 limit; save the "
                "PNG with normal compression",
            )
    if total > limits.max_total_bytes:
        problems.add(
            "",
            f"the masks declare {total:,} bytes in total; at most {limits.max_total_bytes:,} "
            "are accepted",
        )
        return set(by_image)
    return oversized
