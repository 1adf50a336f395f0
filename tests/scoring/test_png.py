"""Mask decoding: every accepted encoding, and a clear refusal for everything else."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from app.scoring.errors import MaskFormatError
from app.scoring.png import (
    _indices_from_colours,
    _indices_from_official_colours,
    decode_mask,
    read_header,
)
from tests.factories import forged_png_header, png_bytes, random_mask


@pytest.fixture
def mask() -> np.ndarray:
    return random_mask(np.random.default_rng(1), 37, 53)


@pytest.mark.parametrize("mode", ["P", "L", "RGB", "RGBA"])
def test_accepted_encodings_decode_to_the_same_indices(mask, mode):
    decoded = decode_mask(png_bytes(mask, mode), expected_size=(53, 37))
    assert np.array_equal(decoded, mask)


def test_adaptively_filtered_grayscale_decodes_like_pillow():
    rng = np.random.default_rng(5)
    mask = rng.integers(0, 4, size=(40, 70), dtype=np.uint8)
    data = png_bytes(mask, "L")
    assert np.array_equal(decode_mask(data), np.asarray(Image.open(io.BytesIO(data))))


def test_low_bit_depth_palette_is_read_as_indices(mask):
    buffer = io.BytesIO()
    Image.fromarray(mask, "L").convert("P").save(buffer, format="PNG", bits=2)
    assert read_header(buffer.getvalue()[:33]).bit_depth == 2
    assert np.array_equal(decode_mask(buffer.getvalue()), mask)


def test_palette_indices_win_over_palette_colours(mask):
    image = Image.fromarray(mask, "L").convert("P")
    image.putpalette([9, 9, 9] * 256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert np.array_equal(decode_mask(buffer.getvalue()), mask)


def test_values_above_three_are_refused_with_the_values_found(mask):
    bad = mask.copy()
    bad[0, 0] = 255
    bad[1, 1] = 7
    with pytest.raises(MaskFormatError, match=r"values found: 0, 1, 2, 3, 7, 255"):
        decode_mask(png_bytes(bad, "L"))


def test_unknown_colours_are_refused_with_the_colours_found(mask):
    colours = np.full((*mask.shape, 3), 255, dtype=np.uint8)
    colours[0, 0] = (1, 2, 3)
    buffer = io.BytesIO()
    Image.fromarray(colours, "RGB").save(buffer, format="PNG")
    with pytest.raises(MaskFormatError, match=r"1 pixels have colours .*\(1, 2, 3\)"):
        decode_mask(buffer.getvalue())


@pytest.mark.parametrize(
    ("mode", "array"),
    [
        ("I;16", np.zeros((4, 4), dtype=np.uint16)),
        ("LA", np.zeros((4, 4, 2), dtype=np.uint8)),
    ],
)
def test_unsupported_modes_are_named(mode, array):
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    assert image.mode == mode
    image.save(buffer, format="PNG")
    with pytest.raises(MaskFormatError, match=f"unsupported image mode {mode}"):
        decode_mask(buffer.getvalue())


def test_wrong_size_names_both_sizes(mask):
    with pytest.raises(MaskFormatError, match=r"size 53x37, expected 60x37"):
        decode_mask(png_bytes(mask), expected_size=(60, 37))


def test_dimension_bomb_is_refused_from_the_header():
    with pytest.raises(MaskFormatError, match=r"size 60000x60000, expected 500x400"):
        decode_mask(forged_png_header(60000, 60000), expected_size=(500, 400))


def test_forged_header_without_matching_data_is_corrupt():
    with pytest.raises(MaskFormatError, match="image data holds 1024 bytes"):
        decode_mask(forged_png_header(300, 300))


def test_jpeg_is_not_a_png():
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="JPEG")
    with pytest.raises(MaskFormatError, match=r"not a PNG file .*JPEG"):
        decode_mask(buffer.getvalue())


def test_empty_file_is_not_a_png():
    with pytest.raises(MaskFormatError, match="empty"):
        decode_mask(b"")


@pytest.mark.parametrize("keep", [20, 40, -30, -5])
def test_truncated_png_is_refused(mask, keep):
    with pytest.raises(MaskFormatError, match=r"truncated|corrupt"):
        decode_mask(png_bytes(mask)[:keep])


@pytest.mark.parametrize("mode", ["P", "L"])
def test_bad_crc_in_image_data_is_refused(mask, mode):
    data = bytearray(png_bytes(mask, mode))
    start = data.index(b"IDAT") + 4
    data[start + 5] ^= 0xFF
    with pytest.raises(MaskFormatError, match="CRC mismatch in the IDAT chunk"):
        decode_mask(bytes(data))


def test_valid_crc_but_broken_deflate_stream_is_refused(mask):
    data = forged_png_header(53, 37)
    body = b"IDAT" + b"not deflate data"
    chunk = len(body[4:]).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    start = data.index(b"IDAT") - 4
    end = data.index(b"IEND") - 4
    with pytest.raises(MaskFormatError, match="does not inflate"):
        decode_mask(data[:start] + chunk + data[end:])


def test_zero_sized_header_is_refused():
    with pytest.raises(MaskFormatError, match="empty image"):
        decode_mask(forged_png_header(0, 5))


def test_low_bit_depth_grayscale_is_refused_rather_than_rescaled():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), dtype=bool)).save(buffer, format="PNG")
    with pytest.raises(MaskFormatError, match="1-bit grayscale is not accepted"):
        decode_mask(buffer.getvalue())


def test_rgba_colours_ignore_alpha_and_report_unknown_colours(mask):
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    for index, colour in {
        0: (0, 64, 128),
        1: (64, 128, 0),
        2: (243, 152, 0),
        3: (255,) * 3,
    }.items():
        rgba[mask == index, :3] = colour
    rgba[..., 3] = 7
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    assert np.array_equal(decode_mask(buffer.getvalue()), mask)
    rgba[0, 0, :3] = (9, 9, 9)
    rgba[1, 1, :3] = (1, 2, 3)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    with pytest.raises(MaskFormatError, match=r"2 pixels .*\(1, 2, 3\), \(9, 9, 9\)"):
        decode_mask(buffer.getvalue())


def with_chunk(data: bytes, kind: bytes, body: bytes, copies: int = 1) -> bytes:
    chunk = len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk * copies + data[end:]


@pytest.mark.parametrize("mode", ["P", "L"])
def test_malformed_ancillary_chunk_is_a_clean_refusal(mask, mode):
    evil = with_chunk(png_bytes(mask, mode), b"iCCP", b"")
    try:
        decode_mask(evil)
    except MaskFormatError as error:
        assert "object at 0x" not in str(error)


def test_chunk_flood_is_refused_before_decoding(mask):
    with pytest.raises(MaskFormatError, match="more than 100,000 chunks"):
        decode_mask(with_chunk(png_bytes(mask), b"prVt", b"", copies=100_001))


def test_metadata_flood_is_refused(mask):
    with pytest.raises(MaskFormatError, match="more than 4 MB of metadata"):
        decode_mask(with_chunk(png_bytes(mask), b"tEXt", b"k\x00" + b"v" * (5 << 20)))


def test_invalid_bit_depth_is_refused():
    data = bytearray(forged_png_header(8, 8))
    data[24] = 7
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    with pytest.raises(MaskFormatError, match="bit depth 7 is invalid"):
        decode_mask(bytes(data))


def test_palette_image_without_its_palette_is_refused(mask):
    data = png_bytes(mask, "P")
    start = data.index(b"PLTE") - 4
    length = int.from_bytes(data[start : start + 4], "big")
    with pytest.raises(MaskFormatError, match="without its PLTE chunk"):
        decode_mask(data[:start] + data[start + 12 + length :])


OFFICIAL = {0: (0, 64, 128), 1: (64, 128, 0), 2: (243, 152, 0), 3: (255, 255, 255)}


def rgb_png(colours: np.ndarray, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(colours, "RGB").convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_fast_path_maps_every_official_colour_like_the_slow_path(mode):
    rng = np.random.default_rng(11)
    indices = rng.integers(0, 4, size=(61, 97), dtype=np.uint8)
    colours = np.array([OFFICIAL[i] for i in range(4)], dtype=np.uint8)[indices]
    with Image.open(io.BytesIO(rgb_png(colours, mode))) as image:
        image.load()
        fast = _indices_from_official_colours(image)
        slow = _indices_from_colours(image)
    assert fast is not None
    assert fast.dtype == np.uint8
    assert np.array_equal(fast, indices)
    assert np.array_equal(fast, slow)


@pytest.mark.parametrize("index", [0, 1, 2, 3])
@pytest.mark.parametrize("channel", [0, 1, 2])
@pytest.mark.parametrize("delta", [-1, 1, 128])
def test_colour_one_channel_off_an_official_colour_is_refused(index, channel, delta):
    colour = list(OFFICIAL[index])
    colour[channel] = (colour[channel] + delta) % 256
    colours = np.full((9, 13, 3), OFFICIAL[(index + 1) % 4], dtype=np.uint8)
    colours[4, 6] = colour
    data = rgb_png(colours)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert _indices_from_official_colours(image) is None
        with pytest.raises(MaskFormatError) as slow:
            _indices_from_colours(image)
    with pytest.raises(MaskFormatError) as decoded:
        decode_mask(data)
    assert str(decoded.value) == str(slow.value)
    assert f"1 pixels have colours outside the official palette: {tuple(colour)}" in str(
        decoded.value
    )


def test_colour_fast_path_agrees_with_the_slow_path_on_any_red_value():
    # Every red value paired with every official (green, blue): only the four official
    # colours may pass, whichever channel differs.
    reds = np.arange(256, dtype=np.uint8)
    for green, blue in [colour[1:] for colour in OFFICIAL.values()]:
        colours = np.zeros((16, 16, 3), dtype=np.uint8)
        colours[..., 0] = reds.reshape(16, 16)
        colours[..., 1], colours[..., 2] = green, blue
        accepted = {red for red, g, b in OFFICIAL.values() if (g, b) == (green, blue)}
        for red in range(256):
            single = np.zeros((1, 1, 3), dtype=np.uint8)
            single[0, 0] = (red, green, blue)
            with Image.open(io.BytesIO(rgb_png(single))) as image:
                image.load()
                fast = _indices_from_official_colours(image)
            assert (fast is not None) == (red in accepted)
        with Image.open(io.BytesIO(rgb_png(colours))) as image:
            image.load()
            assert _indices_from_official_colours(image) is None


def test_colour_refusal_counts_and_lists_every_unknown_colour_as_before(mask):
    colours = np.array([OFFICIAL[i] for i in range(4)], dtype=np.uint8)[mask]
    rng = np.random.default_rng(3)
    spots = rng.choice(mask.size, size=20, replace=False)
    flat = colours.reshape(-1, 3)
    flat[spots] = rng.integers(0, 256, size=(20, 3), dtype=np.uint8)
    flat[spots[:3]] = (0, 64, 129)
    data = rgb_png(colours)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        with pytest.raises(MaskFormatError) as slow:
            _indices_from_colours(image)
    with pytest.raises(MaskFormatError) as decoded:
        decode_mask(data)
    assert str(decoded.value) == str(slow.value)
    assert "and more" in str(decoded.value)
