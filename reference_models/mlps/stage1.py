"""Stage 1: the ResNet-38d classifier with progressive dropout attention, and its Grad-CAMs."""

import torch
import torch.nn.functional as F
from torch import nn

from reference_models.mlps.presets import Stage1Spec
from reference_models.mlps.resnet38 import Features, ResNet38d

CAM_LAYERS = ("b4_5", "b5_2", "bn7")


def progressive_dropout_attention(
    features: torch.Tensor, classifier: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Return the one-channel attention map of PDA for features (B, K, H, W).

    Each class's CAM (ReLU of the 1x1 classifier) loses its pixels above gamma times its
    maximum, which pushes the network beyond the most discriminative region; the kept
    CAMs are averaged over the classes.
    """
    cams = F.relu(F.conv2d(features, classifier))
    peaks = cams.amax(dim=(2, 3), keepdim=True)
    kept = torch.where(cams > gamma * peaks, torch.zeros_like(cams), cams)
    return kept.sum(dim=1, keepdim=True) / cams.shape[1]


class Stage1Net(nn.Module):
    """ResNet-38d, global average pooling and a bias-free 1x1 classifier (fc8)."""

    def __init__(self, spec: Stage1Spec, classes: int = 3) -> None:
        super().__init__()
        self.backbone = ResNet38d(spec)
        self.dropout7 = nn.Dropout2d(0.5)
        self.fc8 = nn.Conv2d(spec.b7, classes, 1, bias=False)
        nn.init.xavier_uniform_(self.fc8.weight)

    def forward(self, x: torch.Tensor, gamma: float | None = None) -> torch.Tensor:
        """Class logits (B, C); with gamma, PDA reweights the features first."""
        return self.classify(self.backbone(x).bn7, gamma)

    def classify(self, features: torch.Tensor, gamma: float | None = None) -> torch.Tensor:
        """Class logits from bn7 features."""
        if gamma is not None:
            features = features * progressive_dropout_attention(features, self.fc8.weight, gamma)
        pooled = F.adaptive_avg_pool2d(self.dropout7(features), 1)
        logits: torch.Tensor = self.fc8(pooled).flatten(1)
        return logits

    def freeze_recipe_layers(self) -> None:
        """Freeze the stem and b2 (conv1a, b2, b2_1, b2_2), as the recipe does."""
        for name, parameter in self.backbone.named_parameters():
            if name.startswith(ResNet38d.frozen_prefixes):
                parameter.requires_grad_(False)


def freeze_batchnorm(module: nn.Module) -> None:
    """Keep every BatchNorm in eval mode with fixed affine parameters."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.eval()
            for parameter in layer.parameters():
                parameter.requires_grad_(False)


def grad_cams(net: Stage1Net, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Grad-CAM of every class on b4_5, b5_2 and bn7, upsampled to the input size.

    For each layer A and class c: weights are the spatial mean of d logit_c / d A, and the
    CAM is sum_k w_k A_k without ReLU, as MLPS does. Returns {layer: (B, C, H, W)}.
    """
    with torch.enable_grad():
        features: Features = net.backbone(images)
        layers = [getattr(features, name) for name in CAM_LAYERS]
        logits = net.classify(features.bn7)
        per_class: dict[str, list[torch.Tensor]] = {name: [] for name in CAM_LAYERS}
        for index in range(logits.shape[1]):
            gradients = torch.autograd.grad(
                logits[:, index].sum(), layers, retain_graph=index + 1 < logits.shape[1]
            )
            for name, layer, gradient in zip(CAM_LAYERS, layers, gradients, strict=True):
                weights = gradient.mean(dim=(2, 3), keepdim=True)
                per_class[name].append((weights * layer).sum(dim=1).detach())
    size = images.shape[-2:]
    return {
        name: F.interpolate(torch.stack(cams, 1), size=size, mode="bilinear", align_corners=False)
        for name, cams in per_class.items()
    }
