"""The MLPS pipeline: stage 1, three pseudo masks per patch, stage 2."""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reference_models.mlps import BACKGROUND_INDEX
from reference_models.mlps.checkpoint import Checkpoint, load_initial_weights
from reference_models.mlps.data import list_training_patches, load_patch_tensors
from reference_models.mlps.presets import Preset, TrainingSpec
from reference_models.mlps.pseudo_masks import pseudo_mask, white_background
from reference_models.mlps.stage1 import CAM_LAYERS, freeze_batchnorm, grad_cams

LAYER_WEIGHTS = {"bn7": 0.6, "b5_2": 0.2, "b4_5": 0.2}


@dataclass(frozen=True)
class Progress:
    """One training step or phase change, for a progress bar and a loss log."""

    stage: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None = None


Report = Callable[[Progress], None]


@dataclass(frozen=True)
class TrainingOptions:
    """What an organizer may choose; None means the preset's value."""

    device: str = "cpu"
    stage1_epochs: int | None = None
    stage2_epochs: int | None = None
    init: Path | None = None
    init_stage2: Path | None = None
    seed: int = 0


def _describe_initial(path: Path, loaded: int, expected: int) -> str:
    return f"{path.name}: {loaded} of {expected} tensors"


def _batches(count: int, size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    usable = count - count % size if count >= size else count  # drop_last, as the recipe
    for start in range(0, usable, size):
        yield order[start : start + size]


def _optimizer(
    recipe: TrainingSpec, groups: list[list[nn.Parameter]], lrs: list[float]
) -> torch.optim.Optimizer:
    """SGD as the recipe; Adam for the tiny preset, whose few steps SGD cannot use well."""
    params = [{"params": group, "lr": lr} for group, lr in zip(groups, lrs, strict=True)]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def _poly(optimizer: torch.optim.Optimizer, base: list[float], step: int, total: int) -> None:
    factor = (1 - step / max(total, 1)) ** 0.9
    for group, lr in zip(optimizer.param_groups, base, strict=True):
        group["lr"] = lr * factor


def _flips(images: torch.Tensor, generator: torch.Generator, vertical: bool) -> torch.Tensor:
    if torch.rand((), generator=generator) < 0.5:
        images = images.flip(-1)
    if vertical and torch.rand((), generator=generator) < 0.5:
        images = images.flip(-2)
    return images


def _blur(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with radius U(0, 1), half of the time, as stage 2's augmentation."""
    sigma = float(torch.rand((), generator=generator))
    if torch.rand((), generator=generator) >= 0.5 or sigma < 0.1:
        return images
    offsets = torch.arange(-2, 3, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).view(1, 1, 1, 5).repeat(3, 1, 1, 1)
    padded = F.pad(images, (2, 2, 0, 0), mode="replicate")
    images = F.conv2d(padded, kernel, groups=3)
    padded = F.pad(images, (0, 0, 2, 2), mode="replicate")
    return F.conv2d(padded, kernel.transpose(2, 3), groups=3)


def train_stage1(
    checkpoint: Checkpoint,
    images: torch.Tensor,
    labels: torch.Tensor,
    options: TrainingOptions,
    report: Report,
) -> str:
    """Multi-label classification with PDA; the stem and BN stay frozen on ImageNet weights.

    Returns what was loaded as initial weights ("" without any).
    """
    preset, net, device = checkpoint.preset, checkpoint.stage1, torch.device(options.device)
    recipe = preset.training
    epochs = options.stage1_epochs or recipe.stage1_epochs
    pretrained = options.init is not None
    initial = ""
    if options.init is not None:
        initial = _describe_initial(options.init, *load_initial_weights(net.backbone, options.init))
    net.to(device).train()
    if pretrained:
        net.freeze_recipe_layers()
        freeze_batchnorm(net)
    backbone = [p for p in net.backbone.parameters() if p.requires_grad]
    lrs = [recipe.stage1_lr, recipe.stage1_lr * 10]
    optimizer = _optimizer(recipe, [backbone, list(net.fc8.parameters())], lrs)
    generator = torch.Generator().manual_seed(options.seed)
    steps = max(1, len(images) // recipe.batch_size)  # drop_last, but never an empty epoch
    total, step, gamma = epochs * steps, 0, 1.0
    for epoch in range(1, epochs + 1):
        if pretrained:
            freeze_batchnorm(net)
        use_pda = epoch >= recipe.pda_from_epoch
        for index, batch in enumerate(_batches(len(images), recipe.batch_size, generator), 1):
            _poly(optimizer, lrs, step, total)
            inputs = _flips(images[batch].to(device).float().div_(255), generator, vertical=True)
            logits = net(inputs, gamma if use_pda else None)
            loss = F.multilabel_soft_margin_loss(logits, labels[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            step += 1
            report(Progress("stage 1", epoch, epochs, index, steps, loss.item()))
        if gamma > recipe.gamma_floor:  # the recipe decays gamma every epoch, PDA on or not
            gamma *= recipe.gamma_decay
    return initial


def make_pseudo_masks(
    checkpoint: Checkpoint,
    images: torch.Tensor,
    labels: torch.Tensor,
    options: TrainingOptions,
    report: Report,
) -> dict[str, torch.Tensor]:
    """Three pseudo masks (N, S, S) uint8 per layer: Grad-CAM, labels, white background."""
    net, device = checkpoint.stage1, torch.device(options.device)
    net.to(device).eval()
    masks = {
        name: torch.empty(images.shape[0], *images.shape[-2:], dtype=torch.uint8)
        for name in CAM_LAYERS
    }
    size = checkpoint.preset.training.batch_size
    steps = math.ceil(len(images) / size)
    for index, start in enumerate(range(0, len(images), size), 1):
        chunk = images[start : start + size]
        cams = grad_cams(net, chunk.to(device).float().div_(255))
        for offset in range(len(chunk)):
            pixels = chunk[offset].permute(1, 2, 0).numpy()
            background = torch.from_numpy(white_background(pixels)).to(device)
            label = labels[start + offset].to(device)
            for name in CAM_LAYERS:
                masks[name][start + offset] = pseudo_mask(
                    cams[name][offset], label, background
                ).cpu()
        report(Progress("pseudo masks", 1, 1, index, steps))
    return masks


def _segmentation_loss(logits: torch.Tensor, masks: dict[str, torch.Tensor]) -> torch.Tensor:
    """0.6/0.2/0.2 cross-entropy, each divided by the batch size as the recipe's loss is."""
    total = torch.zeros((), device=logits.device)
    for name, weight in LAYER_WEIGHTS.items():
        loss = F.cross_entropy(logits, masks[name].long(), ignore_index=BACKGROUND_INDEX)
        total = total + weight * torch.nan_to_num(loss) / logits.shape[0]
    return total


def train_stage2(
    checkpoint: Checkpoint,
    images: torch.Tensor,
    masks: dict[str, torch.Tensor],
    options: TrainingOptions,
    report: Report,
) -> str:
    """DeepLab v3+ on the three pseudo masks, 0.6/0.2/0.2, background pixels ignored.

    Returns what was loaded as initial weights ("" without any).
    """
    preset, net, device = checkpoint.preset, checkpoint.stage2, torch.device(options.device)
    recipe = preset.training
    epochs = options.stage2_epochs or recipe.stage2_epochs
    initial = ""
    if options.init_stage2 is not None:
        initial = _describe_initial(
            options.init_stage2, *load_initial_weights(net.backbone, options.init_stage2)
        )
    net.to(device).train()
    head: list[nn.Parameter] = [*net.aspp.parameters(), *net.decoder.parameters()]
    lrs = [recipe.stage2_lr, recipe.stage2_lr * 10]
    optimizer = _optimizer(recipe, [list(net.backbone.parameters()), head], lrs)
    generator = torch.Generator().manual_seed(options.seed + 1)
    steps = max(1, len(images) // recipe.batch_size)  # drop_last, but never an empty epoch
    total, step = epochs * steps, 0
    for epoch in range(1, epochs + 1):
        for index, batch in enumerate(_batches(len(images), recipe.batch_size, generator), 1):
            _poly(optimizer, lrs, step, total)
            inputs = images[batch].to(device).float().div_(255)
            targets = {name: mask[batch].to(device) for name, mask in masks.items()}
            if torch.rand((), generator=generator) < 0.5:
                inputs = inputs.flip(-1)
                targets = {name: mask.flip(-1) for name, mask in targets.items()}
            loss = _segmentation_loss(net(_blur(inputs, generator)), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            step += 1
            report(Progress("stage 2", epoch, epochs, index, steps, loss.item()))
    return initial


def train(train_dir: Path, preset: Preset, options: TrainingOptions, report: Report) -> Checkpoint:
    """Run the whole MLPS pipeline on an official training folder."""
    patches = list_training_patches(train_dir)
    images, labels = load_patch_tensors(patches, preset.input_size)
    checkpoint = Checkpoint.initialised(preset, options.seed)
    initial_stage1 = train_stage1(checkpoint, images, labels, options, report)
    masks = make_pseudo_masks(checkpoint, images, labels, options, report)
    initial_stage2 = train_stage2(checkpoint, images, masks, options, report)
    checkpoint.stage1.cpu().eval()
    checkpoint.stage2.cpu().eval()
    shares = {
        name: np.bincount(mask.numpy().ravel(), minlength=4).tolist()
        for name, mask in masks.items()
    }
    checkpoint.info = {
        "training_patches": len(patches),
        "stage1_epochs": options.stage1_epochs or preset.training.stage1_epochs,
        "stage2_epochs": options.stage2_epochs or preset.training.stage2_epochs,
        "initial_weights": {"stage1": initial_stage1, "stage2": initial_stage2},
        "pseudo_mask_pixels": shares,
        "seed": options.seed,
    }
    return checkpoint
