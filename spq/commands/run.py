# SPDX-License-Identifier: MIT
"""`spq run OUT`: the exported model on the host C runtime (runtime_c through ctypes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spq.cli import handle_errors
from spq.errors import SpqError

HELP = (
    "Run an export folder (spq-export ... -o OUT) on the host C runtime: the same C that runs "
    "on the board, compiled with the host compiler. --input takes a .npy with one input or a "
    "batch, in spq.nn's formats: static images (C,H,W) or (N,C,H,W) as uint8 or floats in "
    "[0, 1]; events (T,C,H,W) or (N,T,C,H,W) of 0/1. Without --input the export's "
    "samples.npz inputs are run and checked against the integer logits the exporter recorded."
)


def run_command(out: Path, input_path: Path | None, schedule: str | None,
                as_json: bool) -> dict[str, Any]:
    from spq.export.directory import open_export
    from spq.runtime import HostModel

    if schedule is not None and schedule not in ("time", "layer"):
        raise SpqError(f"--schedule must be 'time' or 'layer', got {schedule!r}")
    export = open_export(out)  # the whole export checked before anything is compiled
    inputs = export.load_inputs(input_path)
    model = HostModel(export)
    result = model.run(inputs.data if inputs.batched else inputs.data[0], schedule=schedule)
    data = result.to_json()
    expected = inputs.samples["logits_int"] if inputs.samples is not None and (
        "logits_int" in inputs.samples) else None
    if expected is not None:
        data["matches_samples"] = bool(
            expected.shape == result.logits_int.shape
            and np.array_equal(expected, result.logits_int)
        )
    if as_json:
        print(json.dumps(data))
    else:
        _print_human(model, result, data.get("matches_samples"))
    if expected is not None and not data["matches_samples"]:
        raise SpqError("the C runtime's logits differ from the logits in samples.npz")
    return data


def _print_human(model: Any, result: Any, matches: bool | None) -> None:
    preds = np.atleast_1d(result.pred)
    logits = result.logits_int.reshape(len(preds), -1)
    spikes = result.spike_counts.reshape(len(preds), -1)
    for k, (p, lg, sp) in enumerate(zip(preds, logits, spikes, strict=True)):
        prefix = f"{k}: " if result.batched else ""
        print(f"{prefix}pred {int(p)}  logits_int {lg.tolist()}  spikes {sp.tolist()}")
    if matches is not None:
        verdict = "identical to" if matches else "DIFFERENT from"
        print(f"{len(preds)} samples: integer logits {verdict} samples.npz")


def register(app: typer.Typer) -> None:
    @app.command("run", help=HELP)
    @handle_errors
    def run(
        out: Annotated[Path, typer.Argument(help="export folder (holds manifest.json)")],
        input: Annotated[
            Path | None, typer.Option("--input", "-i", help=".npy input (one or a batch)")
        ] = None,
        schedule: Annotated[
            str | None, typer.Option(help="time or layer (default: the exporter's choice)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        run_command(out, input, schedule, as_json)
