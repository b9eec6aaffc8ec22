# SPDX-License-Identifier: MIT
"""Long fuzzing runs (the bounded versions are tests/test_fuzz.py): random and mutated
frames against the firmware under QEMU on several boards, and corrupted model descriptors
against spq_init under ASan/UBSan with gcc and clang. Prints the figures (frames sent,
descriptors tried, crashes) and exits 1 at the first failure.

    .venv/bin/python bench/fuzz.py [--frames-minutes 5] [--descriptor-models 64]
                                   [--descriptor-iterations 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests package (tests/support) of this checkout

import spq  # noqa: E402
from spq.export import export  # noqa: E402
from spq.nn.testing import random_model  # noqa: E402
from spq.tools.boards import get_board  # noqa: E402
from spq.tools.firmware import build_firmware  # noqa: E402
from spq.tools.runner import QemuRunner  # noqa: E402
from tests.support.fuzzing import (  # noqa: E402
    DescriptorFuzzStats,
    FrameFuzzStats,
    build_descriptor_fuzzer,
    fuzz_device,
    run_descriptor_fuzzer,
)

BOARDS = ("mps2-an386", "mps3-an547", "mps2-an385")
MODELS = ((2, {"input_kind": "static", "conv": True}), (0, {"input_kind": "events"}))


def fuzz_frames(tmp: Path, minutes: float, seed: int) -> FrameFuzzStats:
    """Each (board, model) pair for an equal share of `minutes`, one QEMU per pair."""
    stats = FrameFuzzStats()
    pairs = [(b, m) for b in BOARDS for m in MODELS]
    share = minutes * 60.0 / len(pairs)
    for k, (board_name, (mseed, kw)) in enumerate(pairs):
        out = tmp / f"model{mseed}"
        if not out.exists():
            spq.save(random_model(mseed, **kw), tmp / f"model{mseed}.pt")  # type: ignore[arg-type]
            export(tmp / f"model{mseed}.pt", out, verify_n=2, seed=mseed)
        board = get_board(board_name)
        fw = build_firmware(board, out)
        start = time.monotonic()
        with QemuRunner(board, fw.elf, timeout=30) as runner:
            fuzz_device(runner, np.random.default_rng(seed + k), bursts=10**9, stats=stats,
                        seconds=share)
        print(f"  frames {board_name} model {mseed}: {time.monotonic() - start:.0f} s; "
              f"total {stats.summary()}", flush=True)
    return stats


def fuzz_descriptors(tmp: Path, models: int, iterations: int, seed: int) -> DescriptorFuzzStats:
    """`iterations` corrupted descriptors, half with a gcc build, half with clang."""
    stats = DescriptorFuzzStats(models=models)
    chunk = 5000
    for cc in ("gcc", "clang"):
        exe = build_descriptor_fuzzer(tmp / f"desc-{cc}", models, seed, cc=cc)
        done = 0
        while done < iterations // 2:
            n = min(chunk, iterations // 2 - done)
            run_descriptor_fuzzer(exe, seed * 1000 + done // chunk, n, stats)
            done += n
        print(f"  descriptors {cc}: {stats.summary()}", flush=True)
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--frames-minutes", type=float, default=5.0,
                    help="minutes of frame fuzzing in all (0: skip)")
    ap.add_argument("--descriptor-models", type=int, default=64)
    ap.add_argument("--descriptor-iterations", type=int, default=200_000,
                    help="corrupted descriptors in all (0: skip)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spq-fuzz-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if args.descriptor_iterations:
                d = fuzz_descriptors(tmp, args.descriptor_models, args.descriptor_iterations,
                                     args.seed)
                print(f"descriptors: {d.summary()}")
            if args.frames_minutes:
                f = fuzz_frames(tmp, args.frames_minutes, args.seed)
                print(f"frames: {f.summary()}")
        except AssertionError as exc:
            print(f"FAILED: {exc}")
            raise SystemExit(1) from None
    print(f"fuzzing took {time.monotonic() - start:.0f} s; crashes: 0")


if __name__ == "__main__":
    main()
