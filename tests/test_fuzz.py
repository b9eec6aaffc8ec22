# SPDX-License-Identifier: MIT
"""Bounded fuzzing that stays in the suite (a few seconds each; bench/fuzz.py runs the same
for longer): random and mutated frames against the real firmware under QEMU, corrupted
model descriptors against spq_init under ASan/UBSan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spq.tools.boards import get_board
from spq.tools.firmware import build_firmware
from spq.tools.runner import QemuRunner
from tests.support.fuzzing import (
    DescriptorFuzzStats,
    build_descriptor_fuzzer,
    fuzz_device,
    run_descriptor_fuzzer,
)

FRAME_KINDS = {"random", "valid", "bad_crc", "truncated", "huge_length", "bad_version",
               "sync_garbage", "infer"}


@pytest.mark.qemu
def test_random_frames_never_leave_the_device_deaf(
    static_model: Path,
    fw_cache: Path,
) -> None:
    """Bursts of random bytes, valid frames with random payloads, bad CRCs, truncated
    frames, huge lengths, wrong versions and stray sync bytes, some followed by a frame cut
    short: after each burst the model harness answers HELLO at once (having dropped the cut
    frame by its inter-byte timeout), and it never faults."""
    board = get_board("mps2-an386")
    fw = build_firmware(board, static_model)
    with QemuRunner(board, fw.elf, timeout=10) as runner:
        stats = fuzz_device(runner, np.random.default_rng(2024), bursts=12)
        assert runner.client.infer(b"\x07" * runner.client.hello().input_bytes).status == 0
    assert stats.bursts == stats.hellos == 12 and stats.faults == 0, stats.summary()
    assert set(stats.kinds) == FRAME_KINDS and stats.cut_frames > 0, stats.summary()
    assert stats.replies["0x82"] > 0  # some random inputs ran as inferences
    print(stats.summary())


def test_corrupted_descriptors_are_refused_or_run_clean(tmp_path: Path) -> None:
    """Generated models with mutated fields (shapes, kernel, stride, padding, bits, levels,
    shifts, array sizes, num_layers) and arrays swapped for shorter ones: spq_init refuses
    them, or they run in both schedules and as a stream with no out-of-bounds access and
    no undefined behaviour (ASan/UBSan abort the fuzzer otherwise)."""
    exe = build_descriptor_fuzzer(tmp_path, models=6, seed=7)
    stats = DescriptorFuzzStats(models=6)
    for seed in range(3):
        run_descriptor_fuzzer(exe, seed, 1000, stats)
    assert stats.tried == 3000 and stats.crashes == 0
    # both outcomes happen, so the mutations reach the checks and the kernels
    assert stats.rejected > 300 and stats.ran > 300, stats.summary()
    print(stats.summary())
