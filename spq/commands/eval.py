# SPDX-License-Identifier: MIT
"""`spq eval`: accuracy, synops and ops of a checkpoint's integer model on a test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spq.cli import JsonFlag, handle_errors
from spq.errors import SpqError


@handle_errors
def command(
    model: Annotated[Path, typer.Argument(help="checkpoint written by spq train / spq.save")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="data set to evaluate on")],
    as_json: JsonFlag = False,
    split: Annotated[str, typer.Option(help="train or test")] = "test",
    data_root: Annotated[Path | None, typer.Option(help="folder of an on-disk data set")] = None,
    batch_size: Annotated[int, typer.Option(help="samples per batch")] = 256,
    limit: Annotated[int | None, typer.Option(help="evaluate the first N samples only")] = None,
) -> None:
    """Evaluate the integer (eval-mode) model: accuracy, spike rates, synops, ops."""
    import spq
    from spq.data import dataset_info, open_dataset
    from spq.train import evaluate, memory_report, subset

    info = dataset_info(dataset)
    if batch_size < 1:
        raise SpqError(f"batch-size must be >= 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise SpqError(f"limit must be >= 1, got {limit}")
    if model.is_dir():
        raise SpqError(f"{model} is a directory, not a checkpoint (give the .pt file)")
    if not model.exists():
        raise SpqError(f"no such checkpoint: {model}")
    net = spq.load(model)
    if net.input_kind != info.input_kind or tuple(net.input_shape) != info.input_shape:
        raise SpqError(
            f"{model} takes {net.input_kind} input {tuple(net.input_shape)}, but {dataset} "
            f"gives {info.input_kind} input {info.input_shape}")
    if net.num_classes != info.num_classes:
        raise SpqError(f"{model} has {net.num_classes} classes, {dataset} has {info.num_classes}")
    ds = subset(open_dataset(dataset, split, net.time_steps, data_root), limit)
    result = evaluate(net, ds, batch_size=batch_size, progress=not as_json)
    result["memory"] = {k: v for k, v in memory_report(net).items() if k != "layers"}
    result.update({"model": str(model), "dataset": dataset, "split": split,
                   "time_steps": net.time_steps})
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console

    console = Console()
    console.print(f"accuracy (integer model): {100 * result['accuracy']:.2f}% "
                  f"on {result['samples']} {split} samples of {dataset}")
    console.print("spike rates: " + " ".join(f"{r:.3f}" for r in result["spike_rates"]))
    console.print(f"synops / inference: {result['synops']:,.0f}   "
                  f"ops / inference (zero inputs and membranes skipped): {result['ops']:,.0f}")
