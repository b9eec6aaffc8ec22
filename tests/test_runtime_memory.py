# SPDX-License-Identifier: MIT
"""The arena: spq.export.memory.arena_bytes (Python) == spq_arena_size (C), both schedules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spq.export import memory
from spq.ir import LayerIR, ModelIR, NeuronIR
from spq.runtime import HostModel
from tests.support import modelgen

# host libraries and firmware go to the session's own build cache (tests/support/firmware.py)
pytestmark = pytest.mark.usefixtures("fw_cache")


def test_c_and_python_agree_on_random_models(tmp_path: Path) -> None:
    differ = []
    for seed in range(25):
        rng = np.random.default_rng(500 + seed)
        ir = modelgen.random_ir(rng, name=f"a{seed}")
        model = HostModel(modelgen.write_export(ir, tmp_path / f"a{seed}"))
        for schedule in ("time", "layer"):
            c_size, py_size = model.arena_size(schedule), memory.arena_bytes(ir, schedule)
            assert c_size > 0
            if c_size != py_size:
                differ.append((seed, schedule, c_size, py_size))
    assert not differ


def test_c_and_python_agree_on_exported_models(tmp_path: Path) -> None:
    import spq
    from spq.export import export
    from spq.nn.testing import random_model

    for seed in range(6):
        net = random_model(300 + seed, prune=seed % 2 == 0)
        spq.save(net, tmp_path / f"e{seed}.pt")
        out = tmp_path / f"e{seed}"
        export(tmp_path / f"e{seed}.pt", out, name=f"e{seed}", verify_n=0)
        mem = json.loads((out / "manifest.json").read_text())["memory"]
        model = HostModel(out)
        assert model.arena_size("time") == mem["arena_bytes_time"]
        assert model.arena_size("layer") == mem["arena_bytes_layer"]
        assert model.arena_size() == mem["arena_bytes"]


def _neuron(channels: int, levels: int) -> NeuronIR:
    z = np.zeros(channels, dtype=np.int32)
    return NeuronIR(mult=z, shift=z, bias=z, leak=32768, levels=levels, lo=2 - levels, hi=1,
                    reset="hard")


def test_arena_formula_by_hand() -> None:
    """events (2,4,4), T=4: conv 2->3 k3 p1 (48 neurons, ternary, int16 acc), maxpool 2
    (12), readout 12 -> 5, computed by hand from docs/formats.md."""
    w = np.zeros((3, 2, 3, 3), dtype=np.int8)
    ir = ModelIR(name="h", input_kind="events", input_shape=(2, 4, 4), time_steps=4,
                 num_classes=5, out_scale=1.0, layers=[
                     LayerIR(type="conv", name="c", in_shape=(2, 4, 4), out_shape=(3, 4, 4),
                             weight=w, weight_bits=4, kernel=3, padding=1, acc_bits=16,
                             neuron=_neuron(3, 3)),
                     LayerIR(type="maxpool", name="p", in_shape=(3, 4, 4), out_shape=(3, 2, 2),
                             pool=2),
                     LayerIR(type="readout", name="r", in_shape=(12,), out_shape=(5,),
                             weight=np.zeros((5, 12), dtype=np.int8), weight_bits=8,
                             readout_bias=np.zeros(5, dtype=np.int32)),
                 ])
    counters = 4 * 3 + 4 * 3 + 4 * 5  # spikes, synops, logits
    acc = 2 * 4  # one output position's scratch: int16, 3 channels -> 2 pair words
    # 48 neurons x 2 bits = 96 bits; the readout's spike counts: 12 features, counts up to
    # T = 4 in 3 bit planes of one word
    membrane = 12 + 3 * 4
    # time-major: region 0 = conv frame 8 bytes (48 bits in 2 words); region 1 = max(pool
    # frame 4, packed input 32 bits = 4)
    assert memory.arena_bytes(ir, "time") == counters + acc + membrane + 8 + 4
    assert memory.membrane_bytes(ir) == 24
    # layer-major: one layer's state at a time
    assert memory.arena_bytes(ir, "layer") == counters + acc + 12 + 4 * 8 + 4 * 4
    parts = memory.arena_breakdown(ir, "layer")
    assert parts == {"counters": 44, "cache": 0, "acc": 8, "membrane": 12, "activations": 48}
    # static input, ternary, T = 4 <= 8: the spike trains cached after the max pool (12
    # pooled neurons: one group of 32 bytes) and the 4 per-step spike counts; the first
    # layer's membranes (12 bytes, the reference build's) fit there, so it has no membrane
    # part; scratch: int32 accumulators of one position, the train table (3 channels x 32
    # ranks) and the uint16 histogram of the 2^4 train values; no packed input frame
    ir.input_kind = "static"
    ir.layers[0].in_kind = "u8"
    assert memory.arena_breakdown(ir, "time") == {
        "counters": 44, "cache": 32 + 4 * 4, "acc": 4 * 3 + 3 * 32 + 2 * 16, "membrane": 12,
        "activations": 8 + 4}
    # T = 10: a rank cache of a byte per neuron of the first layer and its int32
    # accumulators of one position as scratch
    ir.time_steps = 10
    assert memory.arena_breakdown(ir, "time") == {
        "counters": 44, "cache": 48, "acc": 4 * 3, "membrane": 12 + 4 * 4,
        "activations": 8 + 4}
    ir.time_steps = 4
    # with 5 levels (3 bits): a current cache of 48 int32
    ir.layers[0].neuron = _neuron(3, 5)
    assert memory.arena_breakdown(ir, "time") == {
        "counters": 44, "cache": 4 * 48, "acc": 0, "membrane": 20 + 12,  # 144 bits -> 20
        "activations": 8 + 4}


def test_unknown_schedule_is_refused() -> None:
    ir = modelgen.random_ir(np.random.default_rng(0))
    with pytest.raises(Exception, match="schedule"):
        memory.arena_bytes(ir, "fastest")
