# SPDX-License-Identifier: MIT
"""`spq qemu OUT`: run an exported model on an emulated Cortex-M over the serial protocol and
check every integer against the host runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from spq.cli import handle_errors
from spq.errors import SpqError
from spq.tools.boards import DEFAULT_BOARD, Board, get_board
from spq.tools.device import (
    DeviceRun,
    compare,
    device_counts,
    host_reference,
    load_inputs,
    load_manifest,
    run_on_device,
)
from spq.tools.progress import device_progress

MAX_SHOWN_DIFFS = 5


def run_record(run: DeviceRun, manifest: dict[str, Any], batched: bool) -> dict[str, Any]:
    """The JSON of `spq run` (pred, logits_int, logits, spike_counts, synops) plus the
    device's time per inference under its unit ("instructions" on QEMU)."""
    out_scale = float(manifest.get("out_scale", 1.0))
    counts = [device_counts(r, manifest) for r in run.results]
    logits_int = np.stack([c["logits_int"] for c in counts])
    rec: dict[str, Any] = {
        "pred": np.argmax(logits_int, axis=1).tolist(),
        "logits_int": logits_int.tolist(),
        "logits": (logits_int.astype(np.float64) * out_scale).tolist(),
        "spike_counts": np.stack([c["spike_counts"] for c in counts]).tolist(),
        "synops": np.stack([c["synops"] for c in counts]).tolist(),
        run.results[0].unit: [int(r.total) for r in run.results],
    }
    if not batched:
        rec = {k: v[0] for k, v in rec.items()}
    rec["board"] = run.board.name
    return rec


def check_against_host(
    run: DeviceRun, out: Path, manifest: dict[str, Any], samples: dict[str, np.ndarray] | None
) -> None:
    """Raise SpqError listing the differences from the host runtime (and from the expected
    outputs in samples.npz when those inputs were used)."""
    problems = compare(run.results, host_reference(out, run.inputs), manifest)
    if samples is not None:
        problems += compare(run.results, samples, manifest, what="samples.npz")
    if problems:
        shown = "\n  ".join(problems[:MAX_SHOWN_DIFFS])
        more = len(problems) - MAX_SHOWN_DIFFS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise SpqError(
            f"{run.board.name} differs from the expected results in {len(problems)} place(s):"
            f"\n  {shown}{tail}"
        )


def qemu_board(name: str) -> Board:
    b = get_board(name)
    if not b.is_qemu:
        raise SpqError(f"board {b.name} has no QEMU machine (use `spq profile --port`)")
    return b


@handle_errors
def qemu(
    out: Annotated[Path, typer.Argument(help="Export directory (spq-export -o OUT).")],
    board: Annotated[
        str, typer.Option("--board", "-b", help="QEMU board (spq boards).")
    ] = DEFAULT_BOARD,
    input: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="Input .npy (one or a batch); default: samples.npz."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (as `spq run` does).")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each device reply.")
    ] = 60.0,
) -> None:
    """Run OUT on QEMU over the serial protocol; exit 2 on any difference from the host."""
    b = qemu_board(board)
    manifest = load_manifest(out)
    inputs, batched, samples = load_inputs(out, input)
    with device_progress(b.name) as progress:
        run = run_on_device(out, b, inputs, timeout=timeout, progress=progress)
    check_against_host(run, out, manifest, samples)
    rec = run_record(run, manifest, batched=True)
    if as_json:
        data = run_record(run, manifest, batched)
        if samples is not None:
            data["matches_samples"] = True  # checked above
        print(json.dumps(data))
        return
    unit = run.results[0].unit
    table = Table(title=f"{manifest.get('name', out)} on {b.name} (QEMU, {b.core})")
    for col in ("input", "pred", "logits_int", unit, "stack peak"):
        table.add_column(col, justify="left" if col == "logits_int" else "right")
    for i, r in enumerate(run.results):
        table.add_row(
            str(i),
            str(rec["pred"][i]),
            " ".join(str(v) for v in rec["logits_int"][i]),
            f"{r.total:,}",
            f"{r.stack_peak_bytes} B",
        )
    console = Console()
    console.print(table)
    console.print(
        f"[green]bit-exact[/green]: logits, spike counts and synops of {len(run.results)} "
        "input(s) identical to the host runtime"
    )


def register(app: typer.Typer) -> None:
    app.command("qemu")(qemu)
