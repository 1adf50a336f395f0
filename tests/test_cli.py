"""The `wsss4luad` command line, through Typer's runner and as a real process."""

import json
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from app.cli import EXIT_BAD_GROUND_TRUTH, EXIT_REJECTED, cli
from tests.factories import png_bytes, write_zip

runner = CliRunner()


def predictions(masks, damage=False):
    out = {}
    for name, mask in masks.items():
        prediction = np.where(mask == 3, 0, mask).astype(np.uint8)
        if damage:
            prediction[: mask.shape[0] // 2] = 1
        out[name] = png_bytes(prediction, "L")
    return out


def test_score_json_on_a_zip(small_phase, small_masks, tmp_path):
    archive = write_zip(tmp_path / "s.zip", predictions(small_masks, damage=True))
    result = runner.invoke(cli, ["score", str(small_phase), str(archive), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload["iou"]) == {"tumor", "stroma", "normal"}
    assert 0 < payload["miou"] < 1
    assert payload["miou"] == sum(payload["iou"].values()) / 3
    assert [image["name"] for image in payload["images"]] == sorted(small_masks)


def test_score_table_on_a_folder_and_a_prepared_phase(small_phase, small_masks, tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    for name, data in predictions(small_masks).items():
        (folder / name).write_bytes(data)
    prepared = runner.invoke(cli, ["prepare-gt", str(small_phase), str(tmp_path / "prepared")])
    assert prepared.exit_code == 0, prepared.output
    assert "Prepared 5 images" in prepared.stdout
    for ground_truth in (small_phase, tmp_path / "prepared"):
        result = runner.invoke(
            cli, ["score", str(ground_truth), str(folder)], env={"COLUMNS": "160"}
        )
        assert result.exit_code == 0, result.output
        assert "mIoU" in result.stdout
        assert "1.0000" in result.stdout
        assert "Confusion matrix" in result.stdout


def test_refused_submission_lists_problems_on_stderr(small_phase, small_masks, tmp_path):
    entries = predictions(small_masks)
    entries.pop("01.png")
    entries["../evil.png"] = b"x"
    archive = write_zip(tmp_path / "bad.zip", entries)
    result = runner.invoke(cli, ["score", str(small_phase), str(archive), "--json"])
    assert result.exit_code == EXIT_REJECTED
    assert result.stdout == ""
    assert "01.png: is missing" in result.stderr
    assert "../evil.png: escapes the archive" in result.stderr


def test_unusable_ground_truth_exits_with_its_own_code(tmp_path):
    archive = write_zip(tmp_path / "s.zip", {})
    result = runner.invoke(cli, ["score", str(tmp_path), str(archive)])
    assert result.exit_code == EXIT_BAD_GROUND_TRUTH
    assert "folder not found" in result.stderr


def test_installed_command_refuses_without_a_traceback(small_phase, tmp_path):
    bad = tmp_path / "not-a-zip.zip"
    bad.write_bytes(b"hello")
    process = subprocess.run(
        [sys.executable, "-m", "app.cli", "score", str(small_phase), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == EXIT_REJECTED
    assert "not a readable zip archive" in process.stderr
    assert "Traceback" not in process.stderr


def test_make_demo_data_writes_the_official_layout(tmp_path):
    result = runner.invoke(cli, ["make-demo-data", str(tmp_path / "demo"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Wrote 48 training patches" in result.stdout
    for split in ("2.validation", "3.testing"):
        for folder in ("img", "mask", "background-mask"):
            assert sorted(p.name for p in (tmp_path / "demo" / split / folder).iterdir())
    validation = tmp_path / "demo" / "2.validation"
    perfect = runner.invoke(cli, ["score", str(validation), str(validation / "mask"), "--json"])
    assert json.loads(perfect.stdout)["miou"] == 1.0


def test_unknown_scale_is_a_usage_error(tmp_path):
    result = runner.invoke(cli, ["make-demo-data", str(tmp_path), "--scale", "huge"])
    assert result.exit_code == 2
