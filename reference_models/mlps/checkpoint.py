"""Checkpoints: both stages' weights with the preset, classes, normalisation and versions.

Saved as plain tensors, strings and numbers, so `torch.load(..., weights_only=True)` reads
them and a checkpoint file can never run code.
"""

import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from reference_models.mlps import CLASSES
from reference_models.mlps.deeplab import DeepLabV3Plus
from reference_models.mlps.presets import Preset, get_preset
from reference_models.mlps.stage1 import Stage1Net

FORMAT = "wsss4luad-mlps/1"
NORMALISATION = {"scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


class CheckpointError(ValueError):
    """A file that is not a usable MLPS checkpoint; the message names it."""


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Checkpoint:
    """A trained (or freshly initialised) MLPS model pair."""

    preset: Preset
    stage1: Stage1Net
    stage2: DeepLabV3Plus
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def initialised(cls, preset: Preset, seed: int = 0) -> "Checkpoint":
        """Random weights: enough for speed benchmarks and as the start of training."""
        torch.manual_seed(seed)
        return cls(preset, Stage1Net(preset.stage1), DeepLabV3Plus(preset.stage2))

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically (a partial file never has the final name)."""
        payload = {
            "format": FORMAT,
            "preset": self.preset.name,
            "classes": list(CLASSES),
            "normalisation": NORMALISATION,
            "versions": {
                "wsss4luad": _version("wsss4luad"),
                "torch": str(torch.__version__),
                "python": platform.python_version(),
            },
            "info": self.info,
            "stage1": {k: v.detach().cpu() for k, v in self.stage1.state_dict().items()},
            "stage2": {k: v.detach().cpu() for k, v in self.stage2.state_dict().items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(payload, partial)
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> "Checkpoint":
        """Read a checkpoint written by save(), refusing anything else with a clear reason."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no such file") from None
        except Exception as error:  # torch raises many types for foreign or corrupt files
            raise CheckpointError(f"{path}: not a readable checkpoint ({error})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not an MLPS checkpoint of format {FORMAT}")
        if payload.get("classes") != list(CLASSES):
            raise CheckpointError(f"{path}: classes {payload.get('classes')} are not {CLASSES}")
        try:
            preset = get_preset(payload["preset"])
        except ValueError as error:
            raise CheckpointError(f"{path}: {error}") from None
        checkpoint = cls(preset, Stage1Net(preset.stage1), DeepLabV3Plus(preset.stage2))
        try:
            checkpoint.stage1.load_state_dict(payload["stage1"])
            checkpoint.stage2.load_state_dict(payload["stage2"])
            checkpoint.info = {**payload["info"], "versions": payload["versions"]}
        except KeyError as missing:
            raise CheckpointError(f"{path}: the checkpoint lacks its {missing} entry") from None
        except RuntimeError as error:
            raise CheckpointError(f"{path}: weights do not fit the {preset.name} preset") from error
        return checkpoint


def load_initial_weights(module: torch.nn.Module, path: Path) -> tuple[int, int]:
    """Load an ImageNet state dict into a backbone; returns (loaded, expected) tensor counts.

    Keys that do not exist or do not fit are skipped (a classifier head, say); a file
    that fits nothing is refused, because training would silently start from scratch.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable state dict ({error})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    own = module.state_dict()
    fitting = {
        key.removeprefix("module."): value
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
        and key.removeprefix("module.") in own
        and own[key.removeprefix("module.")].shape == value.shape
    }
    if len(fitting) < len(own) / 2:
        # A partial match would silently train mostly from scratch (with frozen, random BN).
        raise CheckpointError(
            f"{path}: only {len(fitting)} of the backbone's {len(own)} tensors match by name "
            "and shape; see docs/baseline.md for the expected keys"
        )
    module.load_state_dict(fitting, strict=False)
    return len(fitting), len(own)
