"""Model and training sizes: `full` is the published MLPS, `tiny` trains on a CPU in a minute."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stage1Spec:
    """ResNet-38d widths; blocks per stage b2, b3, b4, b5 (b6, b7 are single bottlenecks)."""

    stem: int = 64
    widths: tuple[int, int, int] = (128, 256, 512)
    b5: tuple[int, int] = (512, 1024)
    b6: int = 2048
    b7: int = 4096
    blocks: tuple[int, int, int, int] = (3, 3, 6, 3)


@dataclass(frozen=True)
class Stage2Spec:
    """DeepLab v3+ on a bottleneck ResNet: base width, blocks per layer, ASPP and decoder."""

    base: int = 64
    blocks: tuple[int, int, int, int] = (3, 4, 23, 3)
    aspp_channels: int = 256
    aspp_rates: tuple[int, int, int] = (6, 12, 18)
    low_level_channels: int = 48
    decoder_channels: int = 256


@dataclass(frozen=True)
class TrainingSpec:
    """Optimisation recipe of both stages."""

    stage1_epochs: int = 20
    stage2_epochs: int = 30
    batch_size: int = 20
    stage1_lr: float = 0.01
    stage2_lr: float = 0.01
    momentum: float = 0.9
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    pda_from_epoch: int = 4
    gamma_decay: float = 0.98
    gamma_floor: float = 0.65


@dataclass(frozen=True)
class Preset:
    """Everything that sizes the model, its inputs and its training."""

    name: str
    input_size: int
    stage1: Stage1Spec = field(default_factory=Stage1Spec)
    stage2: Stage2Spec = field(default_factory=Stage2Spec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    window: int = 224
    stride: int = 168
    batch_windows: int = 32


FULL = Preset(name="full", input_size=224)

TINY = Preset(
    name="tiny",
    input_size=64,
    stage1=Stage1Spec(stem=16, widths=(16, 24, 32), b5=(32, 48), b6=64, b7=96, blocks=(1, 1, 2, 1)),
    stage2=Stage2Spec(
        base=8,
        blocks=(1, 1, 1, 1),
        aspp_channels=32,
        aspp_rates=(2, 4, 6),
        low_level_channels=8,
        decoder_channels=32,
    ),
    training=TrainingSpec(
        stage1_epochs=30,
        stage2_epochs=20,
        batch_size=8,
        stage1_lr=0.002,
        stage2_lr=0.001,
        optimizer="adam",
        weight_decay=0.0,
        pda_from_epoch=10,
    ),
    window=64,
    stride=48,
    batch_windows=64,
)

PRESETS = {preset.name: preset for preset in (FULL, TINY)}


def get_preset(name: str) -> Preset:
    """Return a preset by name, naming the choices when it is unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
