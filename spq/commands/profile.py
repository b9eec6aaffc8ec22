# SPDX-License-Identifier: MIT
"""`spq profile OUT`: per-layer instructions (QEMU) or cycles (hardware), synaptic operations,
spike rates, RAM and flash of an exported model on a board."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from spq.cli import handle_errors
from spq.errors import SpqError
from spq.tools.boards import DEFAULT_BOARD, get_board
from spq.tools.device import load_inputs, load_manifest, run_checked
from spq.tools.profiler import build_profile, plot_profile
from spq.tools.progress import device_progress


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def print_profile(profile: dict[str, Any], console: Console) -> None:
    unit = profile["unit"]
    table = Table(
        title=f"{profile['model']} on {profile['board']} ({profile['core']}), "
        f"{profile['inputs']} input(s), means per inference"
    )
    short = "instr." if unit == "instructions" else unit
    for col, justify in (
        ("layer", "left"),
        ("type", "left"),
        (short, "right"),
        ("share", "right"),
        ("synops", "right"),
        ("spike rate", "right"),
        (f"{short}/synop", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    total = profile["total"] or 1
    for layer in profile["layers"]:
        rate = layer["spike_rate"]
        per = layer[f"{unit}_per_synop"]
        table.add_row(
            f"{layer['index']} {layer['name']}",
            str(layer["type"]),
            f"{layer[unit]:,}",
            f"{100 * layer[unit] / total:.1f}%",
            f"{layer['synops']:,}",
            "-" if rate is None else f"{100 * rate:.1f}%",
            "-" if per is None else f"{per:.2f}",
        )
    per_total = profile[f"{unit}_per_synop"]
    table.add_row(
        "total",
        "",
        f"{profile['total']:,}",
        "100%",
        f"{profile['synops']:,}",
        "",
        "-" if per_total is None else f"{per_total:.2f}",
        style="bold",
    )
    console.print(table)
    ram, flash = profile["ram"], profile["flash"]
    console.print(
        f"RAM   {ram['total_bytes']:,} B = static {ram['static_bytes']:,} + arena "
        f"{ram['arena_bytes']:,} + stack peak {ram['stack_peak_bytes']:,}"
    )
    console.print(
        f"flash {flash['total_bytes']:,} B = text {flash['text_bytes']:,} + rodata "
        f"{flash['rodata_bytes']:,} (model constants {flash['model_const_bytes'] or 0:,}) + "
        f"data {flash['data_bytes']:,}"
    )
    if profile["qemu"]:
        console.print(
            "QEMU (-icount shift=0): instruction counts from SysTick, resolution one tick "
            "per layer call; not cycles."
        )


@handle_errors
def profile(
    out: Annotated[Path, typer.Argument(help="Export directory (spq-export -o OUT).")],
    board: Annotated[
        str, typer.Option("--board", "-b", help="Board (spq boards).")
    ] = DEFAULT_BOARD,
    input: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="Input .npy (one or a batch); default: samples.npz."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the profile JSON to this file.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a per-layer bar chart (PNG).")
    ] = None,
    port: Annotated[
        str | None,
        typer.Option("--port", help="Serial port of the flashed board: /dev/ttyACM0 or "
                     "socket://HOST:PORT (default: QEMU)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Profile at most this many inputs.")] = 8,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each device reply.")
    ] = 60.0,
) -> None:
    """Profile OUT on a board: time per layer, synops, spike rates, RAM and flash."""
    b = get_board(board)
    if port is None and not b.is_qemu:
        raise SpqError(f"board {b.name} has no QEMU machine: flash it (spq flash OUT --board "
                       f"{b.name}) and pass its serial port, e.g. --port /dev/ttyACM0")
    if limit < 1:
        raise SpqError("--limit must be at least 1")
    if plot is not None and plot.suffix.lower() != ".png":
        raise SpqError(f"--plot {plot}: only .png is supported")
    manifest = load_manifest(out)
    inputs, _, samples = load_inputs(out, input)
    inputs = inputs[:limit]
    if samples is not None:
        samples = {k: v[:limit] for k, v in samples.items()}
    with device_progress(b.name) as progress:
        run = run_checked(out, b, inputs, port=port, timeout=timeout, progress=progress,
                          samples=samples)
    prof = build_profile(run, manifest)
    if json_path is not None:
        _write_atomic(json_path, json.dumps(prof, indent=2) + "\n")
    if plot is not None:
        plot_profile(prof, plot)
    print_profile(prof, Console())


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
