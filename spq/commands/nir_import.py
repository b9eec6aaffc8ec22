# SPDX-License-Identifier: MIT
"""`spq import`: a NIR graph (snnTorch, Norse, Sinabs, SpikingJelly, ...) -> an spq checkpoint,
by post-training quantization calibrated on inputs; prints how well the integer model agrees
with the float graph (docs/interop.md)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spq.cli import JsonFlag, check_out_file, handle_errors
from spq.errors import SpqError

DEFAULT_LIMIT = 256


def calibration_inputs(in_shape: tuple[int, ...], time_steps: int | None,
                       calibrate: Path | None, dataset: str | None, data_root: Path | None,
                       limit: int) -> tuple[np.ndarray, str]:
    """The calibration batch and where it came from."""
    if calibrate is not None and dataset is not None:
        raise SpqError("give --calibrate or --dataset, not both")
    if calibrate is not None:
        from spq.export.directory import as_array, read_npy

        return as_array(read_npy(calibrate))[:limit], str(calibrate)
    if dataset is not None:
        from spq.data import dataset_info, load_dataset

        info = dataset_info(dataset)
        if math.prod(info.input_shape) != math.prod(in_shape):
            raise SpqError(f"{dataset} gives inputs {info.input_shape}, the graph takes "
                           f"{in_shape}")
        T = time_steps or info.default_time_steps
        x, _ = load_dataset(dataset, "train", time_steps=T, root=data_root)
        return x[:limit].numpy(), f"{dataset} (train split)"
    from spq.interop.nir import random_inputs

    if time_steps is None:
        raise SpqError("without --calibrate or --dataset, give --time-steps (spq then "
                       "calibrates on random events)")
    print("warning: no calibration data: random 0/1 events of the graph's shape (density "
          "0.2); pass --calibrate INPUTS.npy or --dataset NAME for a faithful quantization",
          file=sys.stderr)
    return random_inputs(in_shape, time_steps, n=min(limit, 64)), "random events"


@handle_errors
def command(
    model: Annotated[Path, typer.Argument(help="NIR graph (.nir, HDF5)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="spq checkpoint to write (model.pt)")],
    time_steps: Annotated[int | None, typer.Option(
        "--time-steps", "-T", help="time steps (default: the calibration events' T)")] = None,
    weight_bits: Annotated[int, typer.Option(help="weight bits: 8, 4 or 2")] = 8,
    levels: Annotated[int, typer.Option(help="membrane levels (256: an 8-bit membrane)")] = 256,
    dt: Annotated[float | None, typer.Option(
        help="seconds per step for the graph's time constants (default 1e-4: snnTorch, "
             "SpikingJelly, the NIR paper; Norse 1.1.0 graphs: 1e-6; Sinabs: 1)")] = None,
    calibrate: Annotated[Path | None, typer.Option(
        help=".npy of inputs: (N, T, *shape) 0/1 events or (N, *shape) images")] = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", "-d", help="calibrate on this data set's training split")] = None,
    data_root: Annotated[Path | None, typer.Option(help="folder of an on-disk data set")] = None,
    limit: Annotated[int, typer.Option(help="calibration inputs to use")] = DEFAULT_LIMIT,
    as_json: JsonFlag = False,
) -> None:
    """Import a NIR graph as an spq checkpoint (every spq command takes it)."""
    import spq
    from spq.interop.graph import DEFAULT_DT, parse, read
    from spq.interop.nir import agreement, convert, exact_model

    check_out_file(out)
    if weight_bits not in (2, 4, 8):
        raise SpqError(f"weight bits must be 2, 4 or 8, not {weight_bits}")
    if not 2 <= levels <= 256:
        raise SpqError(f"levels must be in 2..256, got {levels}")
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise SpqError(f"dt must be > 0, got {dt}")
    if limit < 1:
        raise SpqError(f"limit must be >= 1, got {limit}")
    if time_steps is not None and not 1 <= time_steps <= 65535:
        raise SpqError(f"time-steps must be in 1..65535, got {time_steps}")
    step = DEFAULT_DT if dt is None else dt
    graph = read(model)
    in_shape, _ = parse(graph)
    res = exact_model(graph)
    if res is None:
        x, source = calibration_inputs(in_shape, time_steps, calibrate, dataset, data_root,
                                       limit)
        res = convert(graph, x, time_steps=time_steps, weight_bits=weight_bits,
                      levels=levels, dt=step)
    else:  # written by spq export-nir and unchanged: the agreement on random inputs
        from spq.nn.testing import random_input

        x, source = random_input(res.net, min(limit, 64), 0).numpy(), "random inputs"
        step = float(np.asarray(graph.metadata.get("spq_dt", step)))
    net = res.net
    for note in res.warnings:
        print(f"warning: {note}", file=sys.stderr)
    agree = agreement(graph, net, x, dt=step)
    spq.save(net, out)
    report: dict[str, Any] = {
        "model": str(out), "source": str(model), "exact": res.exact,
        "input_kind": net.input_kind, "input_shape": list(net.input_shape),
        "time_steps": net.time_steps, "num_classes": net.num_classes,
        "readout": "spike counts" if net.spike_readout else "summed currents",
        "weight_bits": weight_bits if not res.exact else None, "levels": levels
        if not res.exact else None, "dt": step,
        "threshold_levels": res.threshold_levels, "calibration": source,
        "samples": agree["samples"], "argmax_agreement": agree["argmax_agreement"],
        "correlation": agree["correlation"], "warnings": res.warnings,
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"spq import: {model.name}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("model", f"{out} ({'exact spq graph' if res.exact else 'quantized'})")
    table.add_row("input", f"{net.input_kind} {tuple(net.input_shape)}, T = {net.time_steps}")
    table.add_row("readout", f"{report['readout']}, {net.num_classes} classes")
    if not res.exact:
        table.add_row("quantization", f"{weight_bits}-bit weights, {levels} membrane levels, "
                      f"threshold levels {res.threshold_levels}, dt = {step:g} s")
    table.add_row("calibration", f"{source}, {len(x)} inputs")
    table.add_row("argmax agreement (float graph vs integer)",
                  f"{100 * agree['argmax_agreement']:.1f}% of {agree['samples']}")
    table.add_row("correlation of outputs", f"{agree['correlation']:.4f}")
    Console().print(table)
