# SPDX-License-Identifier: MIT
"""`spq run OUT [--board B [--port URL]]`: the exported model on the host C runtime, or on a
board (under QEMU, or flashed and reached over its serial port) checked against the host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spq.cli import handle_errors
from spq.errors import SpqError

HELP = (
    "Run an export folder (spq-export ... -o OUT). Without --board: on the host C runtime, "
    "the same C that runs on the board, compiled with the host compiler. With --board B: on "
    "that board, under QEMU when B is a QEMU machine and no --port is given, else on the "
    "board flashed with `spq flash` and reached over --port (a serial device such as "
    "/dev/ttyACM0, or socket://HOST:PORT); every logit, spike count and synop count is "
    "compared with the host runtime and any difference exits 2. --input takes a .npy with one "
    "input or a batch, in spq.nn's formats: static images (C,H,W) or (N,C,H,W) as uint8 or "
    "floats in [0, 1]; events (T,C,H,W) or (N,T,C,H,W) of 0/1. Without --input the export's "
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


def run_on_board_command(out: Path, board: str, port: str | None, input_path: Path | None,
                         as_json: bool, timeout: float) -> dict[str, Any]:
    """`spq run OUT --board B [--port URL]`: run, check against the host, print."""
    from rich.console import Console
    from rich.table import Table

    from spq.tools.boards import get_board
    from spq.tools.device import load_inputs, load_manifest, run_checked, run_record
    from spq.tools.progress import device_progress

    b = get_board(board)
    if port is None and not b.is_qemu:
        raise SpqError(f"board {b.name} has no QEMU machine: flash it (spq flash OUT --board "
                       f"{b.name}) and pass its serial port, e.g. --port /dev/ttyACM0")
    if timeout <= 0:
        raise SpqError(f"--timeout must be positive, got {timeout:g}")
    manifest = load_manifest(out)
    inputs, batched, samples = load_inputs(out, input_path)
    with device_progress(b.name, enabled=not as_json) as progress:
        run = run_checked(out, b, inputs, port=port, timeout=timeout, progress=progress,
                          samples=samples)
    data = run_record(run, manifest, batched)
    data["clock_hz"] = run.info.clock_hz
    data["port"] = port
    if samples is not None:
        data["matches_samples"] = True  # checked above
    if as_json:
        print(json.dumps(data))
        return data
    rec = run_record(run, manifest, batched=True)
    unit = run.results[0].unit
    where = f"QEMU {b.qemu_machine}" if port is None else port
    table = Table(title=f"{manifest.get('name', out)} on {b.name} ({b.core}, "
                        f"{run.info.clock_hz / 1e6:g} MHz, {where})")
    for col in ("input", "pred", "logits_int", unit, "stack peak"):
        table.add_column(col, justify="left" if col == "logits_int" else "right")
    for i, r in enumerate(run.results):
        table.add_row(str(i), str(rec["pred"][i]), " ".join(str(v) for v in rec["logits_int"][i]),
                      f"{r.total:,}", f"{r.stack_peak_bytes} B")
    console = Console()
    console.print(table)
    console.print(
        f"[green]bit-exact[/green]: logits, spike counts and synops of {len(run.results)} "
        "input(s) identical to the host runtime"
    )
    return data


def register(app: typer.Typer) -> None:
    @app.command("run", help=HELP)
    @handle_errors
    def run(
        out: Annotated[Path, typer.Argument(help="export folder (holds manifest.json)")],
        input: Annotated[
            Path | None, typer.Option("--input", "-i", help=".npy input (one or a batch)")
        ] = None,
        board: Annotated[str | None, typer.Option(
            "--board", "-b", help="run on this board (spq boards) instead of the host")] = None,
        port: Annotated[str | None, typer.Option(
            "--port", help="serial port of the flashed board: /dev/ttyACM0 or "
            "socket://HOST:PORT (default: QEMU)")] = None,
        schedule: Annotated[
            str | None, typer.Option(help="host only: time or layer (default: the exporter's "
                                     "choice)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
        timeout: Annotated[float, typer.Option(
            help="seconds to wait for each device reply")] = 60.0,
    ) -> None:
        if board is None:
            if port is not None:
                raise SpqError("--port needs --board (the board the port reaches)")
            run_command(out, input, schedule, as_json)
            return
        if schedule is not None:
            raise SpqError("--schedule applies to the host runtime only (the firmware runs "
                           "the exporter's schedule)")
        run_on_board_command(out, board, port, input, as_json, timeout)
