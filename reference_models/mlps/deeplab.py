"""Stage 2: DeepLab v3+ on a bottleneck ResNet (ResNet-101 in the full preset), stride 16.

Backbone module names follow torchvision's ResNet (`conv1`, `bn1`, `layer1.0.conv1`,
`layer1.0.downsample.0`, ...), so an ImageNet `resnet101` state dict loads into `backbone`.
"""

import torch
import torch.nn.functional as F
from torch import nn

from reference_models.mlps.presets import Stage2Spec

EXPANSION = 4


def _conv_bn_relu(inputs: int, outputs: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = 0 if kernel == 1 else dilation
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided or dilated), 1x1 expand, with a projected shortcut."""

    def __init__(self, inputs: int, width: int, stride: int, dilation: int) -> None:
        super().__init__()
        outputs = width * EXPANSION
        self.conv1 = nn.Conv2d(inputs, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, outputs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(outputs)
        self.downsample: nn.Module | None = None
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut, inplace=True)


class ResNet(nn.Module):
    """ResNet with output stride 16: layer4 is dilated, with multi-grid rates (1, 2, 4)."""

    def __init__(self, spec: Stage2Spec) -> None:
        super().__init__()
        base = spec.base
        self.conv1 = nn.Conv2d(3, base, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        inputs = base
        layers = []
        plans = ((1, (1,)), (2, (1,)), (2, (1,)), (1, (2, 4, 8)))
        for index, (count, (stride, rates)) in enumerate(zip(spec.blocks, plans, strict=True)):
            width = base * 2**index
            blocks = []
            for block in range(count):
                rate = rates[block % len(rates)]
                blocks.append(Bottleneck(inputs, width, stride if block == 0 else 1, rate))
                inputs = width * EXPANSION
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.out_channels = inputs
        self.low_level_channels = base * EXPANSION

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (stride-16 features, stride-4 low-level features)."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        low = self.layer1(x)
        return self.layer4(self.layer3(self.layer2(low))), low


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling, projection."""

    def __init__(self, inputs: int, channels: int, rates: tuple[int, int, int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [_conv_bn_relu(inputs, channels, 1)]
            + [_conv_bn_relu(inputs, channels, 3, rate) for rate in rates]
        )
        self.pooling = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(inputs, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.project = nn.Sequential(_conv_bn_relu(channels * 5, channels, 1), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pooling(x).expand(-1, -1, *x.shape[-2:])
        joined = torch.cat([branch(x) for branch in self.branches] + [pooled], 1)
        projected: torch.Tensor = self.project(joined)
        return projected


class Decoder(nn.Module):
    """Upsampled ASPP output joined with projected low-level features, two 3x3 convs."""

    def __init__(self, spec: Stage2Spec, low_level: int, classes: int) -> None:
        super().__init__()
        self.reduce = _conv_bn_relu(low_level, spec.low_level_channels, 1)
        joined = spec.aspp_channels + spec.low_level_channels
        self.refine = nn.Sequential(
            _conv_bn_relu(joined, spec.decoder_channels, 3),
            nn.Dropout(0.5),
            _conv_bn_relu(spec.decoder_channels, spec.decoder_channels, 3),
            nn.Dropout(0.1),
        )
        self.classifier = nn.Conv2d(spec.decoder_channels, classes, 1)

    def forward(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        logits: torch.Tensor = self.classifier(self.refine(torch.cat([x, self.reduce(low)], 1)))
        return logits


class DeepLabV3Plus(nn.Module):
    """Segmentation logits (B, C, H, W) at the input size."""

    def __init__(self, spec: Stage2Spec, classes: int = 3) -> None:
        super().__init__()
        self.backbone = ResNet(spec)
        self.aspp = ASPP(self.backbone.out_channels, spec.aspp_channels, spec.aspp_rates)
        self.decoder = Decoder(spec, self.backbone.low_level_channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, low = self.backbone(x)
        logits = self.decoder(self.aspp(features), low)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
