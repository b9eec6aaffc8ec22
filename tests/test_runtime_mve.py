# SPDX-License-Identifier: MIT
"""The Helium conv kernel for kernel 3, stride 1, 16 input and 32 output channels
(spq_conv_w4_k3_mve in runtime_c/src/spq_conv_w4_mve.c) on QEMU's Cortex-M55 against the
host runtime, on models built to reach its every branch: both outcome window widths (7 and 8
bits), dense input (more than 8 set channels at a position: the generic row loop; byte lanes
flushed inside a window), padding 0 and 1, odd map sizes. tests/test_runtime_fast.py covers
the kernel on the bench-like shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spq.export import packing, tables
from spq.export.directory import open_export
from spq.ir import LayerIR, ModelIR, acc_bits
from spq.tools.boards import get_board
from spq.tools.device import differences, host_reference, run_on_device
from tests.support import modelgen
from tests.test_runtime_fast import _conv

# (name, H, W, T, padding, input density, mult divisor (a wider outcome window), outcome bits)
CASES = [
    ("k3dense", 8, 8, 3, 1, 0.6, 1, 7),
    ("k3wide", 7, 9, 3, 1, 0.3, 3, 8),
    ("k3pad0", 6, 10, 2, 0, 0.45, 1, 7),
]


def k3_ir(case: tuple[object, ...], seed: int) -> ModelIR:
    name, H, W, T, pad, _, div, _ = case
    rng = np.random.default_rng(seed)
    conv = _conv(rng, 0, (16, int(H), int(W)), (32, 3, 1, int(pad), 4, 3), "spike", 1)
    assert conv.neuron is not None
    conv.neuron.mult = (conv.neuron.mult.astype(np.int64) // int(div)).astype(np.int32)
    feats = int(np.prod(conv.out_shape))
    readout = LayerIR(type="readout", name="readout", in_shape=(feats,), out_shape=(5,),
                      weight=modelgen._weights(rng, (5, feats), 4), weight_bits=4,
                      in_kind="spike", max_in=1, kernel=1, stride=1, padding=0,
                      acc_bits=acc_bits(feats, 4, 1))
    readout.readout_bias = rng.integers(-3000, 3001, size=5).astype(np.int32)
    return ModelIR(name=str(name), input_kind="events", input_shape=(16, int(H), int(W)),
                   time_steps=int(T), num_classes=5, out_scale=0.125, layers=[conv, readout])


@pytest.mark.qemu
def test_k3_kernel_equals_host(tmp_path: Path) -> None:
    board = get_board("mps3-an547")
    for i, case in enumerate(CASES):
        ir = k3_ir(case, 300 + i)
        pl = tables.add_tables(packing.pack_layer(ir.layers[0]))
        # the shape the kernel takes (spq_w4_k3_mve_ok) and the window width wanted
        assert pl.weights_x is not None and pl.outcome is not None, case
        assert (pl.level_bits, pl.outcome_bits) == (2, case[7]), case
        out = modelgen.write_export(ir, tmp_path / ir.name, firmware=True)
        rng = np.random.default_rng(90 + i)
        x = (rng.random((2, ir.time_steps, *ir.input_shape)) < case[5]).astype(np.uint8)
        export = open_export(out)
        run = run_on_device(export, board, x, timeout=120)
        assert differences(run.results, host_reference(export, x), export) == [], ir.name
        ref = [modelgen.reference(ir, xi) for xi in x]
        assert sum(int(r["spikes"].sum()) for r in ref) > 0, ir.name
