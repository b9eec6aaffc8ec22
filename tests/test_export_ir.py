# SPDX-License-Identifier: MIT
"""Exporter pieces that work on a ModelIR alone: packing, pruning, the reference interpreter,
the C renderer. The IRs here are drawn in integers (tests/support/modelgen.py, seeded), so
these tests need no spq.nn; tests/test_export.py covers the checkpoint path end to end."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spq.errors import SpqError
from spq.export import reference
from spq.export.checks import check_ir
from spq.export.packing import pack_model, pack_rows, row_bytes, unpack_rows, weight_rows
from spq.export.render import check_name, default_name
from spq.export.shrink import remove_pruned
from spq.ir import QMAX, LayerIR, ModelIR, NeuronIR
from tests.support import modelgen
from tests.support.oracle import scalar_run

ROOT = Path(__file__).resolve().parent.parent
F = 16


# ------------------------------------------------------------------ random IR


def random_ir(seed: int, accept: Callable[[ModelIR], bool] = lambda ir: True,
              **kwargs: Any) -> ModelIR:
    """The first random integer model of tests/support/modelgen.py from ``seed`` that
    ``accept`` takes (drawn in integers, no spq.nn involved)."""
    return modelgen.random_ir_where(np.random.default_rng(seed), accept, **kwargs)


def random_inputs(ir: ModelIR, n: int, seed: int) -> np.ndarray:
    return modelgen.random_input(np.random.default_rng(seed), ir, n)


def types(ir: ModelIR) -> list[str]:
    return [la.type for la in ir.layers]


def spiking(ir: ModelIR) -> bool:
    """A neuron layer that pruning can shrink (not the spike readout's classes)."""
    return any(la.type in ("conv", "linear") for la in ir.layers)


def small(ir: ModelIR) -> bool:
    """Few enough multiply-adds for the scalar interpreter (pure Python loops)."""
    macs = sum(int(la.weight.size) * int(np.prod(la.out_shape[1:]))
               for la in ir.layers if la.weight is not None)
    return macs * ir.time_steps <= 40_000


# ------------------------------------------------------------------ packing


def pack_by_hand(values: list[int], bits: int) -> bytes:
    """One row, the spq.h rule written as a loop over bits."""
    per = 8 // bits
    out = bytearray(row_bytes(len(values), bits))
    for j, v in enumerate(values):
        field = v & ((1 << bits) - 1)
        out[j // per] |= field << (bits * (j % per))
    return bytes(out)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 17])
def test_pack_rows_matches_spec_and_round_trips(bits: int, n: int) -> None:
    rng = np.random.default_rng(bits * 100 + n)
    q = QMAX[bits]
    rows = rng.integers(-q, q + 1, size=(7, n))
    rows[0, :] = q
    rows[1, :] = -q
    packed = pack_rows(rows, bits)
    expect = b"".join(pack_by_hand([int(v) for v in r], bits) for r in rows)
    assert bytes(packed) == expect
    assert packed.size == 7 * row_bytes(n, bits)
    np.testing.assert_array_equal(unpack_rows(packed, 7, n, bits), rows)


@settings(max_examples=60, deadline=None)
@given(bits=st.sampled_from([2, 4, 8]), r=st.integers(1, 6), n=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1))
def test_pack_unpack_property(bits: int, r: int, n: int, seed: int) -> None:
    q = QMAX[bits]
    rows = np.random.default_rng(seed).integers(-q, q + 1, size=(r, n))
    packed = pack_rows(rows, bits)
    assert packed.dtype == np.uint8 and packed.size == r * row_bytes(n, bits)
    np.testing.assert_array_equal(unpack_rows(packed, r, n, bits), rows)
    assert bytes(packed[: row_bytes(n, bits)]) == pack_by_hand([int(v) for v in rows[0]], bits)


def test_pack_known_bytes() -> None:
    # 4 bit: element 0 in the low nibble: [1, -1] -> 0xF1; [-8 is out of range], [7, -7] -> 0x97
    assert bytes(pack_rows(np.array([[1, -1], [7, -7]]), 4)) == bytes([0xF1, 0x97])
    # 2 bit: -1 = 0b11, lowest bits first: [-1, 0, 1, -1] -> 0b11_01_00_11 = 0xD3
    assert bytes(pack_rows(np.array([[-1, 0, 1, -1]]), 2)) == bytes([0xD3])
    # padding: 5 values of 2 bit take 2 bytes, the unused fields are 0
    assert bytes(pack_rows(np.array([[1, 1, 1, 1, -1]]), 2)) == bytes([0x55, 0x03])
    # 8 bit: two's complement bytes
    assert bytes(pack_rows(np.array([[-127, 127, -1]]), 8)) == bytes([0x81, 0x7F, 0xFF])


def test_weight_rows_order() -> None:
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)  # (O, I, kh, kw)
    la = LayerIR(type="conv", name="c", in_shape=(3, 4, 4), out_shape=(2, 3, 3), weight=w)
    rows = weight_rows(la)
    # [ci][ky][kx][co]: row index ci*4 + ky*2 + kx holds w[:, ci, ky, kx]
    for ci in range(3):
        for ky in range(2):
            for kx in range(2):
                assert list(rows[ci * 4 + ky * 2 + kx]) == [w[0, ci, ky, kx], w[1, ci, ky, kx]]
    lin = LayerIR(type="linear", name="l", in_shape=(3,), out_shape=(2,),
                  weight=np.array([[1, 2, 3], [4, 5, 6]]))
    assert weight_rows(lin).tolist() == [[1, 4], [2, 5], [3, 6]]


# ------------------------------------------------------------------ reference vs scalar


@pytest.mark.parametrize("seed,kind", [(s, ("events", "static")[s % 2]) for s in range(1, 11)])
def test_reference_matches_scalar_interpreter(seed: int, kind: str) -> None:
    ir = random_ir(seed, lambda ir: small(ir) and spiking(ir), input_kind=kind)
    x = random_inputs(ir, 2, seed)
    res = reference.run(pack_model(ir), x)
    total_spikes = 0
    for s in range(2):
        logits, trains = scalar_run(ir, x[s])
        assert res.logits_int[s].tolist() == logits
        for got, want in zip(res.spikes, trains, strict=True):
            np.testing.assert_array_equal(got[s], want)
            total_spikes += int(want.sum())
    assert total_spikes > 0  # the models are not silent: the comparison means something


def test_reference_synops_count_borders_and_static_once() -> None:
    # conv 3x3, pad 1 on a 3x3 image: the centre pixel reaches all 9 outputs, a corner 4
    w = np.ones((2, 1, 3, 3), dtype=np.int8)
    neuron = NeuronIR(mult=np.zeros(2, np.int32), shift=np.zeros(2, np.int32),
                      bias=np.zeros(2, np.int32), leak=0, levels=3, lo=-1, hi=1, reset="hard")
    conv = LayerIR(type="conv", name="c", in_shape=(1, 3, 3), out_shape=(2, 3, 3), weight=w,
                   weight_bits=2, in_kind="u8", max_in=255, kernel=3, stride=1, padding=1,
                   acc_bits=16, neuron=neuron)
    ro = LayerIR(type="readout", name="r", in_shape=(18,), out_shape=(2,),
                 weight=np.zeros((2, 18), np.int8), weight_bits=2, acc_bits=16,
                 readout_bias=np.array([5, -7], np.int32))
    ir = ModelIR(name="m", input_kind="static", input_shape=(1, 3, 3), time_steps=4,
                 num_classes=2, out_scale=1.0, layers=[conv, ro])
    check_ir(ir)
    x = np.zeros((1, 1, 3, 3), np.uint8)
    x[0, 0, 1, 1] = 9
    x[0, 0, 0, 0] = 200
    res = reference.run(pack_model(ir), x)
    assert res.synops[0].tolist() == [(9 + 4) * 2, 0]  # once per inference, not per step
    assert res.logits_int[0].tolist() == [4 * 5, 4 * -7]


# ------------------------------------------------------------------ pruning


@pytest.mark.parametrize("seed", range(10, 22))
def test_pruned_model_gives_identical_integers(seed: int) -> None:
    kind = "static" if seed % 2 else "events"
    ir = modelgen.prune_randomly(np.random.default_rng(seed),
                                 random_ir(seed, spiking, input_kind=kind))
    pruned = remove_pruned(ir)
    check_ir(pruned)
    removed = sum(a.out_shape[0] - b.out_shape[0] for a, b in zip(ir.layers, pruned.layers,
                                                                   strict=True))
    x = random_inputs(ir, 4, seed)
    full = reference.run(pack_model(ir), x)
    small = reference.run(pack_model(pruned), x)
    np.testing.assert_array_equal(full.logits_int, small.logits_int)
    neurons = [la for la in pruned.layers if la.neuron is not None]
    for la, a, b in zip(neurons, full.spikes, small.spikes, strict=True):
        assert la.kept_channels is not None
        np.testing.assert_array_equal(a[:, :, la.kept_channels], b)
        others = [c for c in range(a.shape[2]) if c not in la.kept_channels]
        assert not a[:, :, others].any()  # pruned channels never spike
    np.testing.assert_array_equal(full.spike_counts, small.spike_counts)
    if removed:
        assert pack_model(pruned).weights_bytes <= pack_model(ir).weights_bytes


def test_prune_drops_flatten_feature_blocks() -> None:
    ir = random_ir(7, lambda ir: types(ir)[:2] == ["conv", "linear"]
                   and ir.layers[0].out_shape[0] >= 2)
    conv, fc = ir.layers[0], ir.layers[1]
    assert conv.type == "conv" and fc.type == "linear" and conv.neuron is not None
    c, h, w = conv.out_shape
    conv.kept_channels = [c - 1]
    pruned = remove_pruned(ir)
    assert pruned.layers[0].out_shape == (1, h, w)
    assert pruned.layers[1].in_shape == (h * w,)
    assert fc.weight is not None and pruned.layers[1].weight is not None
    np.testing.assert_array_equal(pruned.layers[1].weight, fc.weight[:, (c - 1) * h * w:])
    assert ir.layers[0].out_shape == (c, h, w)  # the input IR is untouched


def test_prune_everything_is_refused() -> None:
    ir = random_ir(8, lambda ir: types(ir)[0] in ("conv", "linear"))
    ir.layers[0].kept_channels = []
    with pytest.raises(SpqError, match=r"all .* channels are pruned"):
        remove_pruned(ir)


# ------------------------------------------------------------------ IR checks


def _broken(change: str) -> ModelIR:
    ir = random_ir(9, lambda ir: types(ir)[0] == "conv", input_kind="events")
    conv = ir.layers[0]
    assert conv.neuron is not None
    if change == "bits":
        conv.weight_bits = 3
    elif change == "weight_range":
        assert conv.weight is not None
        conv.weight_bits = 2
        conv.weight[0, 0, 0, 0] = 2
    elif change == "levels":
        conv.neuron.levels = 300
    elif change == "range":
        conv.neuron.lo = -5
    elif change == "order":
        ir.layers.insert(0, LayerIR(type="maxpool", name="p", in_shape=ir.input_shape,
                                    out_shape=ir.input_shape, pool=1))
    elif change == "type":
        conv.type = "attention"  # type: ignore[assignment]
    elif change == "no_readout":
        ir.layers.pop()
    elif change == "shift":
        conv.neuron.shift[0] = 63
    elif change == "shape":
        conv.out_shape = (conv.out_shape[0], 99, 99)
    return ir


@pytest.mark.parametrize("change,match", [
    ("bits", "weight_bits 3"), ("weight_range", "outside"), ("levels", "levels 300"),
    ("range", "membrane range"), ("order", "pool may only follow"),
    ("type", "unsupported layer type"), ("no_readout", "last layer must be a readout"),
    ("shift", "shift"), ("shape", "output shape"),
])
def test_check_ir_refuses(change: str, match: str) -> None:
    with pytest.raises(SpqError, match=match):
        check_ir(_broken(change))


def test_names() -> None:
    assert default_name(Path("my-net.v2.pt")) == "my_net"
    assert default_name(Path("3layers.pt")) == "model_3layers"
    assert default_name(Path("int.pt")) == "model_int"
    assert check_name("digits_4b") == "digits_4b"
    for bad in ("4x", "a-b", "", "static", "spq_x", "_x"):
        with pytest.raises(SpqError):
            check_name(bad)


# ------------------------------------------------------------------ generated C


def _compilers() -> list[str]:
    return [cc for cc in ("gcc", "clang") if shutil.which(cc)]


def test_generated_c_compiles_warning_free(tmp_path: Path) -> None:
    from spq.export.manifest import render_files

    assert _compilers(), "gcc or clang is required"
    ir = modelgen.prune_randomly(np.random.default_rng(21), random_ir(
        21, lambda ir: types(ir).count("conv") >= 2 and spiking(ir), input_kind="static"))
    pruned = remove_pruned(ir)
    pruned.name = "net21"
    packed = pack_model(pruned, "time", 1234)
    manifest = _fake_manifest(ir, pruned, packed)
    header, source = render_files(manifest, packed)
    (tmp_path / "net21.h").write_text(header)
    (tmp_path / "net21.c").write_text(source)
    use = tmp_path / "use.c"
    use.write_text(
        '#include "net21.h"\n'
        "static uint8_t arena[net21_ARENA_SIZE];\n"
        "static const uint8_t input[net21_INPUT_BYTES];\n"
        "int use(void);\n"
        "int use(void) { return (int)(net21_model.num_layers + arena[0] + input[0])\n"
        "    + net21_NUM_LAYERS + net21_NUM_CLASSES + net21_TIME_STEPS + net21_INPUT_KIND; }\n"
    )
    for cc in _compilers():
        for src in ("net21.c", "use.c"):
            proc = subprocess.run(
                [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", src,
                 "-I", str(ROOT / "runtime_c" / "include"), "-o", f"{src}.{cc}.o"],
                cwd=tmp_path, capture_output=True, text=True, check=False,
            )
            assert proc.returncode == 0, proc.stderr
            assert proc.stderr == ""
    assert f"{packed.arena_bytes}" in header
    assert "sha256: " + "ab" * 32 in header


def _fake_manifest(ir: ModelIR, pruned: ModelIR, packed: object) -> dict:
    from spq.export.manifest import build_manifest

    mem = {"arena_bytes": 1234, "membrane_bytes": 10, "schedule": "time",
           "arena_bytes_time": 1234, "arena_bytes_layer": 2000}
    verified = {"inputs": 0, "bit_exact": None, "seed": 0}
    return build_manifest(ir, pruned, packed, Path("net21.pt"), "ab" * 32, mem,  # type: ignore[arg-type]
                          verified, None)
