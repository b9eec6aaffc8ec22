# SPDX-License-Identifier: MIT
"""The rules spq.nn, the exporter and the runtimes share (spq.ir): checked here against
values written out by hand from docs/semantics.md and docs/formats.md, and checked to be the
rule every user applies (fold, checks, packing, memory plan)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spq import ir
from spq.export import memory
from spq.export.checks import layer_acc_bits
from spq.export.packing import pack_model
from spq.nn.testing import random_model


def test_qmax_by_hand() -> None:
    # docs/semantics.md section 3: ternary {-1, 0, 1}; 4 and 8 bit symmetric two's complement
    assert ir.QMAX == {2: 1, 4: 7, 8: 127}


@pytest.mark.parametrize("bits,max_in,fan_in16", [(2, 1, 32767), (4, 1, 4681), (8, 1, 258),
                                                  (8, 255, 1), (4, 255, 18), (2, 4, 8191)])
def test_acc_bits_switches_at_the_int16_bound(bits: int, max_in: int, fan_in16: int) -> None:
    """The largest fan-in with an int16 accumulator: fan_in * qmax * max_in <= 32767."""
    assert ir.acc_bits(fan_in16, bits, max_in) == 16
    assert ir.acc_bits(fan_in16 + 1, bits, max_in) == 32
    assert ir.acc_bound(fan_in16, bits, max_in) <= 32767 < ir.acc_bound(fan_in16 + 1, bits,
                                                                         max_in)


def test_level_bits_is_ceil_log2() -> None:
    for levels in range(2, 300):
        assert ir.level_bits(levels) == math.ceil(math.log2(levels)), levels
    assert ir.level_bits(3) == 2  # ternary: 1.58 bit stored in 2


def test_align4() -> None:
    assert [ir.align4(n) for n in range(0, 10)] == [0, 4, 4, 4, 4, 8, 8, 8, 8, 12]


def test_layer_names() -> None:
    types = ["conv", "maxpool", "conv", "sumpool", "linear", "linear", "readout"]
    assert ir.layer_names(types) == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2",
                                     "readout"]
    assert ir.layer_names(["linear", "spike_readout"]) == ["fc1", "readout"]


@pytest.mark.parametrize("seed", range(6))
def test_every_user_applies_the_shared_rules(seed: int) -> None:
    """fold names the layers and sizes the accumulators with spq.ir's rules, the exporter's
    check recomputes the same widths, packing and the memory plan store the same level bits."""
    net = random_model(seed)
    folded = net.int_plan().ir
    assert [la.name for la in folded.layers] == ir.layer_names([la.type for la in
                                                                folded.layers])
    packed = pack_model(folded)
    for la, pl in zip(folded.layers, packed.layers, strict=True):
        if la.weight is not None:
            fan_in = int(np.prod(la.weight.shape[1:]))
            assert la.acc_bits == ir.acc_bits(fan_in, la.weight_bits, la.max_in)
            assert la.acc_bits == layer_acc_bits(la)
        if la.neuron is not None:
            bits = math.ceil(math.log2(la.neuron.hi - la.neuron.lo + 1))
            assert pl.level_bits == max(1, bits)
            neurons = int(np.prod(la.out_shape))
            assert memory.layer_membrane_bytes(la) == ir.align4((neurons * bits + 7) // 8)
