# SPDX-License-Identifier: MIT
"""Run the benchmarks: host speed (bench_host.py), then instructions, RAM and code on
Cortex-M under QEMU next to the same network with CMSIS-NN (bench_qemu.py, which runs
bench_cmsis.py's peer on every board); with --results also bench/results.py (slow: trains
models).

    .venv/bin/python bench/run.py [--results] [--write-docs]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> None:
    print(f"== {script} {' '.join(args)}".rstrip(), flush=True)
    proc = subprocess.run([sys.executable, str(HERE / script), *args], check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed with exit code {proc.returncode}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--results", action="store_true", help="also run bench/results.py (slow)")
    ap.add_argument("--write-docs", action="store_true",
                    help="let bench_qemu.py update docs/performance.md")
    args = ap.parse_args()
    run("bench_host.py")
    run("bench_qemu.py", *(["--write-docs"] if args.write_docs else []))
    if args.results:
        run("results.py")


if __name__ == "__main__":
    main()
