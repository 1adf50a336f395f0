"""MLPS, the WSSS4LUAD organizers' weakly-supervised baseline, in plain PyTorch.

Multi-layer pseudo-supervision (Han et al., MedIA 2022, arXiv 2110.08048): a ResNet-38d
classifier with progressive dropout attention learns from patch-level labels (stage 1);
Grad-CAM on three of its layers gives three pseudo masks per patch; a DeepLab v3+ learns
from them (stage 2) and segments images of any size with sliding windows.

This package knows nothing of the web, the queue or the database: it reads folders and
checkpoints and writes index PNGs that the scorer accepts.
"""

CLASSES = ("tumor", "stroma", "normal")
BACKGROUND_INDEX = 3
