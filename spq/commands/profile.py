# SPDX-License-Identifier: MIT
"""`spq profile OUT`: per-layer instructions (QEMU) or cycles (hardware), synaptic operations,
spike rates, RAM and flash of an exported model on a board."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spq.cli import (
    BoardOption,
    ExportDirArg,
    InputOption,
    JsonFlag,
    PortOption,
    TimeoutOption,
    handle_errors,
)
from spq.errors import SpqError
from spq.tools.boards import DEFAULT_BOARD


@handle_errors
def command(
    out: ExportDirArg,
    board: BoardOption = DEFAULT_BOARD,
    input: InputOption = None,
    as_json: JsonFlag = False,
    json_out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write the profile JSON to this file")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="write a per-layer bar chart (PNG)")
    ] = None,
    port: PortOption = None,
    limit: Annotated[int, typer.Option(help="profile at most this many inputs")] = 8,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Profile OUT on a board: time per layer, synops, spike rates, RAM and flash."""
    from rich.console import Console

    from spq.files import write_atomic
    from spq.tools.device import run_on_board
    from spq.tools.profiler import build_profile, plot_profile, print_profile

    if limit < 1:
        raise SpqError("--limit must be at least 1")
    if plot is not None and plot.suffix.lower() != ".png":
        raise SpqError(f"--plot {plot}: only .png is supported")
    run, _ = run_on_board(out, board, port, input, timeout, limit=limit,
                          show_progress=not as_json)
    prof = build_profile(run)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(json_out, json.dumps(prof, indent=2) + "\n")
    if plot is not None:
        plot_profile(prof, plot)
    if as_json:
        print(json.dumps(prof))
    else:
        print_profile(prof, Console())
