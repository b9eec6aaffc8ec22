# SPDX-License-Identifier: MIT
"""Cortex-M0 (QEMU microbit, 16 KiB RAM) against the M3 and M4 on models that fit it: the
random models of tests/test_qemu.py (seeds 0-3; bench_qemu.py runs its bench models on the
micro:bit too, next to CMSIS-NN), 4 random inputs each, checked bit-exact against the host
runtime; instructions per inference (QEMU -icount shift=0, SysTick resolution).

    .venv/bin/python bench/bench_m0.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package (tests/support) of this checkout

from spq.export.directory import open_export  # noqa: E402
from spq.tools.boards import get_board  # noqa: E402
from spq.tools.device import check_against_host, run_on_device  # noqa: E402
from tests.support.firmware import export_random, random_inputs  # noqa: E402

MODELS = [
    (0, {"input_kind": "events"}),
    (1, {"input_kind": "static", "conv": False}),
    (2, {"input_kind": "static", "conv": True}),
    (3, {"input_kind": "static", "conv": True, "pool": "avg"}),
]
BOARDS = ("microbit", "mps2-an385", "mps2-an386")


def main() -> None:
    print("| model (seed) | input | arena B | " + " | ".join(BOARDS)
          + " | M0/M3 | M0/M4 |")
    print("|---" * (5 + len(BOARDS)) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed, kw in MODELS:
            out = export_random(Path(tmp), seed, **kw)
            x = random_inputs(seed, 4, **kw)
            export_dir = open_export(out)
            means = {}
            for name in BOARDS:
                run = run_on_device(export_dir, get_board(name), x, timeout=120)
                check_against_host(run)
                means[name] = sum(r.total for r in run.results) / len(run.results)
            m = export_dir.manifest
            cells = " | ".join(f"{means[b]:,.0f}" for b in BOARDS)
            print(f"| {seed} {kw} | {m['input']['shape']} | {m['memory']['arena_bytes']} | "
                  f"{cells} | {means['microbit'] / means['mps2-an385']:.2f} | "
                  f"{means['microbit'] / means['mps2-an386']:.2f} |")


if __name__ == "__main__":
    main()
