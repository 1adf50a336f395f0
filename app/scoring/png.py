"""Decode PNG masks into index arrays, refusing anything that is not a valid mask.

Accepted encodings: 8-bit mode P or L holding indices, and RGB or RGBA whose colours are
exactly the official palette colours (alpha is ignored). Everything is checked against the
header before a single pixel is decoded, so a forged 60000x60000 header costs nothing.

Most masks are 8-bit P or L images whose rows carry no PNG filter (Pillow writes palette
images that way). For those the decoder inflates the image data with zlib-ng and uses the
result in place, which is several times faster than Pillow. Everything else goes through
Pillow.
"""

import io
import struct
import sys
import warnings
from dataclasses import dataclass
from typing import Final, cast

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops
from zlib_ng import zlib_ng

from app.scoring.classes import BACKGROUND, LABEL_NAMES, PALETTE
from app.scoring.errors import MaskFormatError

SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
HEADER_BYTES: Final = 33
"""Signature, IHDR length and type, 13 bytes of IHDR data and its CRC."""

_COLOR_TYPES: Final = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}
_MAX_REPORTED_VALUES: Final = 12
_BIT_DEPTHS: Final = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_MAX_DIMENSION: Final = 2**31 - 1
"""The PNG specification's limit; larger values overflowed the decoder's buffer sizes."""
_MAX_CHUNKS: Final = 100_000
"""Far above any encoder's IDAT split (libpng writes 8 KiB chunks), far below a chunk flood."""
_MAX_ANCILLARY_BYTES: Final = 4 << 20
_INFLATE_ERROR: Final = cast(type[Exception], zlib_ng.error)

IndexArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PngHeader:
    """The IHDR fields that decide how a PNG is decoded."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlaced: bool

    @property
    def size(self) -> tuple[int, int]:
        """Return (width, height), Pillow's order."""
        return self.width, self.height

    def describe(self) -> str:
        """Return a short human description such as '8-bit palette'."""
        kind = _COLOR_TYPES.get(self.color_type, f"colour type {self.color_type}")
        return f"{self.bit_depth}-bit {kind}"


def read_header(head: bytes) -> PngHeader:
    """Parse the signature and IHDR from the first 33 bytes of a file."""
    if not head.startswith(SIGNATURE):
        raise MaskFormatError(f"not a PNG file ({_describe_magic(head)})")
    if len(head) < HEADER_BYTES:
        raise MaskFormatError("truncated PNG: the file ends inside its header")
    length, kind = struct.unpack(">I4s", head[8:16])
    if kind != b"IHDR" or length != 13:
        raise MaskFormatError("corrupt PNG: the first chunk is not a valid IHDR")
    fields = struct.unpack(">IIBBBBB", head[16:29])
    width, height, bit_depth, color_type, compression, filtering, interlace = fields
    if width == 0 or height == 0:
        raise MaskFormatError(f"PNG header declares an empty image ({width}x{height})")
    if width > _MAX_DIMENSION or height > _MAX_DIMENSION:
        raise MaskFormatError(f"corrupt PNG: {width}x{height} is beyond the PNG size limit")
    if bit_depth not in _BIT_DEPTHS.get(color_type, ()):
        raise MaskFormatError(
            f"corrupt PNG: bit depth {bit_depth} is invalid for colour type {color_type}"
        )
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise MaskFormatError("corrupt PNG: unknown compression, filter or interlace method")
    return PngHeader(width, height, bit_depth, color_type, interlace == 1)


def decode_mask(
    data: bytes, *, expected_size: tuple[int, int] | None = None, max_value: int = 3
) -> IndexArray:
    """Decode a mask PNG to an (H, W) uint8 index array with values in 0..max_value."""
    header = read_header(data[:HEADER_BYTES])
    if expected_size is not None and header.size != expected_size:
        width, height = expected_size
        raise MaskFormatError(
            f"size {header.width}x{header.height}, expected {width}x{height} "
            "(the prediction must have the size of its image)"
        )
    if header.color_type == 0 and header.bit_depth < 8:
        raise MaskFormatError(
            f"{header.describe()} is not accepted; save an 8-bit P or L image of class indices"
        )
    image_chunks, has_palette = _verified_image_chunks(data)
    if header.color_type == 3 and not has_palette:
        raise MaskFormatError("corrupt PNG: a palette image without its PLTE chunk")
    array = None
    if _fast_path_applies(header):
        array = _decode_unfiltered(header, b"".join(image_chunks))
    if array is None:
        array = _decode_with_pillow(data, header)
    _check_values(array, max_value)
    return array


def _verified_image_chunks(data: bytes) -> tuple[list[memoryview], bool]:
    """Walk the chunks, verify every CRC, the IEND marker and the chunk budget; return the
    IDAT payloads and whether a PLTE chunk was seen. A flood of tiny or ancillary chunks
    is refused before any decoding.
    """
    view = memoryview(data)
    offset = len(SIGNATURE)
    idat: list[memoryview] = []
    chunks = 0
    ancillary_bytes = 0
    has_palette = False
    while True:
        chunks += 1
        if chunks > _MAX_CHUNKS:
            raise MaskFormatError(f"PNG has more than {_MAX_CHUNKS:,} chunks; not a normal mask")
        if offset + 8 > len(data):
            raise MaskFormatError("truncated PNG: the file ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", view[offset : offset + 8])
        end = offset + 12 + length
        if end > len(data):
            raise MaskFormatError(f"truncated PNG: the {_chunk_name(kind)} chunk is cut short")
        body = view[offset + 4 : offset + 8 + length]
        (crc,) = struct.unpack(">I", view[offset + 8 + length : end])
        if zlib_ng.crc32(body) != crc:
            raise MaskFormatError(f"corrupt PNG: CRC mismatch in the {_chunk_name(kind)} chunk")
        if kind == b"IDAT":
            idat.append(body[4:])
        elif kind == b"IEND":
            break
        else:
            has_palette = has_palette or kind == b"PLTE"
            ancillary_bytes += length
            if ancillary_bytes > _MAX_ANCILLARY_BYTES:
                raise MaskFormatError("PNG carries more than 4 MB of metadata; not a normal mask")
        offset = end
    if not idat:
        raise MaskFormatError("corrupt PNG: no image data (IDAT) chunk")
    return idat, has_palette


def _fast_path_applies(header: PngHeader) -> bool:
    return header.bit_depth == 8 and header.color_type in (0, 3) and not header.interlaced


def _decode_unfiltered(header: PngHeader, image_data: bytes) -> IndexArray | None:
    """Decode an 8-bit, single-channel, non-interlaced PNG whose rows are all unfiltered.

    Returns None when a row is filtered, and Pillow decodes the image instead.
    """
    stride = header.width + 1
    expected = stride * header.height
    inflater = zlib_ng.decompressobj()
    try:
        # Filtered images are common (Pillow filters grayscale rows), so look at the first
        # row's filter byte before inflating everything.
        raw = inflater.decompress(image_data, stride)
        if raw[:1] != b"\x00":
            return None
        raw += inflater.decompress(inflater.unconsumed_tail, expected - len(raw) + 1)
    except _INFLATE_ERROR as error:
        raise MaskFormatError(f"corrupt PNG: image data does not inflate ({error})") from None
    if len(raw) != expected or not inflater.eof:
        raise MaskFormatError(
            f"corrupt PNG: image data holds {len(raw)} bytes, expected {expected} "
            f"for {header.width}x{header.height}"
        )
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(header.height, stride)
    if rows[:, 0].any():
        return None
    return rows[:, 1:]


def _decode_with_pillow(data: bytes, header: PngHeader) -> IndexArray:
    """Decode any other PNG with Pillow, mapping palette colours for RGB and RGBA."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                image.load()
                mode = image.mode
                if mode in ("P", "L"):
                    return np.asarray(image, dtype=np.uint8)
                if mode in ("RGB", "RGBA"):
                    indices = _indices_from_official_colours(image)
                    return indices if indices is not None else _indices_from_colours(image)
    except MaskFormatError:
        raise
    except Image.DecompressionBombError:
        raise MaskFormatError("PNG declares too many pixels to decode") from None
    except Exception as error:
        # Pillow raises many exception types on malformed input (IndexError, SyntaxError,
        # struct.error, ...); none of them may escape as a crash of the scorer.
        raise MaskFormatError(f"cannot decode PNG ({_describe_pillow_error(error)})") from None
    raise MaskFormatError(
        f"unsupported image mode {mode} ({header.describe()}); save an 8-bit P or L image "
        "of class indices, or RGB in the official palette colours"
    )


def _describe_pillow_error(error: Exception) -> str:
    text = str(error)
    if not text or " object at 0x" in text:
        return f"{type(error).__name__}: the image data is malformed"
    return text


_COLOUR_ROWS_PIXELS: Final = 1 << 20


def _colour_tables() -> tuple[list[int], list[int], list[int]]:
    """Return Pillow lookup tables from red to (index, expected green, expected blue).

    The official colours have distinct red values, so red alone names the class; the
    other channels only need checking. A red value of no official colour maps to index
    255, which the caller refuses.
    """
    index, green, blue = [255] * 256, [0] * 256, [0] * 256
    for value, (red, expected_green, expected_blue) in PALETTE.items():
        index[red], green[red], blue[red] = value, expected_green, expected_blue
    return index, green, blue


_RED_TO_INDEX, _RED_TO_GREEN, _RED_TO_BLUE = _colour_tables()


def _indices_from_official_colours(image: Image.Image) -> IndexArray | None:
    """Map an RGB(A) image whose pixels all have official colours; None if one does not.

    Every step is one pass of Pillow's C code over single-byte bands (most release the
    GIL), several times cheaper than comparing packed pixels with each colour in numpy.
    """
    red, green, blue = image.split()[:3]
    indices = red.point(_RED_TO_INDEX)
    if indices.getextrema()[1] > BACKGROUND:  # type: ignore[operator]
        return None
    for channel, table in ((green, _RED_TO_GREEN), (blue, _RED_TO_BLUE)):
        if ImageChops.difference(channel, red.point(table)).getbbox() is not None:
            return None
    return np.asarray(indices, dtype=np.uint8)


def _indices_from_colours(image: Image.Image) -> IndexArray:
    """Map official palette colours to indices, a band of rows at a time to bound memory.

    The slow path: it names the colours outside the palette, so it serves the refusal.
    """
    rgba = np.asarray(image.convert("RGBA"))
    height, width = rgba.shape[:2]
    packed_all = rgba.view(np.uint32).reshape(height, width)
    alpha_free = np.uint32(0x00FFFFFF if sys.byteorder == "little" else 0xFFFFFF00)
    targets = {index: _packed(colour) for index, colour in PALETTE.items()}
    indices = np.full((height, width), 255, dtype=np.uint8)
    unknown_count = 0
    unknown: set[int] = set()
    rows = max(1, _COLOUR_ROWS_PIXELS // width)
    for start in range(0, height, rows):
        packed = packed_all[start : start + rows] & alpha_free
        band = indices[start : start + rows]
        for index, value in targets.items():
            band[packed == value] = index
        missing = band == 255
        if missing.any():
            unknown_count += int(missing.sum())
            if len(unknown) < _MAX_REPORTED_VALUES + 1:
                unknown.update(
                    int(v) for v in np.unique(packed[missing])[: _MAX_REPORTED_VALUES + 1]
                )
    if unknown_count:
        colours = sorted(_unpacked(value) for value in unknown)
        shown = ", ".join(str(colour) for colour in colours[:_MAX_REPORTED_VALUES])
        more = " and more" if len(colours) > _MAX_REPORTED_VALUES else ""
        raise MaskFormatError(
            f"{unknown_count} pixels have colours outside the official palette: "
            f"{shown}{more}; expected {_palette_legend()}"
        )
    return indices


def _packed(colour: tuple[int, int, int]) -> np.uint32:
    """Return an RGB colour as the uint32 that an RGBA pixel with alpha masked off reads as."""
    return np.uint32(int.from_bytes(bytes([*colour, 0]), sys.byteorder))


def _unpacked(value: int) -> tuple[int, int, int]:
    red, green, blue, _ = value.to_bytes(4, sys.byteorder)
    return red, green, blue


def _check_values(array: IndexArray, max_value: int) -> None:
    """Refuse index values above max_value, listing the values found."""
    # A uint8 array cannot exceed 255, so background masks skip the pass over the pixels.
    if max_value >= 255 or int(array.max()) <= max_value:
        return
    values = np.unique(array)
    shown = ", ".join(str(v) for v in values[:_MAX_REPORTED_VALUES])
    more = (
        f" and {len(values) - _MAX_REPORTED_VALUES} more"
        if len(values) > _MAX_REPORTED_VALUES
        else ""
    )
    legend = ", ".join(f"{index} {name}" for index, name in enumerate(LABEL_NAMES))
    raise MaskFormatError(
        f"values found: {shown}{more}; expected class indices 0..{max_value} ({legend})"
    )


def _palette_legend() -> str:
    return ", ".join(f"{LABEL_NAMES[index]} {colour}" for index, colour in PALETTE.items())


def _chunk_name(kind: bytes) -> str:
    return kind.decode("latin-1") if kind.isalpha() else repr(kind)


def _describe_magic(head: bytes) -> str:
    if head.startswith(b"PK"):
        return "it is a zip archive"
    if head[:3] == b"\xff\xd8\xff":
        return "it is a JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "it is a TIFF"
    if not head:
        return "the file is empty"
    return f"starts with {head[:8]!r}"
