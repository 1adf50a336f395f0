"""`wsss4luad baseline describe|train|predict`: the model's own commands (they need torch).

The site's CLI passes these sub-commands through to `python -m reference_models.mlps`, so
the web package never imports torch.
"""

import json
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from reference_models.mlps.checkpoint import Checkpoint, CheckpointError
from reference_models.mlps.data import TrainingDataError
from reference_models.mlps.deeplab import DeepLabV3Plus
from reference_models.mlps.inference import Segmenter, predict_folder
from reference_models.mlps.presets import PRESETS, get_preset
from reference_models.mlps.stage1 import Stage1Net
from reference_models.mlps.training import Progress as Step
from reference_models.mlps.training import TrainingOptions, train

cli = typer.Typer(
    name="wsss4luad baseline",
    help="The MLPS reference model: describe its presets, train it, predict with it.",
    no_args_is_help=True,
    add_completion=False,
)


def _count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def _device(name: str) -> str:
    if name not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter(f"{name!r} is not cpu, cuda or auto", param_hint="--device")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise typer.BadParameter("CUDA is not available on this machine", param_hint="--device")
    return name


Device = Annotated[str, typer.Option(help="cpu, cuda, or auto (CUDA when available).")]


@cli.command()
def describe(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """The presets: parameter counts of both stages, input and window sizes, epochs."""
    rows = {}
    for name, preset in PRESETS.items():
        stage1, stage2 = Stage1Net(preset.stage1), DeepLabV3Plus(preset.stage2)
        rows[name] = {
            "stage1_parameters": _count(stage1),
            "stage1_backbone_parameters": _count(stage1.backbone),
            "stage1_head_parameters": _count(stage1.fc8),
            "stage2_parameters": _count(stage2),
            "input_size": preset.input_size,
            "window": preset.window,
            "stride": preset.stride,
            "stage1_epochs": preset.training.stage1_epochs,
            "stage2_epochs": preset.training.stage2_epochs,
        }
    if as_json:
        typer.echo(json.dumps({**rows["full"], "presets": rows}, indent=2))
        return
    for name, row in rows.items():
        typer.echo(
            f"{name:5}  stage 1 {row['stage1_parameters'] / 1e6:8.2f} M "
            f"(backbone {row['stage1_backbone_parameters'] / 1e6:.2f} M + head "
            f"{row['stage1_head_parameters']:,})  stage 2 {row['stage2_parameters'] / 1e6:7.2f} M  "
            f"input {row['input_size']}  window {row['window']}/{row['stride']}"
        )


@cli.command("train")
def train_command(
    train_dir: Annotated[Path, typer.Argument(help="The official 1.training/ folder.")],
    out: Annotated[Path, typer.Option(help="Where to write the checkpoint (.pt).")],
    preset: Annotated[str, typer.Option(help="tiny or full.")] = "full",
    device: Device = "auto",
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs of each stage (default: the preset's).")
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="ImageNet ResNet-38d state dict for stage 1 (res38d.pth).")
    ] = None,
    init_stage2: Annotated[
        Path | None, typer.Option(help="ImageNet ResNet-101 state dict for stage 2.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Stage 1, pseudo masks, stage 2; shows a progress bar and logs each epoch's loss."""
    try:
        chosen = get_preset(preset)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--preset") from None
    options = TrainingOptions(
        device=_device(device),
        stage1_epochs=epochs,
        stage2_epochs=epochs,
        init=init,
        init_stage2=init_stage2,
        seed=seed,
    )
    started = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, TaskID] = {}
        losses: list[float] = []

        def report(step: Step) -> None:
            total = step.epochs * step.steps
            if step.stage not in tasks:
                tasks[step.stage] = bar.add_task(step.stage, total=total, loss="")
            if step.loss is not None:
                losses.append(step.loss)
            done = (step.epoch - 1) * step.steps + step.step
            shown = f"loss {step.loss:.4f}" if step.loss is not None else ""
            bar.update(tasks[step.stage], completed=done, loss=shown)
            if step.step == step.steps and losses:
                bar.console.log(
                    f"{step.stage} epoch {step.epoch}/{step.epochs}: mean loss "
                    f"{sum(losses) / len(losses):.4f}"
                )
                losses.clear()

        try:
            checkpoint = train(train_dir, chosen, options, report)
        except (TrainingDataError, CheckpointError) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
    checkpoint.save(out)
    for stage, loaded in checkpoint.info["initial_weights"].items():
        typer.echo(f"{stage} started from {loaded or 'random weights'}")
    typer.echo(
        f"wrote {out} ({chosen.name} preset, {checkpoint.info['training_patches']} patches, "
        f"{time.monotonic() - started:.0f} s)"
    )


@cli.command()
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint written by train.")],
    img_dir: Annotated[Path, typer.Argument(help="Folder of RGB PNG images.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the index PNG masks.")],
    background_masks: Annotated[
        Path | None, typer.Option(help="Folder of background masks; their pixels become 3.")
    ] = None,
    device: Device = "auto",
) -> None:
    """Segment every image of a folder into index PNGs the scorer accepts."""
    try:
        model = Checkpoint.load(checkpoint)
    except CheckpointError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    segmenter = Segmenter(model, _device(device))
    started = time.monotonic()
    try:
        names = predict_folder(segmenter, img_dir, out_dir, background_masks)
    except (ValueError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {len(names)} masks to {out_dir} in {time.monotonic() - started:.1f} s")


def main() -> None:
    """Entry point of `python -m reference_models.mlps`."""
    cli(prog_name="wsss4luad baseline")
