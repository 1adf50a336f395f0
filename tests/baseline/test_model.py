"""The MLPS model package: sizes, PDA, Grad-CAM, pseudo masks, labels, windows, checkpoints."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_models.mlps.checkpoint import Checkpoint, CheckpointError, load_initial_weights
from reference_models.mlps.data import TrainingDataError, list_training_patches, parse_label
from reference_models.mlps.deeplab import DeepLabV3Plus
from reference_models.mlps.inference import Segmenter, window_starts
from reference_models.mlps.presets import FULL, TINY
from reference_models.mlps.pseudo_masks import pseudo_mask, white_background
from reference_models.mlps.stage1 import Stage1Net, grad_cams, progressive_dropout_attention

SHARED_TRAINING = Path(__file__).resolve().parents[3] / "shared/wsss4luad/training-examples"


def _count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_the_full_preset_has_the_published_sizes_and_shapes():
    stage1, stage2 = Stage1Net(FULL.stage1), DeepLabV3Plus(FULL.stage2)
    assert round(_count(stage1.backbone) / 1e6, 1) == 105.1
    assert _count(stage1.fc8) == 4096 * 3
    assert round(_count(stage2) / 1e6, 1) == 59.3
    assert round(_count(stage2.backbone) / 1e6, 1) == 42.5
    assert round(_count(stage2.aspp) / 1e6, 1) == 15.5
    stage1.eval()
    features = stage1.backbone(torch.zeros(1, 3, 224, 224))
    assert features.bn7.shape == (1, 4096, 28, 28), "output stride 8"
    assert features.b4_5.shape == (1, 512, 28, 28)
    assert features.b5_2.shape == (1, 1024, 28, 28)


def test_the_tiny_preset_keeps_the_architecture_at_a_small_size():
    stage1, stage2 = Stage1Net(TINY.stage1).eval(), DeepLabV3Plus(TINY.stage2).eval()
    images = torch.rand(2, 3, TINY.input_size, TINY.input_size)
    assert stage1(images).shape == (2, 3)
    assert stage2(images).shape == (2, 3, TINY.input_size, TINY.input_size)
    assert _count(stage1) + _count(stage2) < 1_000_000


def test_describe_json_reports_the_full_presets_parameter_counts():
    answer = subprocess.run(
        [sys.executable, "-m", "app.cli", "baseline", "describe", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    described = json.loads(answer.stdout)
    assert described["stage1_parameters"] == 105_070_912 + 12_288
    assert round(described["stage2_parameters"] / 1e6, 1) == 59.3
    assert described["presets"]["tiny"]["input_size"] == TINY.input_size


def test_pda_drops_each_class_peak_and_averages_what_is_left():
    features = torch.zeros(1, 2, 1, 3)
    features[0, 0] = torch.tensor([1.0, 2.0, 4.0])
    features[0, 1] = torch.tensor([3.0, 1.0, 0.0])
    classifier = torch.eye(2).view(2, 2, 1, 1)  # class c's CAM is feature channel c
    kept = progressive_dropout_attention(features, classifier, gamma=0.7)
    # class 0 keeps values <= 2.8 (1, 2; drops 4); class 1 keeps <= 2.1 (1; drops 3).
    assert kept.shape == (1, 1, 1, 3)
    assert kept.flatten().tolist() == pytest.approx([(1 + 0) / 2, (2 + 1) / 2, (0 + 0) / 2])
    untouched = progressive_dropout_attention(features, classifier, gamma=1.0)
    assert untouched.flatten().tolist() == pytest.approx([2.0, 1.5, 2.0])


def test_pda_never_passes_negative_cams():
    features = torch.tensor([[[[-1.0, 2.0]]]])
    attention = progressive_dropout_attention(features, torch.ones(1, 1, 1, 1), gamma=1.0)
    assert attention.flatten().tolist() == [0.0, 2.0]


def test_grad_cam_is_the_gradient_weighted_sum_of_a_layer():
    torch.manual_seed(0)
    net = Stage1Net(TINY.stage1).eval()
    images = torch.rand(2, 3, 32, 32)
    cams = grad_cams(net, images)
    assert set(cams) == {"b4_5", "b5_2", "bn7"}
    assert all(cam.shape == (2, 3, 32, 32) for cam in cams.values())
    # bn7 feeds GAP and a linear 1x1 classifier, so d logit_c / d A_k = w_ck / (H W) and the
    # Grad-CAM of class c equals its CAM, sum_k w_ck A_k, scaled by 1 / (H W).
    features = net.backbone(images).bn7
    weights = net.fc8.weight.view(3, -1)
    expected = torch.einsum("ck,bkhw->bchw", weights, features) / features[0, 0].numel()
    upsampled = torch.nn.functional.interpolate(expected, size=(32, 32), mode="bilinear")
    assert torch.allclose(cams["bn7"], upsampled.detach(), atol=1e-5)


def test_pseudo_masks_keep_to_the_labels_and_white_glass_wins():
    cams = torch.zeros(3, 4, 4)
    cams[0, :, :2] = 1.0  # tumor strongest on the left
    cams[2] = 2.0  # normal strongest everywhere, but the patch is not labelled normal
    cams[1, :, 2:] = 0.5
    background = torch.zeros(4, 4, dtype=torch.bool)
    background[0, 3] = True
    mask = pseudo_mask(cams, torch.tensor([1.0, 1.0, 0.0]), background)
    assert mask[:, :2].unique().tolist() == [0]
    assert mask[1:, 2:].unique().tolist() == [1]
    assert mask[0, 3] == 3
    assert 2 not in mask.unique().tolist()


def test_the_white_background_detector_drops_specks_smaller_than_fifty_pixels():
    pixels = np.full((20, 20, 3), 120, dtype=np.uint8)
    pixels[:10, :10] = 255  # a 100 px white area: glass
    pixels[15:18, 15:18] = 230  # a 9 px white speck: kept as tissue
    white = white_background(pixels)
    assert white[:10, :10].all()
    assert not white[15:18, 15:18].any()
    assert white.sum() == 100


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("436219-7159-48057-[1, 0, 0].png", (1, 0, 0)),
        ("436219-9328-56427-[1, 1, 0].png", (1, 1, 0)),
        ("449636-23526-9666-[0, 0, 1].png", (0, 0, 1)),
        ("1-2-3-[0,1,1].PNG", (0, 1, 1)),
    ],
)
def test_labels_are_parsed_from_the_bracketed_list(name, label):
    assert parse_label(name) == label


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("436219-7159-48057.png", "no label"),
        ("1-2-3-[1 0 0 1].png", "three 0/1 values"),
        ("1-2-3-[1, 2, 0].png", "three 0/1 values"),
        ("1-2-3-[0, 0, 0].png", "names no class"),
    ],
)
def test_bad_label_names_are_refused_naming_the_file(name, problem):
    with pytest.raises(TrainingDataError, match=problem) as refused:
        parse_label(name)
    assert name in str(refused.value)


@pytest.mark.real_data
@pytest.mark.skipif(not SHARED_TRAINING.is_dir(), reason="real training examples not present")
def test_the_real_training_examples_parse():
    patches = list_training_patches(SHARED_TRAINING)
    assert sorted(patch.label for patch in patches) == [(0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 0)]


def test_windows_cover_every_pixel_and_end_flush():
    assert window_starts(64, 64, 48) == [0]
    assert window_starts(50, 64, 48) == [0]
    assert window_starts(200, 64, 48) == [0, 48, 96, 136]


def test_stitching_one_window_equals_a_single_pass():
    checkpoint = Checkpoint.initialised(TINY, seed=3)
    segmenter = Segmenter(checkpoint)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (TINY.window, TINY.window, 3), dtype=np.uint8)
    image = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255)[None]
    with torch.inference_mode():
        direct = segmenter.window_scores(image)[0].argmax(0).numpy()
    assert np.array_equal(segmenter.predict(pixels), direct)


def test_predictions_of_a_large_image_are_stitched_and_background_is_three():
    segmenter = Segmenter(Checkpoint.initialised(TINY, seed=1))
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (150, 211, 3), dtype=np.uint8)
    background = np.zeros((150, 211), dtype=bool)
    background[:20] = True
    mask = segmenter.predict(pixels, background)
    assert mask.shape == (150, 211) and mask.dtype == np.uint8
    assert (mask[:20] == 3).all()
    assert set(np.unique(mask[20:])) <= {0, 1, 2}


def test_checkpoints_round_trip_with_their_metadata(tmp_path):
    checkpoint = Checkpoint.initialised(TINY, seed=2)
    checkpoint.info = {"training_patches": 7}
    checkpoint.save(tmp_path / "model.pt")
    loaded = Checkpoint.load(tmp_path / "model.pt")
    assert loaded.preset is TINY
    assert loaded.info["training_patches"] == 7
    assert loaded.info["versions"]["torch"] == torch.__version__
    for key, value in checkpoint.stage2.state_dict().items():
        assert torch.equal(loaded.stage2.state_dict()[key], value)
    assert not list(tmp_path.glob("*.partial"))


def test_foreign_files_are_refused_as_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        Checkpoint.load(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an MLPS checkpoint"):
        Checkpoint.load(tmp_path / "other.pt")


def test_imagenet_weights_load_by_name_and_a_mismatch_is_refused(tmp_path):
    source = Stage1Net(TINY.stage1).backbone
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["linear1000.weight"] = torch.zeros(1000, 96)  # a classifier head is skipped
    torch.save(state, tmp_path / "res38d.pth")
    target = Stage1Net(TINY.stage1).backbone
    loaded, expected = load_initial_weights(target, tmp_path / "res38d.pth")
    assert loaded == expected
    assert torch.equal(target.conv1a.weight, source.conv1a.weight)
    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="only 0 of"):
        load_initial_weights(target, tmp_path / "wrong.pth")


@pytest.mark.parametrize("size", [(150, 211), (40, 50), (64, 200)])
def test_stitched_scores_land_on_the_pixels_they_belong_to(monkeypatch, size):
    """With window scores equal to each pixel's own colour, stitching must give it back."""
    segmenter = Segmenter(Checkpoint.initialised(TINY, seed=0))
    monkeypatch.setattr(segmenter, "window_scores", lambda windows: windows * 1.0)
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    pixels[..., 0] += (np.arange(size[1]) % 7).astype(np.uint8)  # fewer exact ties
    expected = np.argmax(pixels.astype(np.float32), axis=-1)
    assert np.array_equal(segmenter.predict(pixels), expected)


def test_the_init_weights_must_cover_most_of_the_backbone(tmp_path):
    source = Stage1Net(TINY.stage1).backbone.state_dict()
    partial = dict(list(source.items())[:5])
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=f"only 5 of the backbone's {len(source)}"):
        load_initial_weights(Stage1Net(TINY.stage1).backbone, tmp_path / "partial.pth")
