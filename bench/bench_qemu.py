# SPDX-License-Identifier: MIT
"""Instructions per inference of the C runtime on Cortex-M under QEMU, per layer.

Builds two fixed, seeded bench models (an event model 2x16x16 and a static-image model
3x16x16, both T=8: conv 3x3 p1 ->16, LIF, maxpool 2, conv 3x3 p1 16->32, LIF, maxpool 2,
flatten, linear 512->10; 4-bit weights, ternary membranes, BN biases and thresholds
calibrated so each LIF layer spikes 10-14 %), exports them, runs the profiling firmware on
QEMU boards (`-icount shift=0`: exact, deterministic instruction counts, not cycles), checks
every logit/spike against the host C runtime and prints per layer: instructions, synaptic
operations, instructions per synop, neuron updates (neurons x time steps) and instructions
per neuron update, with the total compared against a dense int8 CNN of the same topology.

The dense CNN figure is an ESTIMATE: its MACs for one pass (one frame, no time steps) times
the CMSIS-NN int8 reference (instructions per MAC measured on this toolchain
for one 3x3 conv); it is not a measured CMSIS-NN run of this network.

    .venv/bin/python bench/bench_qemu.py [--boards mps2-an385,mps2-an386,mps3-an547]
        [--n 4] [--models events,static] [--write-docs] [--json FILE]

`--write-docs` replaces the table between the bench markers in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import spq  # noqa: E402
import spq.nn as snn  # noqa: E402
from spq.commands.qemu import check_against_host  # noqa: E402
from spq.export import export  # noqa: E402
from spq.tools.boards import get_board  # noqa: E402
from spq.tools.device import load_manifest, run_on_device  # noqa: E402
from spq.tools.profiler import build_profile  # noqa: E402

DEFAULT_BOARDS = ("mps2-an385", "mps2-an386", "mps3-an547")
# CMSIS-NN int8 instructions per MAC measured on this toolchain, per core
CMSIS_INT8 = {"cortex-m3": 3.07, "cortex-m4": 2.14, "cortex-m7": 2.14, "cortex-m55": 0.334}
BAR = {"cortex-m4": 1.0, "cortex-m55": 0.25}  # spq's bar, instructions per synop
RATE_LO, RATE_HI = 0.10, 0.14
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench_qemu:begin -->", "<!-- bench_qemu:end -->"
COMMAND = ".venv/bin/python bench/bench_qemu.py --write-docs"


def build_model(kind: str, seed: int = 0) -> Any:
    """The bench model for `kind` ("events" or "static"), calibrated, in eval mode."""
    torch.manual_seed(seed)
    in_c = 2 if kind == "events" else 3
    net = snn.Sequential(
        snn.QuantConv2d(in_c, 16, 3, padding=1, weight_bits=4), snn.BatchNorm2d(16),
        snn.QuantLIF(levels=3),
        snn.MaxPool2d(2),
        snn.QuantConv2d(16, 32, 3, padding=1, weight_bits=4), snn.BatchNorm2d(32),
        snn.QuantLIF(levels=3),
        snn.MaxPool2d(2),
        snn.Flatten(),
        snn.QuantLinear(32 * 4 * 4, 10, weight_bits=4),
        time_steps=8, input_kind=kind, input_shape=(in_c, 16, 16),
    )
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for m in net.layers:
            if isinstance(m, snn.BatchNorm2d):  # per-channel biases (folded into B)
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                m.running_var.fill_(1.0)
    net.eval()
    x = make_inputs(net, 8, seed + 1)
    lifs = [m for m in net.layers if isinstance(m, snn.QuantLIF)]
    for i, lif in enumerate(lifs):  # multiplicative search on each threshold in turn
        step = 1.5
        for _ in range(60):
            with torch.no_grad():
                rate = float(net.run_int(x).spikes[i].double().mean())
            if RATE_LO <= rate <= RATE_HI:
                break
            with torch.no_grad():
                lif.threshold.mul_(step if rate > RATE_HI else 1 / step)
            step = max(1.05, step ** 0.8)
    return net


def make_inputs(net: Any, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    C, H, W = net.input_shape
    if net.input_kind == "static":
        q = torch.randint(0, 256, (n, C, H, W), generator=gen)
        return (q * (torch.rand(n, C, H, W, generator=gen) > 0.3)).to(torch.uint8)
    return (torch.rand(n, net.time_steps, C, H, W, generator=gen) < 0.15).to(torch.uint8)


def dense_macs(manifest: dict[str, Any]) -> int:
    """MACs of one dense pass (one frame) of the same topology."""
    total = 0
    for rec in manifest["layers"]:
        if rec["type"] == "conv":
            c, h, w = rec["out_shape"]
            k = int(rec["kernel"])
            total += c * h * w * int(rec["in_shape"][0]) * k * k
        elif rec["type"] in ("linear", "readout"):
            total += int(np.prod(rec["in_shape"])) * int(rec["out_shape"][0])
    return total


def layer_rows(prof: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    steps = int(prof["time_steps"])
    unit = prof["unit"]
    rows = []
    for layer, rec in zip(prof["layers"], manifest["layers"], strict=True):
        updates = int(np.prod(rec["out_shape"])) * steps if rec.get("levels") else 0
        rows.append(
            {
                "name": f"{layer['index']}:{layer['name']}",
                "type": rec["type"],
                "instructions": int(layer[unit]),
                "synops": int(layer["synops"]),
                "per_synop": layer[unit] / layer["synops"] if layer["synops"] else None,
                "updates": updates,
                "per_update": layer[unit] / updates if updates else None,
                "spike_rate": layer["spike_rate"],
            }
        )
    return rows


def run_one(out: Path, board_name: str, inputs: np.ndarray) -> dict[str, Any]:
    board = get_board(board_name)
    manifest = load_manifest(out)
    run = run_on_device(out, board, inputs, timeout=300.0)
    check_against_host(run, out, manifest, None)  # bit-exact or SpqError
    prof = build_profile(run, manifest)
    total = int(prof["total"])
    macs = dense_macs(manifest)
    ref = CMSIS_INT8[board.core]
    return {
        "model": manifest["name"],
        "board": board.name,
        "core": board.core,
        "inputs": len(inputs),
        "total": total,
        "synops": int(prof["synops"]),
        "per_synop": total / prof["synops"],
        "layers": layer_rows(prof, manifest),
        "dense_macs": macs,
        "dense_estimate": macs * ref,
        "cmsis_int8_per_mac": ref,
        "vs_dense": total / (macs * ref),
        "bar": BAR.get(board.core),
        "text_bytes": prof["flash"]["text_bytes"],
    }


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def print_result(r: dict[str, Any]) -> None:
    print(f"\n{r['model']} on {r['board']} ({r['core']}), mean of {r['inputs']} inputs")
    print(f"  {'layer':<14} {'instructions':>12} {'synops':>10} {'instr/synop':>11} "
          f"{'updates':>8} {'instr/update':>12} {'rate':>6}")
    for row in r["layers"]:
        print(f"  {row['name']:<14} {row['instructions']:>12,} {row['synops']:>10,} "
              f"{_f(row['per_synop']):>11} {row['updates']:>8,} {_f(row['per_update'], '.1f'):>12} "
              f"{_f(row['spike_rate'], '.3f'):>6}")
    bar = f" (bar {r['bar']})" if r["bar"] is not None else ""
    print(f"  total {r['total']:,} instructions, {r['synops']:,} synops, "
          f"{r['per_synop']:.2f} instr/synop{bar}")
    print(f"  dense int8 CNN estimate: {r['dense_macs']:,} MACs x {r['cmsis_int8_per_mac']} "
          f"instr/MAC = {r['dense_estimate']:,.0f} instructions; spq / dense = "
          f"{r['vs_dense']:.2f}")


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        f"Reproduce: `{COMMAND}` (QEMU 7.2 `-icount shift=0`, arm-none-eabi-gcc -O2; "
        "instructions, not cycles; mean over the inputs; every run checked bit-exact "
        "against the host runtime).",
        "",
        "| model | board (core) | instructions / inference | synops | instr / synop | "
        "dense int8 CNN estimate | spq / dense |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['board']} ({r['core']}) | {r['total']:,} | {r['synops']:,} | "
            f"{r['per_synop']:.2f} | {r['dense_estimate']:,.0f} | {r['vs_dense']:.2f} |"
        )
    lines += [
        "",
        "Per layer (a conv/linear layer's time includes its neuron update; `instr/update` "
        "is the layer's whole time divided by neurons x time steps):",
        "",
        "| model | board | layer | instructions | synops | instr / synop | neuron updates | "
        "instr / update | spike rate |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for row in r["layers"]:
            lines.append(
                f"| {r['model']} | {r['board']} | {row['name']} | {row['instructions']:,} | "
                f"{row['synops']:,} | {_f(row['per_synop'])} | {row['updates']:,} | "
                f"{_f(row['per_update'], '.1f')} | {_f(row['spike_rate'], '.3f')} |"
            )
    lines += [
        "",
        "The dense int8 CNN column is an estimate, not a measurement: the MACs of one dense "
        "pass of the same topology times the CMSIS-NN int8 reference per core "
        "(M3 3.07, M4 2.14, M55 0.334 instructions per MAC measured on this toolchain).",
    ]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        doc = doc.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    new = re.sub(
        re.escape(BEGIN) + ".*?" + re.escape(END),
        lambda _m: f"{BEGIN}\n{text}\n{END}",
        doc,
        flags=re.S,
    )
    tmp = DOC.with_name(DOC.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(DOC)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    ap.add_argument("--models", default="events,static")
    ap.add_argument("--n", type=int, default=4, help="inputs per model")
    ap.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    ap.add_argument("--json", type=Path, default=None, help="write all results as JSON")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models.split(","):
            net = build_model(kind)
            ckpt = Path(tmp) / f"{kind}.pt"
            spq.save(net, ckpt)
            out = Path(tmp) / kind
            export(ckpt, out, name=f"bench_{kind}", verify_n=2)
            x = make_inputs(net, args.n, 1234).numpy()
            for board in args.boards.split(","):
                r = run_one(out, board, x)
                print_result(r)
                results.append(r)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.write_docs:
        write_docs(markdown(results))
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
