# SPDX-License-Identifier: MIT
"""spq against the dense int8 CNN on Cortex-M under QEMU: instructions per inference, per
layer, RAM and code, side by side in the same run.

Builds two fixed, seeded bench models (an event model 2x16x16 and a static-image model
3x16x16, both T=8: conv 3x3 p1 ->16, LIF, maxpool 2, conv 3x3 p1 16->32, LIF, maxpool 2,
flatten, linear 512->10; 4-bit weights, ternary membranes, BN biases and thresholds
calibrated so each LIF layer spikes 10-14 %), exports them, runs the profiling firmware on
every QEMU board (`-icount shift=0`: exact, deterministic instruction counts, not cycles),
checks every logit/spike against the host C runtime and prints per layer: instructions,
synaptic operations, instructions per synop, neuron updates (neurons x time steps),
instructions per neuron update and spike rates.

Next to it, in the same run and on the same board, the CNN a user would otherwise deploy:
the same topology with CMSIS-NN's int8 and int4-weight kernels, one dense pass (a CNN has no
time steps), built on spq's firmware pieces with the same timer, its every layer output
checked byte-exact against a numpy reference (bench/bench_cmsis.py). Printed per model and
board: both totals and the ratio spq / int8, both per layer (spq's conv layers include their
neuron update; CMSIS-NN's their fused ReLU), spq's arena + stack peak against CMSIS-NN's
planned activations + scratch + stack peak, and the runtime's `.text` against CMSIS-NN's
kernels. Without CMSIS-NN's sources (CMSIS_NN_DIR) it says so in one line and prints spq
alone.

    .venv/bin/python bench/bench_qemu.py [--boards mps2-an385,mps2-an386,...]
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
from typing import Any, NoReturn

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cmsis  # noqa: E402

import spq  # noqa: E402
import spq.nn as snn  # noqa: E402
from spq.errors import SpqError  # noqa: E402
from spq.export import export  # noqa: E402
from spq.export.directory import open_export  # noqa: E402
from spq.paths import runtime_dir  # noqa: E402
from spq.tools.boards import get_board, qemu_boards  # noqa: E402
from spq.tools.device import check_against_host, run_on_device  # noqa: E402
from spq.tools.elfinfo import code_bytes_by_source, code_bytes_under  # noqa: E402
from spq.tools.profiler import build_profile  # noqa: E402

DEFAULT_BOARDS = tuple(b.name for b in qemu_boards())
BAR = {"cortex-m4": 1.0, "cortex-m55": 0.25}  # spq's bar, instructions per synop
RATE_LO, RATE_HI = 0.10, 0.14
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench_qemu:begin -->", "<!-- bench_qemu:end -->"
COMMAND = ".venv/bin/python bench/bench_qemu.py --write-docs"
CMSIS_LAYERS = dict(zip(range(5), bench_cmsis.LAYERS, strict=True))


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
    export_dir = open_export(out)
    manifest = export_dir.manifest
    run = run_on_device(export_dir, board, inputs, timeout=300.0)
    check_against_host(run)  # bit-exact or SpqError
    prof = build_profile(run)
    total = int(prof["total"])
    code = code_bytes_by_source(run.firmware.elf)
    return {
        "model": manifest["name"],
        "board": board.name,
        "core": board.core,
        "inputs": len(inputs),
        "total": total,
        "synops": int(prof["synops"]),
        "per_synop": total / prof["synops"],
        "layers": layer_rows(prof, manifest),
        "bar": BAR.get(board.core),
        "arena_bytes": int(prof["ram"]["arena_bytes"]),
        "stack_peak": int(prof["ram"]["stack_peak_bytes"]),
        "input_bytes": int(inputs[0].nbytes),  # the harness's input buffer, outside the arena
        "runtime_text_bytes": code_bytes_under(code, runtime_dir() / "src"),
        "text_bytes": prof["flash"]["text_bytes"],
        "cmsis": None,
    }


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _cmsis(r: dict[str, Any], bits: int) -> dict[str, Any] | None:
    return None if r["cmsis"] is None else r["cmsis"][f"int{bits}"]


def ratio(r: dict[str, Any]) -> float | None:
    """spq instructions / CMSIS-NN int8 instructions per inference."""
    c8 = _cmsis(r, 8)
    return None if c8 is None else r["total"] / c8["total"]


def spq_ram(r: dict[str, Any]) -> int:
    return int(r["arena_bytes"] + r["stack_peak"])


def cmsis_ram_text(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    return (f"{c['ram_bytes']:,} ({c['activations']['plan_bytes']:,} + {c['scratch_bytes']:,} "
            f"+ {c['stack_peak']:,})")


def layer_cmsis(r: dict[str, Any], i: int, bits: int) -> int | None:
    c = _cmsis(r, bits)
    return None if c is None else int(c["layers"][CMSIS_LAYERS[i]])


def print_result(r: dict[str, Any]) -> None:
    c8, c4 = _cmsis(r, 8), _cmsis(r, 4)
    peer = ("CMSIS-NN one dense pass of the same topology (byte-exact)" if c8 is not None
            else "no CMSIS-NN")
    print(f"\n{r['model']} on {r['board']} ({r['core']}): spq mean of {r['inputs']} inputs "
          f"(T = 8), {peer}")
    print(f"  {'layer':<12} {'spq instr':>11} {'synops':>9} {'instr/syn':>9} {'updates':>8} "
          f"{'instr/upd':>9} {'rate':>6} | {'CMSIS int8':>11} {'int4':>11} {'spq/int8':>8}")
    for i, row in enumerate(r["layers"]):
        i8, i4 = layer_cmsis(r, i, 8), layer_cmsis(r, i, 4)
        rr = _f(row["instructions"] / i8 if i8 else None)
        print(f"  {row['name']:<12} {row['instructions']:>11,} {row['synops']:>9,} "
              f"{_f(row['per_synop']):>9} {row['updates']:>8,} {_f(row['per_update'], '.1f'):>9} "
              f"{_f(row['spike_rate'], '.3f'):>6} | {_n(i8):>11} {_n(i4):>11} {rr:>8}")
    print(f"  {'total':<12} {r['total']:>11,} {r['synops']:>9,} {r['per_synop']:>9.2f} "
          f"{'':>8} {'':>9} {'':>6} | {_n(c8 and c8['total']):>11} "
          f"{_n(c4 and c4['total']):>11} {_f(ratio(r)):>8}")
    print(f"  RAM: spq arena {r['arena_bytes']:,} + stack peak {r['stack_peak']:,} = "
          f"{spq_ram(r):,} B | CMSIS-NN activations + scratch + stack peak: int8 "
          f"{cmsis_ram_text(c8)}, int4 {cmsis_ram_text(c4)} B")
    print(f"  .text: spq runtime {r['runtime_text_bytes']:,} B (whole firmware "
          f"{r['text_bytes']:,}) | CMSIS-NN kernels int8 {_n(c8 and c8['text_bytes'])}, "
          f"int4 {_n(c4 and c4['text_bytes'])} B")


def markdown(results: list[dict[str, Any]]) -> str:
    have = all(r["cmsis"] is not None for r in results)
    lines = [
        f"Reproduce: `{COMMAND}` (QEMU 7.2 `-icount shift=0`, arm-none-eabi-gcc -O2; "
        "instructions, not cycles; spq: mean over the inputs, every run checked bit-exact "
        "against the host runtime; CMSIS-NN: one dense pass of the same topology, mean over "
        "the same inputs, every layer output checked byte-exact against a numpy reference).",
        "",
        "| model | board (core) | spq instructions / inference | CMSIS-NN int8 | "
        "CMSIS-NN int4 weights | spq / int8 | spq synops | spq instr / synop | "
        "spike rates |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        c8, c4 = _cmsis(r, 8), _cmsis(r, 4)
        rates = " / ".join(_f(row["spike_rate"], ".3f") for row in r["layers"]
                           if row["spike_rate"] is not None)
        lines.append(
            f"| {r['model']} | {r['board']} ({r['core']}) | {r['total']:,} | "
            f"{_n(c8 and c8['total'])} | {_n(c4 and c4['total'])} | {_f(ratio(r))} | "
            f"{r['synops']:,} | {r['per_synop']:.2f} | {rates} |"
        )
    lines += [
        "",
        "RAM (bytes): spq's arena + stack peak against CMSIS-NN's planned activations + "
        "scratch + stack peak; code: the `.text` of spq's runtime (runtime_c/src) and of the "
        "CMSIS-NN kernels linked for the network:",
        "",
        "| model | board | spq arena + stack | CMSIS-NN int8 | CMSIS-NN int4 | "
        "spq runtime .text | CMSIS-NN .text int8 / int4 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c8, c4 = _cmsis(r, 8), _cmsis(r, 4)
        lines.append(
            f"| {r['model']} | {r['board']} | {spq_ram(r):,} ({r['arena_bytes']:,} + "
            f"{r['stack_peak']:,}) | {cmsis_ram_text(c8)} | {cmsis_ram_text(c4)} | "
            f"{r['runtime_text_bytes']:,} | {_n(c8 and c8['text_bytes'])} / "
            f"{_n(c4 and c4['text_bytes'])} |"
        )
    lines += [
        "",
        "Per layer (a spq conv/linear layer's time includes its neuron update, over T = 8 "
        "steps; a CMSIS-NN conv includes its fused ReLU; `instr/update` is the spq layer's "
        "whole time divided by neurons x time steps):",
        "",
        "| model | board | layer | spq instructions | synops | instr / synop | "
        "neuron updates | instr / update | spike rate | CMSIS-NN int8 | CMSIS-NN int4 | "
        "spq / int8 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for i, row in enumerate(r["layers"]):
            i8, i4 = layer_cmsis(r, i, 8), layer_cmsis(r, i, 4)
            lines.append(
                f"| {r['model']} | {r['board']} | {row['name']} | {row['instructions']:,} | "
                f"{row['synops']:,} | {_f(row['per_synop'])} | {row['updates']:,} | "
                f"{_f(row['per_update'], '.1f')} | {_f(row['spike_rate'], '.3f')} | "
                f"{_n(i8)} | {_n(i4)} | {_f(row['instructions'] / i8 if i8 else None)} |"
            )
    if not have:
        lines += ["", f"CMSIS-NN columns empty: {bench_cmsis.missing_message()}."]
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


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    ap.add_argument("--models", default="events,static")
    ap.add_argument("--n", type=int, default=4, help="inputs per model")
    ap.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    ap.add_argument("--json", type=Path, default=None, help="write all results as JSON")
    args = ap.parse_args()
    kinds = [k.removeprefix("bench_") for k in args.models.split(",")]  # bench_events: events
    for kind in kinds:
        if kind not in ("events", "static"):
            fail(f"unknown model {kind!r}: --models takes events, static (or bench_events, "
                 "bench_static), comma-separated")
    for board in args.boards.split(","):
        try:
            get_board(board)
        except SpqError as exc:
            fail(str(exc))
    torch.set_num_threads(1)
    cmsis = bench_cmsis.cmsis_nn_dir()
    if cmsis is None:
        print(bench_cmsis.missing_message(), flush=True)
        if args.write_docs:
            fail("--write-docs needs CMSIS-NN: the tables compare spq with it")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            net = build_model(kind)
            ckpt = Path(tmp) / f"{kind}.pt"
            spq.save(net, ckpt)
            out = Path(tmp) / kind
            export(ckpt, out, name=f"bench_{kind}", verify_n=2)
            x = make_inputs(net, args.n, 1234).numpy()
            for board in args.boards.split(","):
                r = run_one(out, board, x)
                if cmsis is not None:
                    try:
                        r["cmsis"] = bench_cmsis.measure_model(kind, get_board(board), x, cmsis)
                    except SpqError as exc:
                        fail(str(exc))
                print_result(r)
                results.append(r)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.write_docs:
        write_docs(markdown(results))
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
