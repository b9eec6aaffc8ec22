# SPDX-License-Identifier: MIT
"""`spq run OUT [--board B [--port URL]]`: the exported model on the host C runtime, or on a
board (under QEMU, or flashed and reached over its serial port) checked against the host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spq.cli import ExportDirArg, InputOption, JsonFlag, PortOption, TimeoutOption, handle_errors
from spq.errors import SpqError


def run_on_host(out: Path, input_path: Path | None, schedule: str | None,
                as_json: bool) -> dict[str, Any]:
    """`spq run OUT` without --board: the host C runtime, checked against samples.npz."""
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
        _print_human(result, data.get("matches_samples"))
    if expected is not None and not data["matches_samples"]:
        raise SpqError("the C runtime's logits differ from the logits in samples.npz")
    return data


def _print_human(result: Any, matches: bool | None) -> None:
    preds = np.atleast_1d(result.pred)
    logits = result.logits_int.reshape(len(preds), -1)
    spikes = result.spike_counts.reshape(len(preds), -1)
    for k, (p, lg, sp) in enumerate(zip(preds, logits, spikes, strict=True)):
        prefix = f"{k}: " if result.batched else ""
        print(f"{prefix}pred {int(p)}  logits_int {lg.tolist()}  spikes {sp.tolist()}")
    if matches is not None:
        verdict = "identical to" if matches else "DIFFERENT from"
        print(f"{len(preds)} samples: integer logits {verdict} samples.npz")


@handle_errors
def command(
    out: ExportDirArg,
    input: InputOption = None,
    board: Annotated[str | None, typer.Option(
        "--board", "-b", help="run on this board (spq boards) instead of the host")] = None,
    port: PortOption = None,
    schedule: Annotated[
        str | None, typer.Option(help="host only: time or layer (default: the exporter's "
                                 "choice)")
    ] = None,
    as_json: JsonFlag = False,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Run an export folder (spq-export ... -o OUT). Without --board: on the host C runtime,
    the same C that runs on the board, compiled with the host compiler. With --board B: on
    that board, under QEMU when B is a QEMU machine and no --port is given, else on the board
    flashed with `spq flash` and reached over --port (a serial device such as /dev/ttyACM0, or
    socket://HOST:PORT); every logit, spike count and synop count is compared with the host
    runtime and any difference exits 2. --input takes a .npy with one input or a batch, in
    spq.nn's formats: static images (C,H,W) or (N,C,H,W) as uint8 or floats in [0, 1];
    events (T,C,H,W) or (N,T,C,H,W) of 0/1. Without --input the export's samples.npz inputs
    are run and checked against the integer logits the exporter recorded."""
    if board is None:
        if port is not None:
            raise SpqError("--port needs --board (the board the port reaches)")
        run_on_host(out, input, schedule, as_json)
        return
    if schedule is not None:
        raise SpqError("--schedule applies to the host runtime only (the firmware runs "
                       "the exporter's schedule)")
    from spq.tools.device import report_board_run, run_on_board

    run, inputs = run_on_board(out, board, port, input, timeout, show_progress=not as_json)
    report_board_run(run, inputs, as_json)
