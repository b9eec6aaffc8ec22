# SPDX-License-Identifier: MIT
"""bench/bench_cmsis.py, the CMSIS-NN peer of spq's bench: its integer reference and arena
planner, and on QEMU its firmware's every layer output against that reference (so that the
side-by-side comparison cannot silently rot); bench/bench_qemu.py's side-by-side report."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from spq.errors import SpqError
from spq.tools.boards import get_board
from spq.tools.elfinfo import code_bytes_by_source, code_bytes_under

ROOT = Path(__file__).resolve().parents[1]


def load_bench(name: str) -> ModuleType:
    """Import bench/NAME.py (bench/ is not a package; bench_qemu imports bench_cmsis)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bc = load_bench("bench_cmsis")
CMSIS = bc.cmsis_nn_dir()
needs_cmsis = pytest.mark.skipif(CMSIS is None, reason=bc.missing_message())


def test_requantize_is_cmsis_nn_double_rounding() -> None:
    # By hand from arm_nn_requantize: (acc * M + 2^30) >> 31, then a right shift rounding
    # half away from zero. 0.5 = 2^30 / 2^31 with shift 0; 0.25 = the same with shift -1.
    half, shift0 = bc.quantize_multiplier(0.5)
    assert (half, shift0) == (1 << 30, 0)
    assert bc.quantize_multiplier(0.25) == (1 << 30, -1)
    assert bc.quantize_multiplier(1.0) == (1 << 30, 1)
    got = bc.requantize(np.array([100, 3, -3, 5, -5, 6, -6]), half,
                        np.array([0, 0, 0, -1, -1, -1, -1]))
    # 1.5 -> 2 and -1.5 -> -1 (the high multiply adds 2^30 and floors); 5 * 0.25: 3, then
    # 3 / 2 -> 2 (double rounding); -5: -2 / 2 = -1; 6 / 4: 3 / 2 -> 2; -6: -3 / 2 -> -2
    assert got.tolist() == [50, 2, -1, 2, -1, 2, -2]
    assert bc.requantize(np.array([7]), half, np.array([1])).tolist() == [7]


def test_int4_packing_low_nibble_first() -> None:
    # CMSIS-NN's documentation: [0x1, 0x2, 0x3, 0x4] packs as [0x21, 0x43]; odd counts pad
    packed = bc.pack_int4(np.array([1, 2, 3, 4, -1, -8, 7]))
    assert packed.view(np.uint8).tolist() == [0x21, 0x43, 0x8F, 0x07]


def test_greedy_plan_of_the_bench_topology() -> None:
    buffers = bc.activation_buffers("events")
    offsets, size = bc.greedy_plan(buffers)
    # largest first: conv1 (4096) at 0; conv2 (2048, after conv1 dies) at 0; pool1 (1024,
    # alive with both) at 4096; input (512, alive with conv1) at 4096; pool2 (512, alive with
    # conv2) at 2048; fc (10, alive with pool2 only) at 0
    assert offsets == {"conv1": 0, "conv2": 0, "pool1": 4096, "input": 4096, "pool2": 2048,
                       "fc": 0}
    assert size == 5120 == bc.live_peak(buffers)  # pool1 reads 4096 and writes 1024


@pytest.mark.parametrize("seed", range(20))
def test_greedy_plan_never_overlaps_live_buffers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    buffers = []
    for i in range(int(rng.integers(2, 12))):
        first = int(rng.integers(0, 8))
        buffers.append(bc.Buffer(f"b{i}", int(rng.integers(1, 5000)), first,
                                 first + int(rng.integers(0, 4))))
    offsets, size = bc.greedy_plan(buffers)
    for a in buffers:
        assert offsets[a.name] % bc.ALIGN == 0 and offsets[a.name] + a.size <= size
        for b in buffers:
            if a is not b and a.first <= b.last and b.first <= a.last:
                oa, ob = offsets[a.name], offsets[b.name]
                assert oa + a.size <= ob or ob + b.size <= oa, (a, b)
    assert size >= bc.live_peak(buffers)


def map_text_bytes(map_file: Path, member: str) -> int:
    """The sizes of the .text input sections the GNU ld map file places from `member`."""
    text = map_file.read_text()
    text = text[text.index("Linker script and memory map"):]
    sections = re.finditer(r"^ (\.text\S*)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$", text, re.M)
    return sum(int(m.group(2), 16) for m in sections if member in m.group(3))


@pytest.mark.qemu
@needs_cmsis
def test_cmsis_nn_firmware_is_byte_exact_with_the_reference(fw_cache: Path) -> None:
    board = get_board("mps2-an386")
    x = bc.dense_inputs("static", bc.random_spq_inputs("static", 2, 7))
    for bits in (8, 4):
        net = bc.make_network("static", bits, x, seed=3)
        elf = bc.build(board, net, CMSIS)
        # the kernels' .text from symbols + debug info against the linker map's sections
        # (each function is a section of its own; the map adds alignment padding)
        text = code_bytes_under(code_bytes_by_source(elf), CMSIS)
        in_map = map_text_bytes(elf.parent / "firmware.map", "libcmsis-nn.a(")
        assert 0 <= in_map - text < 64 and text > 4000, (text, in_map)
        lines = bc.run_qemu(board, elf)
        res = bc.parse_and_check(net, board, lines)  # raises on the first differing byte
        assert res["checked_layer_outputs"] == 2 * len(bc.LAYERS)
        assert res["scratch"]["conv2"] == 2 * 9 * 16 * 2  # DSP im2col: 2 columns of int16
        layers = sum(res["layers"].values())
        assert 0.97 * res["total"] < layers < 1.03 * res["total"]
        # the comparison can fail: a network one output step off in conv1, or in the
        # fully connected layer only, is rejected by name
        for field, layer in (("conv1", "conv1"), ("fc", "fc")):
            orig = getattr(net, field)
            bad = replace(net, **{field: replace(orig, out_offset=orig.out_offset + 1)})
            with pytest.raises(SpqError, match=f"input 0 {layer} differs from the reference"):
                bc.parse_and_check(bad, board, lines)


@pytest.mark.qemu
@pytest.mark.slow
@needs_cmsis
def test_bench_qemu_prints_spq_and_cmsis_side_by_side(fw_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_qemu.py"), "--boards", "mps2-an386",
         "--models", "events", "--n", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    (r,) = json.loads(out.read_text())
    c8, c4 = r["cmsis"]["int8"], r["cmsis"]["int4"]
    assert c8["checked_layer_outputs"] == c4["checked_layer_outputs"] == len(bc.LAYERS)
    assert c8["bits"] == 8 and c4["bits"] == 4 and c8["text_bytes"] > 0
    assert r["runtime_text_bytes"] > 0 and r["arena_bytes"] > 0 and r["stack_peak"] > 0
    ratio = f"{r['total'] / c8['total']:.2f}"
    total_line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("total"))
    assert f"{c8['total']:,}" in total_line and f"{c4['total']:,}" in total_line
    assert total_line.split()[-1] == ratio

    bq = load_bench("bench_qemu")
    table = bq.markdown([r])
    assert f"| {r['total']:,} | {c8['total']:,} | {c4['total']:,} | {ratio} |" in table
    assert f"{c8['activations']['plan_bytes']:,} + {c8['scratch_bytes']:,}" in table
    alone = bq.markdown([{**r, "cmsis": None}])  # what the bench prints without CMSIS-NN
    assert f"| {r['total']:,} | - | - | - |" in alone
    assert "CMSIS-NN sources not found" in alone


def test_bench_cmsis_without_sources_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "CMSIS_NN_DIR": str(tmp_path / "missing")}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_cmsis.py")], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: CMSIS-NN sources")
    assert "git -C CMSIS-NN checkout 99f736a6" in proc.stderr
