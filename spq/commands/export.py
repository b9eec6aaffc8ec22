# SPDX-License-Identifier: MIT
"""`spq export` / `spq-export`: checkpoint -> verified integer C, manifest and samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spq.cli import handle_errors


def _fmt_bytes(n: int) -> str:
    return f"{n:,} bytes" if n < 10 * 1024 else f"{n:,} bytes ({n / 1024:.1f} KiB)"


def print_summary(result: Any) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    m = result.manifest
    console = Console()
    title = (f"{m['name']}: {m['input']['kind']} input {tuple(m['input']['shape'])}, "
             f"T={m['time_steps']}, {m['num_classes']} classes")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True, title=title)
    table.caption = ("bits: weight bits; L: membrane levels; acc: accumulator bits; "
                     "fan-out: synops per input spike")
    for col, just in (("layer", "left"), ("type", "left"), ("in→out", "left"),
                      ("bits", "right"), ("L", "right"), ("acc", "right"),
                      ("bytes", "right"), ("fan-out", "right"), ("pruned", "right")):
        table.add_column(col, justify=just, no_wrap=col != "layer",  # type: ignore[arg-type]
                         min_width=10 if col == "layer" else None)
    for i, la in enumerate(m["layers"]):
        shape = "x".join(map(str, la["in_shape"])) + "→" + "x".join(map(str, la["out_shape"]))
        table.add_row(
            f"{i} {la['name']}", la["type"], shape,
            str(la["weight_bits"] or "-"), str(la["levels"] or "-"),
            str(la["acc_bits"] or "-"),
            f"{la['weight_bytes']:,}" if la["weight_bytes"] else "-",
            f"{la['synops_per_spike']:,}" if la["synops_per_spike"] else "-",
            str(la["pruned"]) if la["levels"] is not None else "-",
        )
    table.add_section()
    table.add_row("total", "", "", "", "", "", f"{m['memory']['weights_bytes']:,}", "", "")
    console.print(table)
    mem = m["memory"]
    console.print(
        f"flash: weights {_fmt_bytes(mem['weights_bytes'])}, all tables "
        f"{_fmt_bytes(mem['const_bytes'])}"
    )
    other = "layer" if mem["schedule"] == "time" else "time"
    console.print(
        f"RAM: arena {_fmt_bytes(mem['arena_bytes'])} with the {mem['schedule']}-major "
        f"schedule ({other}-major: {mem[f'arena_bytes_{other}']:,}); "
        f"membranes {_fmt_bytes(mem['membrane_bytes'])}"
    )
    if result.board:
        b = result.board
        console.print(
            f"board {b['name']}: flash {b['flash_needed']:,} of {b['flash_bytes']:,} bytes "
            f"(code estimated {b['code_estimate']:,}), RAM {b['ram_needed']:,} of "
            f"{b['ram_bytes']:,} bytes (stack {b['stack_reserve']:,})"
        )
    v = m["verified"]
    if v["bit_exact"]:
        console.print(f"verified: bit-exact against spq.nn on {v['inputs']} inputs "
                      "(logits and every spike)", soft_wrap=True)
    else:
        console.print("[yellow]not verified (--verify 0)[/yellow]")
    # paths are never broken across lines (the terminal wraps them, copy and paste works)
    console.print(f"wrote {', '.join(str(p) for p in result.files)}", soft_wrap=True,
                  highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True, highlight=False)


@handle_errors
def command(
    model: Annotated[Path, typer.Argument(
        metavar="MODEL.pt", help="checkpoint written by spq.save")],
    out: Annotated[Path, typer.Option("-o", "--out", help="output directory")],
    name: Annotated[str | None, typer.Option(
        "--name", help="C name prefix (default: the model file's stem)")] = None,
    board: Annotated[str | None, typer.Option(
        "--board", help="check flash and RAM against this board (see `spq boards`)")] = None,
    schedule: Annotated[str, typer.Option(
        "--schedule", help="auto (smaller arena), time or layer")] = "auto",
    verify: Annotated[int, typer.Option(
        "--verify", help="random inputs checked bit-exact against spq.nn (0: skip)")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="seed of the sample inputs")] = 0,
) -> None:
    """Export MODEL.pt to C for the spq runtime: OUT/NAME.h, OUT/NAME.c, OUT/manifest.json and
    OUT/samples.npz. Pruned channels are removed, weights packed, and the export is checked
    bit-exact against eval-mode spq.nn on --verify random inputs before anything is written.
    Only these four files are written; an existing OUT may hold other files (left alone) and
    an earlier export (its files are replaced), but not a manifest.json of something else."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from spq.export.pipeline import export

    bar = Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), transient=True)
    task: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not task:  # the bar appears once verification starts
            bar.start()
            task.append(bar.add_task("verify", total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        result = export(model, out, name=name, board=board, schedule=schedule,
                        verify_n=verify, seed=seed, progress=progress)
    finally:
        if task:
            bar.stop()
    print_summary(result)
