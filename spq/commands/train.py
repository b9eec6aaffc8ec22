# SPDX-License-Identifier: MIT
"""`spq train`: quantization-aware training (TET loss, Adam), optional membrane-prior
pruning and fine-tuning, evaluation of the integer model, checkpoint + JSON report.

Under torchrun (``torchrun --nproc-per-node N -m spq train ...``) the N processes train one
model with DistributedDataParallel; rank 0 alone writes the checkpoint and the report
(docs/training.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from spq.cli import check_out_file, handle_errors
from spq.errors import SpqError


def _check_out(out: Path) -> Path:
    if out.suffix == ".json":
        raise SpqError(f"{out}: the model path must not end in .json (the report goes there)")
    check_out_file(out)
    return out.with_suffix(".json")


def _print_summary(report: dict[str, Any], out: Path, report_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    mem = report["memory"]
    table = Table(title=f"spq train: {report['settings']['dataset']}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("accuracy (integer model)", f"{100 * report['accuracy']:.2f}%")
    table.add_row("accuracy (float fake-quant)", f"{100 * report['float_accuracy']:.2f}%")
    table.add_row("train accuracy", f"{100 * report['train_accuracy']:.2f}%")
    table.add_row("spike rates", " ".join(f"{r:.3f}" for r in report["spike_rates"]))
    table.add_row("synops / inference", f"{report['synops']:,.0f}")
    table.add_row("ops / inference (zero inputs and membranes skipped)",
                  f"{report['ops']:,.0f}")
    for key, label in (("weights_bits", "weights"), ("membrane_bits", "membrane")):
        table.add_row(label, f"{mem[key]:,} bits ({mem[key] / 8192:.2f} KiB)")
    if report.get("pruning"):
        kept = ", ".join(f"{p['layer']} {p['kept']}/{p['channels']}"
                         for p in report["pruning"]["layers"])
        table.add_row("channels kept", kept)
    table.add_row("time", f"{report['time_s']['total']:.1f} s")
    table.add_row("model", str(out))
    table.add_row("report", str(report_path))
    Console().print(table)


@handle_errors
def command(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="digits, event-digits, "
                                         "nmnist, dvs-gesture, cifar10-dvs, cifar10")],
    out: Annotated[Path, typer.Option("-o", "--out", help="checkpoint to write (model.pt); "
                                      "the report goes to the same name with .json")],
    arch: Annotated[str | None, typer.Option(help="architecture (spq/archs.py); default: the "
                                             "data set's")] = None,
    epochs: Annotated[int, typer.Option(help="training epochs")] = 10,
    time_steps: Annotated[int | None, typer.Option(
        "--time-steps", "-T", help="time steps (default: the data set's)")] = None,
    weight_bits: Annotated[int | None, typer.Option(
        help="weight bits: 2, 4 or 8 (default 4; with --init: the model's)")] = None,
    levels: Annotated[int | None, typer.Option(
        help="membrane levels, 3 = ternary (default 3; with --init: the model's)")] = None,
    init: Annotated[Path | None, typer.Option(
        help="start from this checkpoint (e.g. from spq import) instead of a fresh "
             "architecture: quantization-aware fine-tuning")] = None,
    beta: Annotated[float, typer.Option(help="membrane leak")] = 0.5,
    prune: Annotated[float | None, typer.Option(
        help="prune channels by their membrane score: keep this share of the score mass "
             "(0.85 in the paper), or remove this fraction with --prune-by fraction")] = None,
    prune_by: Annotated[str, typer.Option(help="mass or fraction")] = "mass",
    prune_score: Annotated[str, typer.Option(
        help="channel score: max-relu (max over positions of ReLU(v/theta)) or mean-abs "
             "(mean |v/theta|)")] = "max-relu",
    prune_steps: Annotated[int, typer.Option(
        help="prune in this many steps, fine-tuning after each")] = 1,
    finetune_epochs: Annotated[int | None, typer.Option(
        help="fine-tuning epochs after each pruning step (default: epochs // 2, at least "
             "1)")] = None,
    finetune_lr: Annotated[float | None, typer.Option(
        help="learning rate of the fine-tuning (default: lr / 2)")] = None,
    distill: Annotated[float, typer.Option(
        help="fine-tuning: weight of distillation from the network before pruning "
             "(0: none)")] = 0.0,
    tet_lambda: Annotated[float, typer.Option(
        help="weight of the TET loss's MSE term")] = 0.05,
    spike_reg: Annotated[float, typer.Option(
        help="weight of the mean spike rate in the loss (0: none)")] = 0.0,
    spike_surrogate: Annotated[str, typer.Option(
        help="spike surrogate gradient: triangle (+-0.5, peak 2) or triangle-wide (+-1, "
             "peak 1)")] = "triangle",
    seed: Annotated[int, typer.Option(help="seed of the initialization and shuffling")] = 0,
    batch_size: Annotated[int, typer.Option(help="mini-batch size")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate (cosine decay)")] = 1e-2,
    data_root: Annotated[Path | None, typer.Option(
        help="folder of an on-disk data set (tonic / torchvision layouts)")] = None,
    limit: Annotated[int | None, typer.Option(help="train on the first N samples only")] = None,
    workers: Annotated[int, typer.Option(
        help="DataLoader worker processes reading an on-disk data set")] = 0,
    threads: Annotated[int, typer.Option(
        help="torch CPU threads (the tensors are small; more threads slow down badly when "
             "the machine is busy)")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
) -> None:
    """Train a SpQuant-SNN with quantization-aware training and save it with its report."""
    import spq
    from spq.files import write_atomic
    from spq.train import TrainConfig, process_group, retarget, train

    start_net = None
    if init is not None:
        from spq.data import dataset_info
        from spq.export.loading import load_model

        if arch is not None:
            raise SpqError("--init trains the checkpoint's architecture; drop --arch")
        start_net = load_model(init)
        info = dataset_info(dataset)
        if (start_net.input_kind, tuple(start_net.input_shape)) != (info.input_kind,
                                                                    info.input_shape):
            raise SpqError(f"{init} takes {start_net.input_kind} input "
                           f"{tuple(start_net.input_shape)}, {dataset} gives "
                           f"{info.input_kind} input {info.input_shape}")
        if start_net.num_classes != info.num_classes:
            raise SpqError(f"{init} has {start_net.num_classes} classes, {dataset} has "
                           f"{info.num_classes}")
        retarget(start_net, weight_bits, levels)
        time_steps = time_steps or start_net.time_steps
        weight_bits = weight_bits or max(m.weight_bits for m in start_net.synapses)
        levels = levels or max(m.levels for m in start_net.neurons) if start_net.neurons \
            else (levels or 3)
    weight_bits = 4 if weight_bits is None else weight_bits
    levels = 3 if levels is None else levels
    if levels == 0 or weight_bits == 32:
        raise SpqError("the full-precision baseline (--weight-bits 32, --levels 0) has no "
                       "integer form and cannot be saved; bench/results.py trains it")
    cfg = TrainConfig(
        dataset=dataset, arch=arch, epochs=epochs, time_steps=time_steps,
        weight_bits=weight_bits, levels=levels, beta=beta, prune=prune, prune_by=prune_by,
        prune_score=prune_score, prune_steps=prune_steps, finetune_epochs=finetune_epochs,
        finetune_lr=finetune_lr, distill=distill, tet_lambda=tet_lambda, spike_reg=spike_reg,
        spike_surrogate=spike_surrogate, seed=seed, batch_size=batch_size, lr=lr,
        data_root=str(data_root) if data_root is not None else None, limit=limit,
        workers=workers, threads=threads,
    )
    cfg.check()
    if arch is not None:
        from spq.archs import ARCHS

        if arch not in ARCHS:
            raise SpqError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHS)})")
    report_path = _check_out(out)
    with process_group() as dist:
        net, report = train(cfg, progress=not quiet and dist.main, init=start_net)
    if not dist.main:
        return  # rank 0 writes the checkpoint and the report
    report["model_file"] = out.name
    if init is not None:
        report["settings"]["init"] = str(init)
        report["settings"]["arch"] = "from --init"
    spq.save(net, out)
    try:
        write_atomic(report_path, json.dumps(report, indent=2) + "\n")
    except OSError:
        out.unlink(missing_ok=True)  # no checkpoint without its report
        raise
    _print_summary(report, out, report_path)
