# SPDX-License-Identifier: MIT
"""`make demo`: the whole pipeline on event-digits, ending on an emulated Cortex-M4.

Train a small quantized SNN (4-bit weights, ternary membrane), export it, run the test split
on the host C runtime, run a subset on the board the way `spq run OUT --board mps2-an386`
does (QEMU, Cortex-M4, over the serial protocol, checked against the host), and show that
the PyTorch integer model, the host C and the device agree on every prediction. Prints
accuracy, instructions per inference, RAM and flash, and where the report and plot were
written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

import spq
from spq.cli import handle_errors
from spq.errors import SpqError

console = Console()


def _step(title: str) -> None:
    console.rule(f"[bold]{title}")


@handle_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")]
    = Path("demo-out"),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 6,
    qemu_inputs: Annotated[int, typer.Option(help="Test inputs run on QEMU.")] = 16,
    board: Annotated[str, typer.Option(help="QEMU board.")] = "mps2-an386",
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
) -> None:
    """Train, export, run on the host and on QEMU, and compare."""
    from spq.data import load_dataset
    from spq.export import export
    from spq.export.directory import open_export
    from spq.runtime import HostModel
    from spq.tools.boards import get_board
    from spq.tools.device import check_against_host, device_counts, run_on_device
    from spq.tools.profiler import build_profile, plot_profile, print_profile
    from spq.tools.progress import device_progress
    from spq.train import TrainConfig, train

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.pt"
    export_dir = out / "export"

    _step("1/5 train (event-digits, 4-bit weights, ternary membrane)")
    cfg = TrainConfig(dataset="event-digits", epochs=epochs, seed=seed)
    net, report = train(cfg)
    spq.save(net, model_path)
    (out / "model.json").write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"integer-model accuracy {report['accuracy']:.2%} "
                  f"(float {report['float_accuracy']:.2%}), trained in "
                  f"{report['time_s']['total']:.0f} s")

    _step("2/5 export (C headers, manifest, memory plan, bit-exact verification)")
    res = export(model_path, export_dir, name="demo")
    mem = res.manifest["memory"]
    console.print(f"wrote {export_dir}/demo.c, demo.h, manifest.json; weights "
                  f"{mem['weights_bytes']} B, arena {mem['arena_bytes']} B "
                  f"({mem['schedule']}-major), verified {res.manifest['verified']['inputs']} "
                  "inputs bit-exact")

    _step("3/5 test split: PyTorch integer model vs host C runtime")
    x, y = load_dataset("event-digits", "test", net.time_steps)
    x_u8 = x.to(torch.uint8)
    with torch.no_grad():
        torch_logits = net.int_logits(x_u8).numpy()
    exported = open_export(export_dir)  # checked once, used by the host and the board
    host = HostModel(exported).run(x_u8.numpy())
    y_np = y.numpy()
    torch_pred = torch_logits.argmax(axis=1)
    same_logits = bool(np.array_equal(torch_logits, host.logits_int))
    acc_torch = float((torch_pred == y_np).mean())
    acc_host = float((host.pred == y_np).mean())
    console.print(f"{len(y_np)} test inputs: PyTorch {acc_torch:.2%}, host C {acc_host:.2%}, "
                  f"integer logits identical: {same_logits}")
    if not same_logits:
        raise SpqError("host C runtime differs from the PyTorch integer model")

    b = get_board(board)
    n = min(qemu_inputs, len(y_np))
    _step(f"4/5 spq run {export_dir} --board {b.name}: {n} test inputs on QEMU over the "
          "serial protocol")
    sub = np.ascontiguousarray(x_u8.numpy()[:n])
    # what `spq run OUT --board B` does: every logit, spike count and synop count against the
    # host runtime (raises on any difference); then the logits against PyTorch as well
    with device_progress(b.name) as progress:
        run = run_on_device(exported, b, sub, progress=progress)
    check_against_host(run)
    dev_logits = np.stack([device_counts(r, run.export)["logits_int"] for r in run.results])
    if not np.array_equal(dev_logits, torch_logits[:n]):
        raise SpqError(f"{b.name} differs from the PyTorch integer model")
    acc_dev = float((dev_logits.argmax(axis=1) == y_np[:n]).mean())
    console.print(f"{b.name} ({b.core}): {n} inputs, accuracy {acc_dev:.2%}; integer logits, "
                  "spike counts and synops identical to the host C runtime and PyTorch")

    _step("5/5 profile")
    profile = build_profile(run)
    print_profile(profile, console)
    (out / "profile.json").write_text(json.dumps(profile, indent=2) + "\n")
    plot_profile(profile, out / "profile.png")

    table = Table(title="spq demo: event-digits on a Cortex-M4 (QEMU)")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("test accuracy, PyTorch integer model", f"{acc_torch:.2%} ({len(y_np)} inputs)")
    table.add_row("test accuracy, host C runtime", f"{acc_host:.2%} (identical logits)")
    table.add_row(f"accuracy on QEMU {b.name}", f"{acc_dev:.2%} ({n} inputs, identical logits)")
    table.add_row(f"{profile['unit']} per inference (mean)", f"{profile['total']:,}")
    table.add_row("RAM (static + arena + stack peak)", f"{profile['ram']['total_bytes']:,} B")
    table.add_row("flash (text + rodata)", f"{profile['flash']['total_bytes']:,} B")
    table.add_row("report", str(out / "model.json"))
    table.add_row("profile JSON / plot", f"{out / 'profile.json'} / {out / 'profile.png'}")
    table.add_row("total time", f"{time.perf_counter() - t0:.0f} s")
    console.print(table)


def main() -> None:
    typer.run(demo)


if __name__ == "__main__":
    sys.exit(main())
