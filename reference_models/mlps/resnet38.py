"""ResNet-38d (wide ResNet, output stride 8), with the module names of the PSA/SEAM code.

Keeping those names lets an organizer load the usual converted ImageNet checkpoint
(`res38d.pth`, keys such as `conv1a.weight`, `b2.conv_branch2a.weight`, `b4_5.bn_branch2a.
running_mean`, `bn7.weight`) without renaming.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reference_models.mlps.presets import Stage1Spec


def _conv3x3(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False)


class ResBlock(nn.Module):
    """Pre-activation wide residual block: BN-ReLU-conv3x3-BN-ReLU-conv3x3."""

    def __init__(
        self,
        inputs: int,
        middle: int,
        outputs: int,
        stride: int = 1,
        first_dilation: int | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.same_shape = inputs == outputs and stride == 1
        first_dilation = dilation if first_dilation is None else first_dilation
        self.bn_branch2a = nn.BatchNorm2d(inputs)
        self.conv_branch2a = _conv3x3(inputs, middle, stride, first_dilation)
        self.bn_branch2b1 = nn.BatchNorm2d(middle)
        self.conv_branch2b1 = _conv3x3(middle, outputs, dilation=dilation)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(inputs, outputs, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn_branch2a(x))
        shortcut = x if self.same_shape else self.conv_branch1(activated)
        branch = self.conv_branch2a(activated)
        branch = self.conv_branch2b1(F.relu(self.bn_branch2b1(branch)))
        result: torch.Tensor = shortcut + branch
        return result


class ResBlockBottleneck(nn.Module):
    """Pre-activation bottleneck block with dropout, used for b6 and b7."""

    def __init__(self, inputs: int, outputs: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.same_shape = inputs == outputs
        self.bn_branch2a = nn.BatchNorm2d(inputs)
        self.conv_branch2a = nn.Conv2d(inputs, outputs // 4, 1, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(outputs // 4)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = _conv3x3(outputs // 4, outputs // 2, dilation=dilation)
        self.bn_branch2b2 = nn.BatchNorm2d(outputs // 2)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(outputs // 2, outputs, 1, bias=False)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(inputs, outputs, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn_branch2a(x))
        shortcut = x if self.same_shape else self.conv_branch1(activated)
        branch = self.conv_branch2a(activated)
        branch = self.dropout_2b1(F.relu(self.bn_branch2b1(branch)))
        branch = self.conv_branch2b1(branch)
        branch = self.dropout_2b2(F.relu(self.bn_branch2b2(branch)))
        result: torch.Tensor = shortcut + self.conv_branch2b2(branch)
        return result


class Features(NamedTuple):
    """The three layers MLPS draws pseudo masks from; `bn7` is after its ReLU."""

    b4_5: torch.Tensor
    b5_2: torch.Tensor
    bn7: torch.Tensor


def _stage_names(stage: int, count: int) -> list[str]:
    return [f"b{stage}"] + [f"b{stage}_{index}" for index in range(1, count)]


class ResNet38d(nn.Module):
    """The backbone; `b4_5` and `b5_2` name the last blocks of b4 and b5 at every size."""

    frozen_prefixes = ("conv1a", "b2")

    def __init__(self, spec: Stage1Spec) -> None:
        super().__init__()
        self.out_channels = spec.b7
        self.conv1a = nn.Conv2d(3, spec.stem, 3, padding=1, bias=False)
        self.stages: list[list[str]] = []
        inputs = spec.stem
        for stage, (width, count) in enumerate(zip(spec.widths, spec.blocks[:3], strict=True), 2):
            names = _stage_names(stage, count)
            for index, name in enumerate(names):
                block_in = inputs if index == 0 else width
                self.add_module(
                    name, ResBlock(block_in, width, width, stride=2 if index == 0 else 1)
                )
            self.stages.append(names)
            inputs = width
        middle, width = spec.b5
        names = _stage_names(5, spec.blocks[3])
        for index, name in enumerate(names):
            block_in = inputs if index == 0 else width
            first = 1 if index == 0 else 2
            self.add_module(
                name, ResBlock(block_in, middle, width, first_dilation=first, dilation=2)
            )
        self.stages.append(names)
        self.b6 = ResBlockBottleneck(width, spec.b6, dilation=4, dropout=0.3)
        self.b7 = ResBlockBottleneck(spec.b6, spec.b7, dilation=4, dropout=0.5)
        self.bn7 = nn.BatchNorm2d(spec.b7)

    def forward(self, x: torch.Tensor) -> Features:
        x = self.conv1a(x)
        kept: list[torch.Tensor] = []
        for names in self.stages:
            for name in names:
                x = getattr(self, name)(x)
            kept.append(x)
        x = self.b7(self.b6(x))
        return Features(b4_5=kept[2], b5_2=kept[3], bn7=F.relu(self.bn7(x)))
