"""Submission archives: what is accepted, and every refusal rule with a generated archive."""

import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring import (
    GroundTruthFolder,
    Submission,
    SubmissionRejected,
    check_submission,
    score_path,
)
from tests.factories import (
    directory_only_zip,
    forged_png_header,
    png_bytes,
    write_zip,
    zip_bytes,
)

SIZES = {"00.png": (40, 30), "01.png": (25, 50)}


def masks_for(sizes=SIZES, mode="P"):
    return {
        name: png_bytes(np.zeros((h, w), dtype=np.uint8), mode) for name, (w, h) in sizes.items()
    }


def problems(tmp_path, entries, sizes=SIZES):
    return [str(p) for p in check_submission(write_zip(tmp_path / "s.zip", entries), sizes)]


def test_masks_at_the_root_are_accepted(tmp_path):
    assert problems(tmp_path, masks_for()) == []


def test_masks_in_one_top_level_folder_are_accepted(tmp_path):
    entries = {f"my-run/{name}": data for name, data in masks_for().items()}
    assert problems(tmp_path, {"my-run/": b"", **entries}) == []


def test_os_junk_is_ignored(tmp_path):
    junk = {
        "__MACOSX/._00.png": b"junk",
        ".DS_Store": b"junk",
        "preds/Thumbs.db": b"junk",
        "preds/.hidden.png": b"junk",
    }
    entries = {f"preds/{name}": data for name, data in masks_for().items()}
    assert problems(tmp_path, entries | junk) == []


def test_names_match_ignoring_letter_case(tmp_path):
    entries = {name.upper(): data for name, data in masks_for().items()}
    assert problems(tmp_path, entries) == []


def test_missing_and_unknown_names_are_each_reported(tmp_path):
    entries = masks_for()
    entries["02.png"] = entries.pop("01.png")
    found = problems(tmp_path, entries)
    assert "02.png: matches no image of this phase (expected 00.png, 01.png)" in found
    assert "01.png: is missing: every image of the phase needs one prediction" in found


def test_duplicates_by_case_are_refused(tmp_path):
    entries = masks_for() | {"00.PNG": masks_for()["00.png"]}
    assert any("duplicates" in p for p in problems(tmp_path, entries))


def test_duplicates_by_unicode_normalisation_are_refused(tmp_path):
    sizes = {"caf\u00e9.png": (4, 4)}
    data = png_bytes(np.zeros((4, 4), dtype=np.uint8))
    entries = {"caf\u00e9.png": data, "cafe\u0301.png": data}
    found = problems(tmp_path, entries, sizes)
    assert len(found) == 1
    assert "duplicates" in found[0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/abs/00.png", "absolute path"),
        ("C:/00.png", "absolute path"),
        ("../00.png", "escapes the archive"),
        ("a/../../00.png", "escapes the archive"),
        ("a\\00.png", "backslashes"),
    ],
)
def test_unsafe_paths_are_refused(tmp_path, name, reason):
    found = problems(tmp_path, masks_for() | {name: b"x"})
    assert any(p.startswith(name) and reason in p for p in found), found


def test_symlink_member_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in masks_for().items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("evil.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert check_submission(path, SIZES)[0].message.startswith("is a symbolic link")


def test_special_file_member_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        fifo = zipfile.ZipInfo("00.png")
        fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
        archive.writestr(fifo, b"")
    assert any("special file" in str(p) for p in check_submission(path, SIZES))


def test_nested_archive_is_refused(tmp_path):
    nested = zip_bytes(masks_for())
    found = problems(tmp_path, {"inner.zip": nested})
    assert "inner.zip: is a nested archive; put the PNG masks in the archive directly" in found


def test_zip_disguised_as_png_is_refused_by_content(tmp_path):
    entries = masks_for() | {"00.png": zip_bytes(masks_for())}
    assert "00.png: not a PNG file (it is a zip archive)" in problems(tmp_path, entries)


def test_non_png_file_is_refused(tmp_path):
    found = problems(tmp_path, masks_for() | {"notes.txt": b"hello"})
    assert "notes.txt: is not a .png file; only PNG masks are accepted" in found


def test_encrypted_member_is_refused(tmp_path):
    path = write_zip(tmp_path / "s.zip", masks_for())
    patch_central_directory(path, "00.png", 8, "<H", 0x1)
    assert [str(p) for p in check_submission(path, SIZES)] == [
        "00.png: is encrypted; encrypted archives are not accepted"
    ]


def test_unusual_compression_method_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        for name, data in masks_for().items():
            archive.writestr(name, data)
    assert "only stored and deflate" in check_submission(path, SIZES)[0].message


def test_masks_in_two_folders_are_refused(tmp_path):
    a, b = masks_for().items()
    found = problems(tmp_path, {f"x/{a[0]}": a[1], f"y/{b[0]}": b[1]})
    assert any("spread over x/, y/" in p for p in found)


def test_masks_two_folders_deep_are_refused(tmp_path):
    entries = {f"a/b/{name}": data for name, data in masks_for().items()}
    assert any("more than one folder deep" in p for p in problems(tmp_path, entries))


def test_member_flood_is_refused_before_anything_is_read(tmp_path):
    flood = {f"__MACOSX/{i}": b"" for i in range(200)}
    found = problems(tmp_path, masks_for() | flood)
    assert found == ["the archive holds 202 entries; at most 68 are accepted for 2 images"]


def patch_central_directory(path: Path, member: str, offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of `member`'s central directory record (zipfile would not write it)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    start = 0
    while True:
        start = data.index(b"PK\x01\x02", start)
        name_length = struct.unpack_from("<H", data, start + 28)[0]
        if bytes(data[start + 46 : start + 46 + name_length]) == name:
            struct.pack_into(fmt, data, start + offset, value)
            break
        start += 4
    path.write_bytes(bytes(data))


def declare_size(path: Path, member: str, size: int) -> None:
    """Make `member` declare `size` bytes uncompressed."""
    patch_central_directory(path, member, 24, "<I", size)


def test_member_declaring_four_gib_is_refused_without_inflating(tmp_path):
    path = write_zip(tmp_path / "s.zip", masks_for())
    declare_size(path, "00.png", 0xFFFF_FFF0)
    problem, total = check_submission(path, SIZES)
    assert problem.entry == "00.png"
    assert "declares 4,294,967,280 bytes uncompressed" in problem.message
    assert "in total" in total.message


def test_total_declared_size_is_capped(tmp_path):
    path = write_zip(tmp_path / "s.zip", masks_for())
    declare_size(path, "00.png", 1_000_000)
    declare_size(path, "01.png", 1_000_000)
    found = [str(p) for p in check_submission(path, {"00.png": (1, 1), "01.png": (1, 1)})]
    assert len(found) == 1
    assert found[0].startswith("the masks declare 2,000,000 bytes in total; at most")


def test_forged_compression_ratio_is_refused(tmp_path):
    sizes = {"00.png": (2000, 2000)}
    path = write_zip(tmp_path / "s.zip", {"00.png": b"\x89PNG\r\n\x1a\n" + bytes(5_000_000)})
    patch_central_directory(path, "00.png", 20, "<I", 100)
    found = [str(p) for p in check_submission(path, sizes)]
    assert len(found) == 1
    assert "above the 1100:1 limit" in found[0]


def test_honest_uncompressed_pngs_of_uniform_masks_are_accepted(tmp_path):
    sizes = {"00.png": (1500, 1500)}
    flat = png_bytes(np.zeros((1500, 1500), dtype=np.uint8), "L", compress_level=0)
    assert problems(tmp_path, {"00.png": flat}, sizes) == []


def test_dot_slash_prefixes_are_harmless(tmp_path):
    entries = {f"./{name}": data for name, data in masks_for().items()}
    assert problems(tmp_path, entries) == []


def test_dimension_bomb_is_refused_from_its_header(tmp_path):
    entries = masks_for() | {"00.png": forged_png_header(60000, 60000)}
    assert problems(tmp_path, entries) == [
        "00.png: size 60000x60000 in its PNG header, expected 40x30 (the size of image 00.png)"
    ]


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    entries = {"../x.png": b"", "notes.txt": b"", "00.png": forged_png_header(1, 1)}
    found = problems(tmp_path, entries)
    assert len(found) >= 3
    assert any("01.png: is missing" in p for p in found)


def test_truncated_archive_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    path.write_bytes(zip_bytes(masks_for())[:-30])
    [problem] = check_submission(path, SIZES)
    assert problem.entry == "s.zip"
    assert "not a readable zip archive" in problem.message


def test_empty_zip_reports_every_missing_image(tmp_path):
    assert problems(tmp_path, {}) == [
        "00.png: is missing: every image of the phase needs one prediction",
        "01.png: is missing: every image of the phase needs one prediction",
    ]


@pytest.fixture
def phase(tmp_path):
    from tests.factories import write_ground_truth

    masks = {name: np.zeros((h, w), dtype=np.uint8) for name, (w, h) in SIZES.items()}
    return GroundTruthFolder(write_ground_truth(tmp_path / "gt", masks))


def test_corrupt_member_data_is_refused_when_scored(tmp_path, phase):
    path = tmp_path / "s.zip"
    path.write_bytes(zip_bytes(masks_for(), compression=zipfile.ZIP_STORED))
    data = bytearray(path.read_bytes())
    data[data.index(b"IDAT") + 6] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SubmissionRejected) as rejected:
        score_path(phase, path)
    assert rejected.value.problems[0].entry == "00.png"
    assert "corrupt" in rejected.value.problems[0].message


def test_bad_masks_are_all_reported_at_scoring(tmp_path, phase):
    entries = {
        name: png_bytes(np.full((h, w), 9, dtype=np.uint8), "L") for name, (w, h) in SIZES.items()
    }
    with pytest.raises(SubmissionRejected) as rejected:
        score_path(phase, write_zip(tmp_path / "s.zip", entries))
    assert [p.entry for p in rejected.value.problems] == ["00.png", "01.png"]
    assert all("values found: 9" in p.message for p in rejected.value.problems)


def test_scoring_leaves_no_files_behind(tmp_path, phase, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = write_zip(tmp_path / "s.zip", masks_for())
    before = sorted(os.listdir(tmp_path))
    assert score_path(phase, path).miou == 1.0
    with pytest.raises(SubmissionRejected):
        score_path(phase, write_zip(tmp_path / "bad.zip", {"x.txt": b""}))
    assert os.listdir(scratch) == []
    assert sorted(os.listdir(tmp_path)) == sorted([*before, "bad.zip"])


def test_folder_submission_is_scored_and_symlinks_refused(tmp_path, phase):
    folder = tmp_path / "preds"
    folder.mkdir()
    for name, data in masks_for(mode="L").items():
        (folder / name).write_bytes(data)
    (folder / ".DS_Store").write_bytes(b"junk")
    assert score_path(phase, folder).miou == 1.0
    (folder / "01.png").unlink()
    (folder / "01.png").symlink_to(folder / "00.png")
    with pytest.raises(SubmissionRejected) as rejected:
        score_path(phase, folder)
    assert any("symbolic link" in p.message for p in rejected.value.problems)


def test_a_refused_entry_is_not_also_reported_missing_but_junk_does_not_count(tmp_path):
    entries = masks_for()
    entries["__MACOSX/01.png"] = entries.pop("01.png")
    entries["00.png"] = b"GIF89a"
    assert sorted(problems(tmp_path, entries)) == [
        "00.png: not a PNG file (starts with b'GIF89a')",
        "01.png: is missing: every image of the phase needs one prediction",
    ]


def test_member_lying_about_its_size_is_cut_at_the_declared_size_and_refused(tmp_path, phase):
    path = write_zip(tmp_path / "s.zip", masks_for())
    declare_size(path, "00.png", 40)
    with pytest.raises(SubmissionRejected) as rejected:
        score_path(phase, path)
    [problem] = rejected.value.problems
    assert problem.entry == "00.png"
    assert "corrupt" in problem.message or "truncated" in problem.message


member_names = st.text(
    alphabet=st.sampled_from(list("0123456789abAB._-/\\:é\u0301 ")), min_size=1, max_size=24
)


@settings(max_examples=200, deadline=None)
@given(st.lists(member_names, max_size=6, unique=True))
def test_any_member_names_give_problems_or_a_clean_mapping(names):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "s.zip"
        data = masks_for()["00.png"]
        with zipfile.ZipFile(path, "w") as archive:
            for name in names:
                archive.writestr(zipfile.ZipInfo(name), b"" if name.endswith("/") else data)
        try:
            with Submission(path, {"00.png": (40, 30)}) as submission:
                entry = submission.entry_name("00.png")
        except SubmissionRejected as rejected:
            assert rejected.problems
            assert all(isinstance(p.message, str) and p.message for p in rejected.problems)
        else:
            assert entry in names
            assert ".." not in entry.split("/")
            assert not entry.startswith("/")
            assert entry.rsplit("/", 1)[-1].casefold() == "00.png"


@pytest.mark.parametrize("name", ["\x00", "00.png\x00../../x"])
def test_names_with_nul_bytes_are_refused(tmp_path, name):
    path = write_zip(tmp_path / "s.zip", masks_for() | {"N" * len(name): b"x"})
    data = path.read_bytes().replace(b"N" * len(name), name.encode())
    path.write_bytes(data)
    found = [p.message for p in check_submission(path, SIZES)]
    assert any("NUL byte" in message for message in found), found


def test_corrupt_deflate_stream_is_a_refusal_not_a_crash(tmp_path):
    path = write_zip(tmp_path / "s.zip", masks_for())
    data = bytearray(path.read_bytes())
    name_length = struct.unpack_from("<H", data, 26)[0]
    extra_length = struct.unpack_from("<H", data, 28)[0]
    data[30 + name_length + extra_length] = 0xFF  # an invalid deflate block type
    path.write_bytes(bytes(data))
    found = check_submission(path, SIZES)
    assert [p.entry for p in found] == ["00.png"]
    assert "corrupt archive member" in found[0].message


def test_unsupported_zip_feature_is_refused(tmp_path):
    path = write_zip(tmp_path / "s.zip", masks_for())
    patch_central_directory(path, "00.png", 8, "<H", 0x20)
    [problem] = check_submission(path, SIZES)
    assert "zip feature this server does not read" in problem.message


def test_invalid_utf8_name_is_a_refusal_not_a_crash(tmp_path):
    path = write_zip(tmp_path / "s.zip", masks_for() | {"x\u00e9.png": b"x"})
    path.write_bytes(path.read_bytes().replace("x\u00e9".encode(), b"x\xff"))
    found = check_submission(path, SIZES)
    assert found
    assert found[0].entry == "s.zip"


@pytest.mark.parametrize("zip64", [False, True])
def test_an_archive_declaring_too_many_entries_is_refused_before_its_directory_is_read(
    tmp_path, monkeypatch, zip64
):
    path = tmp_path / "directory.zip"
    path.write_bytes(directory_only_zip(100_000, zip64=zip64))

    def never(*args, **kwargs):
        raise AssertionError("the directory was read")

    monkeypatch.setattr(zipfile, "ZipFile", never)
    [problem] = check_submission(path, SIZES)
    declared = 100_000 if zip64 else 0xFFFF
    assert problem.message == (
        f"the archive holds {declared} entries; at most 68 are accepted for 2 images"
    )


def test_a_directory_larger_than_its_entries_can_need_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "long-names.zip"
    path.write_bytes(directory_only_zip(3, name=b"x" * 40_000 + b".png"))
    monkeypatch.setattr(zipfile, "ZipFile", None)  # never reached
    [problem] = check_submission(path, SIZES)
    assert problem.message.startswith("the archive's directory takes 120")
    assert problem.message.endswith("3 entries need at most 72760")


def test_an_honest_archive_passes_the_directory_bound(tmp_path):
    path = write_zip(tmp_path / "ok.zip", masks_for())
    assert check_submission(path, SIZES) == []
