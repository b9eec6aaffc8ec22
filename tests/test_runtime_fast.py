# SPDX-License-Identifier: MIT
"""Every optimised kernel of the C runtime against the independent reference (modelgen's
numpy semantics) on randomized integer models built to reach it, with each kernel choice
forced on or off by the build flags of runtime_c/src/spq_target.h:

* host, ASan/UBSan: the portable fast kernels and the reference kernels (-DSPQ_REFERENCE);
* QEMU Cortex-M3 (Thumb-2 assembly, and its portable C with -DSPQ_NO_THUMB2), M4, M7 and
  M33 (DSP + Thumb-2; -DSPQ_NO_DSP), M55 (Helium; -DSPQ_NO_MVE) and M0 (ARMv6-M: the
  portable C kernels) against the host runtime.

The cases cover the window-row (lut) first layer (its Thumb-2 rows, the Helium layer on
rows of up to 32 bits and the Helium rows for 32 channels, other widths, 1- and 2-bit
membranes), the fused 4-bit conv (the kernel-3 / 32-channel assembly and Helium windows,
in_c above one byte chunk, other kernels, strides and widths, no outcome table; the Helium
kernel-3 / 16->32 conv also on models of its own: 8-bit outcome window, dense input,
padding 0), static layers (value conv, ranks, cached spike trains for T <= 8 with and
without a max pool after them, also over an odd map whose last row and column the pool
drops; current cache), the 2x2 max pools on halfword and word channel runs (and their Helium
versions, tails predicated), sum pools and the readout's finishes (the offset-binary rows,
portable and Helium, and the plane-wise gather). spq_init must refuse each kernel table when
one entry is wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spq.export import packing, tables
from spq.export.directory import open_export
from spq.ir import QMAX, LayerIR, ModelIR, acc_bits
from spq.tools.boards import get_board
from spq.tools.device import differences, host_reference, run_on_device
from tests.support import modelgen

# conv: (out_c, kernel, stride, padding, weight bits, levels)
Conv = tuple[int, int, int, int, int, int]
# (name, input kind, in_c, H, W, T, conv1, pool1, conv2, pool2, readout weight bits)
CASES: list[tuple[str, str, int, int, int, int, Conv, str | None, Conv, str | None, int]] = [
    ("lut16", "events", 2, 12, 12, 3, (16, 3, 1, 1, 4, 3), "max", (32, 3, 1, 1, 4, 3), "max", 4),
    ("lut12", "events", 1, 9, 11, 4, (12, 3, 2, 1, 2, 2), "sum", (8, 1, 1, 0, 4, 4), None, 8),
    ("w8c1", "events", 2, 10, 10, 2, (8, 3, 1, 1, 8, 16), "max", (40, 3, 1, 1, 4, 3), None, 2),
    ("in24", "events", 3, 8, 8, 3, (24, 1, 1, 0, 4, 3), None, (32, 3, 2, 1, 4, 2), "max", 4),
    ("k5", "events", 2, 11, 9, 2, (16, 3, 1, 1, 4, 4), "max", (32, 5, 1, 2, 4, 3), None, 4),
    ("oc64", "events", 1, 8, 8, 2, (8, 3, 1, 1, 4, 3), None, (64, 3, 1, 1, 4, 4), "max", 4),
    ("notab", "events", 2, 8, 8, 2, (8, 3, 1, 1, 4, 3), None, (32, 3, 1, 1, 4, 17), "max", 4),
    ("st16", "static", 3, 10, 10, 8, (16, 3, 1, 1, 4, 3), "max", (32, 3, 1, 1, 4, 3), "max", 4),
    ("st24", "static", 2, 9, 9, 10, (24, 3, 1, 1, 4, 4), None, (16, 3, 1, 1, 4, 2), None, 4),
    ("stcur", "static", 1, 7, 7, 3, (8, 3, 1, 1, 4, 16), "max", (8, 3, 1, 1, 4, 3), None, 8),
    ("stdsp", "static", 3, 16, 16, 8, (16, 3, 1, 1, 4, 3), "max", (16, 3, 1, 1, 4, 3), None, 4),
    # the Helium window-row layer on rows of exactly 32 bits (1 and 2 input channels), and
    # 32 channels (Helium rows of spq_conv_lut)
    ("lutc1", "events", 1, 5, 32, 2, (16, 3, 1, 1, 2, 3), None, (8, 1, 1, 0, 4, 3), None, 4),
    ("lutw16", "events", 2, 3, 16, 3, (16, 3, 1, 1, 4, 3), None, (8, 1, 1, 0, 4, 3), None, 4),
    ("lut32", "events", 2, 6, 7, 2, (32, 3, 1, 1, 2, 3), "max", (16, 3, 1, 1, 4, 3), None, 4),
    ("stk1", "static", 4, 6, 6, 5, (16, 3, 1, 1, 4, 3), None, (16, 3, 1, 1, 4, 3), "max", 4),
    ("stodd", "static", 1, 7, 9, 3, (16, 3, 1, 1, 4, 2), "max", (16, 3, 1, 1, 4, 3), None, 4),
    ("st8", "static", 2, 6, 6, 4, (8, 3, 1, 1, 4, 3), "max", (16, 3, 1, 1, 4, 3), None, 4),
    ("flat", "events", 2, 4, 4, 5, (8, 3, 1, 1, 4, 3), "max", (64, 3, 1, 1, 4, 3), "max", 4),
]

# readout classes (7 unless listed): the offset-binary readout rows (spq_readout_x, Helium
# spq_readout_x_mve) with one to four words of classes (3, 6, 10, 13) on maps of 32 or 64
# channels per position, on a flat map (64 channels at 1 x 1: "flat"), and the plane-wise
# gather finish: no table (23 classes), maps of 16 channels (st24, stdsp), 2-bit weights
READOUT_CLASSES = {"lut16": 10, "in24": 13, "k5": 6, "oc64": 23, "st16": 10, "notab": 3,
                   "flat": 5}


# threshold level D = hi above 1 (docs/semantics.md: spike at V >= hi * 2^F) for some
# layers, (case, conv index) -> hi: the outcome, rank and lut paths with levels above 3
THRESHOLD_LEVEL = {("lut16", 0): 2, ("k5", 0): 2, ("oc64", 1): 3, ("st24", 0): 2,
                   ("st16", 1): 2, ("stdsp", 0): 2}


def _conv(rng: np.random.Generator, i: int, cur: tuple[int, int, int], spec: Conv,
          in_kind: str, max_in: int, hi: int = 1) -> LayerIR:
    out_c, k, s, p, bits, levels = spec
    c, h, w = cur
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    fan_in = c * k * k
    layer = LayerIR(type="conv", name=f"conv{i}", in_shape=cur, out_shape=(out_c, oh, ow),
                    weight=modelgen._weights(rng, (out_c, c, k, k), bits), weight_bits=bits,
                    in_kind=in_kind, max_in=max_in,  # type: ignore[arg-type]
                    kernel=k, stride=s, padding=p,
                    acc_bits=acc_bits(fan_in, bits, max_in))
    std = max(1.0, (fan_in * 0.3) ** 0.5 * QMAX[bits] * max_in * 0.5)
    n = modelgen._neuron(rng, out_c, std)
    if hi > 1:  # currents in units of theta / D: scaled up so that neurons still fire
        n.mult = np.clip(n.mult.astype(np.int64) * hi, -(2**31) + 1, 2**31 - 1).astype(np.int32)
    n.levels, n.lo, n.hi = levels, hi + 1 - levels, hi
    layer.neuron = n
    return layer


def _pool(i: int, cur: tuple[int, int, int], typ: str) -> LayerIR:
    c, h, w = cur
    return LayerIR(type="maxpool" if typ == "max" else "sumpool", name=f"pool{i}",
                   in_shape=cur, out_shape=(c, h // 2, w // 2), pool=2, kernel=2, stride=2,
                   in_kind="spike")


def fast_ir(case: tuple[Any, ...], seed: int) -> ModelIR:
    name, kind, in_c, H, W, T, c1, p1, c2, p2, rbits = case
    rng = np.random.default_rng(seed)
    in_kind, max_in = ("u8", 255) if kind == "static" else ("spike", 1)
    cur: tuple[int, int, int] = (in_c, H, W)
    layers: list[LayerIR] = []
    for j, (spec, pool) in enumerate(((c1, p1), (c2, p2))):
        layer = _conv(rng, len(layers), cur, spec, in_kind, max_in,
                      THRESHOLD_LEVEL.get((name, j), 1))
        layers.append(layer)
        cur = layer.out_shape  # type: ignore[assignment]
        in_kind, max_in = "spike", 1
        if pool is not None:
            layers.append(_pool(len(layers), cur, pool))
            cur = layers[-1].out_shape  # type: ignore[assignment]
            if pool == "sum":
                in_kind, max_in = "count", 4
    feats = int(np.prod(cur))
    classes = READOUT_CLASSES.get(name, 7)
    readout = LayerIR(type="readout", name="readout", in_shape=(feats,), out_shape=(classes,),
                      weight=modelgen._weights(rng, (classes, feats), rbits), weight_bits=rbits,
                      in_kind=in_kind, max_in=max_in,  # type: ignore[arg-type]
                      kernel=1, stride=1, padding=0,
                      acc_bits=acc_bits(feats, rbits, max_in))
    readout.readout_bias = rng.integers(-3000, 3001, size=classes).astype(np.int32)
    layers.append(readout)
    return ModelIR(name=name, input_kind=kind, input_shape=(in_c, H, W),  # type: ignore[arg-type]
                   time_steps=T, num_classes=classes, out_scale=0.125, layers=layers)


def _inputs(ir: ModelIR, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    C, H, W = ir.input_shape
    if ir.input_kind == "static":
        q = rng.integers(0, 256, size=(n, C, H, W))
        return (q * (rng.random((n, C, H, W)) > 0.3)).astype(np.uint8)
    return (rng.random((n, ir.time_steps, C, H, W)) < 0.25).astype(np.uint8)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ModelIR, Path]]:
    root = tmp_path_factory.mktemp("fast")
    out = {}
    for i, case in enumerate(CASES):
        ir = fast_ir(case, 900 + i)
        out[ir.name] = (ir, modelgen.write_export(ir, root / ir.name, firmware=True))
    return out


def _packed(ir: ModelIR) -> list[packing.PackedLayer]:
    return [tables.add_tables(packing.pack_layer(layer)) for layer in ir.layers
            if layer.neuron is not None]


def _static_trains(pl: packing.PackedLayer, T: int) -> bool:
    """spq_static_trains_ok (runtime_c/src/spq_conv.c): a static layer whose spike trains are
    cached."""
    return (pl.breaks is not None and pl.outcome_bits == 5 and T <= 8
            and pl.out_c * pl.out_h * pl.out_w <= 0xFFFF and 1 <= pl.level_bits <= 2)


def _static_dsp(pl: packing.PackedLayer, T: int) -> bool:
    """The SMLAD value conv (runtime_c/src/spq_static_dsp.c) of a static layer whose trains
    are cached, its weight pairs of a shape it takes (spq_static_pairs_bytes)."""
    pairs = (pl.in_c * pl.kernel * pl.kernel + 1) // 2
    return (_static_trains(pl, T) and pl.weight_bits == 4 and pl.out_c % 16 == 0
            and pairs <= 32)


def _static_mve(pl: packing.PackedLayer, T: int) -> bool:
    """spq_static_mve_ok (runtime_c/src/spq_static_mve.c): the weights as bytes, the taps
    padded to 16, fit the weight pairs' scratch."""
    taps = pl.in_c * pl.kernel * pl.kernel
    return _static_dsp(pl, T) and (taps + 15) // 16 * 16 <= 4 * ((taps + 1) // 2)


def _static_rows_mve(pl: packing.PackedLayer, T: int) -> bool:
    """spq_static_trains_mve (runtime_c/src/spq_static_mve.c): where spq_static_offsets_mve
    makes the taps' offsets (17 to 32 taps; they and 64 B of spike counters after the weight
    bytes in the pairs' scratch, pixels within 64 KiB)."""
    taps, k = pl.in_c * pl.kernel * pl.kernel, pl.kernel
    pairs_bytes = 4 * ((taps + 1) // 2) * pl.out_c
    return (_static_mve(pl, T) and 16 < taps <= 32 and 32 * pl.out_c + 6 * 32 + 64 <= pairs_bytes
            and ((pl.in_c - 1) * pl.in_h + k - 1) * pl.in_w + k - 1 <= 0xFFFF)


def _mve_k3(pl: packing.PackedLayer) -> bool:
    """spq_w4_k3_mve_ok (runtime_c/src/spq_conv_w4_mve.c): the Helium conv kernel for kernel
    3, stride 1, 16 input and 32 output channels, 2-bit membranes and an outcome table."""
    return (pl.weights_x is not None and pl.outcome is not None and pl.kernel == 3
            and pl.stride == 1 and pl.in_c == 16 and pl.out_c == 32 and pl.level_bits == 2
            and 7 <= pl.outcome_bits <= 8 and pl.out_w <= 255
            and 4 * pl.weights_x.size == 16 * 9 * 32 + 4 * 16 * 9 * 32)  # with the nibble sums


def _lut_mve(pl: packing.PackedLayer) -> bool:
    """spq_conv_lut_mve_ok (runtime_c/src/spq_conv_lut_mve.c): the Helium window-row layer."""
    return (pl.out_c == 16 and pl.level_bits == 2 and pl.outcome_bits == 8
            and (pl.kernel, pl.stride, pl.padding) == (3, 1, 1) and pl.in_c * pl.in_w <= 32
            and pl.in_w <= 32 and (pl.out_h, pl.out_w) == (pl.in_h, pl.in_w))


def test_cases_reach_every_kernel(cases: dict[str, tuple[ModelIR, Path]]) -> None:
    """The exporter's rules (which the runtime checks again) give each kernel a case."""
    seen = set()
    for ir, _ in cases.values():
        for pl in _packed(ir):
            if pl.lut is not None:
                seen.add(("lut", pl.out_c, pl.kernel))
                if _lut_mve(pl):
                    seen.add(("lut", "mve", pl.in_c, pl.in_c * pl.in_w == 32))
            if pl.weights_x is not None:
                seen.add(("w4", pl.kernel == 3 and pl.out_c == 32 and pl.in_c <= 17,
                          pl.outcome is not None))
                if _mve_k3(pl):
                    seen.add(("w4", "mve k3"))
                if pl.in_c > 17:
                    seen.add(("w4", "chunks"))
                if pl.out_c % 32:
                    seen.add(("w4", "narrow"))
            if pl.breaks is not None:
                trains = _static_trains(pl, ir.time_steps)
                seen.add(("rank", trains))
                if _static_dsp(pl, ir.time_steps):
                    seen.add(("rank", "dsp"))
                elif trains:
                    seen.add(("rank", "window"))
                if _static_mve(pl, ir.time_steps):  # by the taps padded: 16, 32, more
                    seen.add(("rank", "mve", min((pl.in_c * pl.kernel ** 2 + 15) // 16, 3)))
                if _static_rows_mve(pl, ir.time_steps):
                    seen.add(("rank", "mve rows"))
                if trains:  # the trains after the max pool (of an odd map) or unpooled
                    pool = ir.layers[1] if ir.layers[1].type == "maxpool" else None
                    seen.add(("trains", pool is not None))
                    if pool is not None and (pl.out_h % 2 or pl.out_w % 2):
                        seen.add(("trains", "odd"))
            if pl.in_kind == "u8" and pl.breaks is None:
                seen.add(("current",))
        for layer in ir.layers:  # the Helium 2x2 max pools, a tail-predicated step included
            if layer.type == "maxpool" and layer.in_shape[0] in (16, 32):
                seen.add(("maxpool", layer.in_shape[0], layer.out_shape[2] % 4 != 0))
        readout, prev = ir.layers[-1], ir.layers[-2]
        feats, classes, map_c = readout.in_shape[0], ir.num_classes, prev.out_shape[0]
        if readout.in_kind != "spike":
            continue
        if not tables.readout_x_applies("readout", "spike", readout.weight_bits, feats,
                                        classes):
            seen.add(("readout", "gather"))
        elif feats % 32 == 0 and (map_c % 32 == 0 or map_c == feats):  # spq_readout_finish
            seen.add(("readout_x", (classes + 3) // 4, map_c == feats))
        else:
            seen.add(("readout_x", "gather"))
    want = {("lut", 16, 3), ("lut", 12, 3), ("lut", 32, 3), ("lut", "mve", 1, True),
            ("lut", "mve", 2, True), ("lut", "mve", 2, False), ("w4", True, True),
            ("w4", False, True), ("w4", True, False), ("w4", "chunks"), ("w4", "narrow"),
            ("rank", True), ("rank", False), ("rank", "dsp"), ("rank", "window"),
            ("rank", "mve", 1), ("rank", "mve", 2), ("rank", "mve", 3), ("rank", "mve rows"),
            ("trains", True),
            ("trains", False), ("trains", "odd"), ("current",), ("w4", "mve k3"),
            ("maxpool", 16, True), ("maxpool", 32, True), ("readout", "gather"),
            ("readout_x", 1, False), ("readout_x", 2, False), ("readout_x", 3, False),
            ("readout_x", 4, False), ("readout_x", 2, True), ("readout_x", "gather")}
    assert want <= seen, want - seen


def _host_check(objs: list[str], ir: ModelIR, out: Path, x: np.ndarray) -> None:
    from tests.test_runtime_c import _driver_inputs, _run_driver

    refs = [modelgen.reference(ir, xi) for xi in x]
    assert sum(int(r["spikes"].sum()) for r in refs) > 0, ir.name
    logits = np.stack([r["logits_int"] for r in refs])
    neuron = [i for i, layer in enumerate(ir.layers) if layer.neuron is not None]
    spikes = np.stack([r["spikes"][neuron] for r in refs])
    stdout = _run_driver(objs, out, ir.name, _driver_inputs(out, x, logits, spikes))
    got = {(int(f[1]), int(f[2])): int(f[3]) for f in
           (line.split() for line in stdout.splitlines()) if f and f[0] == "synops"}
    want = {(k, i): int(r["synops"][i]) for k, r in enumerate(refs)
            for i in range(len(ir.layers))}
    assert got == want, ir.name


@pytest.mark.parametrize("defines", [(), ("-DSPQ_REFERENCE",)], ids=["fast", "reference"])
def test_host_builds_equal_reference(defines: tuple[str, ...],
                                     cases: dict[str, tuple[ModelIR, Path]],
                                     tmp_path: Path) -> None:
    """ASan/UBSan builds: logits, spike counts (both schedules, streaming) and synops."""
    from tests.test_runtime_c import _sanitized_objects

    objs = _sanitized_objects(tmp_path, defines)
    for i, (ir, out) in enumerate(cases.values()):
        _host_check(objs, ir, out, _inputs(ir, 3, 40 + i))


# every core's kernel families, and each forced off
VARIANTS = [
    ("mps2-an385", ()), ("mps2-an385", ("-DSPQ_NO_THUMB2",)),
    ("mps2-an386", ()), ("mps2-an386", ("-DSPQ_NO_DSP",)), ("mps2-an386", ("-DSPQ_NO_THUMB2",)),
    ("mps2-an500", ()), ("mps2-an505", ()),
    ("mps3-an547", ()), ("mps3-an547", ("-DSPQ_NO_MVE",)),
    ("microbit", ()),  # Cortex-M0 (ARMv6-M): the portable C kernels, no Thumb-2 assembly
]


@pytest.mark.qemu
@pytest.mark.parametrize("board_name,flags", VARIANTS,
                         ids=[f"{b}{''.join(f)}" for b, f in VARIANTS])
def test_qemu_variants_equal_host(board_name: str, flags: tuple[str, ...],
                                  cases: dict[str, tuple[ModelIR, Path]]) -> None:
    board = get_board(board_name)
    for i, (ir, out) in enumerate(cases.values()):
        x = _inputs(ir, 2, 70 + i)
        export = open_export(out)
        run = run_on_device(export, board, x, timeout=120, extra_cflags=flags)
        assert differences(run.results, host_reference(export, x), export) == [], ir.name


# ------------------------------------------------------- the Helium kernel-3 conv
# (name, H, W, T, padding, input density, mult divisor (a wider outcome window), outcome bits)
K3_CASES = [
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
def test_mve_k3_kernel_equals_host(tmp_path: Path) -> None:
    """The Helium kernel-3 conv (spq_conv_w4_k3_mve) on the M55 against the host on models
    built for its other branches: an outcome window of 8 bits, dense input (more than 8 set
    channels at a position: the generic row loop, byte lanes flushed inside a window),
    padding 0, odd map sizes."""
    board = get_board("mps3-an547")
    for i, case in enumerate(K3_CASES):
        ir = k3_ir(case, 300 + i)
        pl = tables.add_tables(packing.pack_layer(ir.layers[0]))
        assert _mve_k3(pl) and pl.outcome_bits == case[7], case  # the kernel, both widths
        out = modelgen.write_export(ir, tmp_path / ir.name, firmware=True)
        rng = np.random.default_rng(90 + i)
        x = (rng.random((2, ir.time_steps, *ir.input_shape)) < case[5]).astype(np.uint8)
        export = open_export(out)
        run = run_on_device(export, board, x, timeout=120)
        assert differences(run.results, host_reference(export, x), export) == [], ir.name
        ref = [modelgen.reference(ir, xi) for xi in x]
        assert sum(int(r["spikes"].sum()) for r in ref) > 0, ir.name


# the Helium static layer (spq_static_mve.c), one firmware per model on the M55 (not in CASES:
# CI time): all positions in one loop (spq_static_trains_mve) with 2 blocks of 16 channels
# on an odd map under a max pool (the last row and column outside it), with stride 2,
# padding 2, kernel 5 and no pool; the position-wise path with 32 taps from a pixel buffer
# (18 taps: no room for the offsets)
STATIC_MVE_CASES = [
    ("strows", "static", 3, 7, 9, 5, (32, 3, 1, 1, 4, 3), "max", (16, 3, 1, 1, 4, 3), None, 4),
    ("strows5", "static", 1, 11, 8, 3, (16, 5, 2, 2, 4, 2), None, (16, 3, 1, 1, 4, 3), None, 4),
    ("stbuf", "static", 2, 6, 7, 8, (16, 3, 1, 1, 4, 3), "max", (16, 3, 1, 1, 4, 3), None, 4),
    # 18 taps in the one loop (64 channels leave room for the offsets): the window's last
    # gather has no lane inside the 18 taps
    ("st18", "static", 2, 6, 5, 4, (64, 3, 1, 1, 4, 3), "max", (16, 3, 1, 1, 4, 3), None, 4),
]


@pytest.mark.qemu
def test_mve_static_kernels_equal_host(tmp_path: Path) -> None:
    """The Helium static layer's branches that CASES does not reach, on the M55 against the
    host."""
    board = get_board("mps3-an547")
    for i, case in enumerate(STATIC_MVE_CASES):
        ir = fast_ir(case, 400 + i)
        pl = _packed(ir)[0]
        assert _static_mve(pl, ir.time_steps), case
        assert _static_rows_mve(pl, ir.time_steps) == (case[0] != "stbuf"), case
        out = modelgen.write_export(ir, tmp_path / ir.name, firmware=True)
        x = _inputs(ir, 2, 95 + i)
        export = open_export(out)
        run = run_on_device(export, board, x, timeout=120)
        assert differences(run.results, host_reference(export, x), export) == [], ir.name
        ref = [modelgen.reference(ir, xi) for xi in x]
        assert sum(int(r["spikes"][0]) for r in ref) > 0, ir.name


# ------------------------------------------------- 1-bit membranes through the table fires
# the window-row layer (byte lanes: spq_fire8_b1) and the fused 4-bit layer (pair words:
# spq_fire16_b1_n*) with two membrane levels and out_c a multiple of 32 (no CASES entry has
# both; spq_fire_b1 is one 16-channel block per iteration)
B1_CASE = ("fireb1", "events", 1, 9, 7, 4, (32, 3, 1, 1, 2, 2), None, (64, 3, 2, 1, 4, 2),
           "max", 4)


@pytest.mark.qemu
def test_one_bit_fire_equals_reference(tmp_path: Path) -> None:
    """Host ASan/UBSan build against the numpy reference, the M3 against the host."""
    from tests.test_runtime_c import _sanitized_objects

    ir = fast_ir(B1_CASE, 500)
    lut, wx = _packed(ir)
    assert lut.lut is not None and lut.level_bits == 1 and lut.outcome_bits == 8
    assert wx.weights_x is not None and wx.level_bits == 1 and wx.outcome is not None
    assert lut.out_c % 32 == 0 and wx.out_c % 32 == 0  # else the reference update runs
    out = modelgen.write_export(ir, tmp_path / ir.name, firmware=True)
    x = _inputs(ir, 3, 11)
    _host_check(_sanitized_objects(tmp_path, ()), ir, out, x)
    export = open_export(out)
    run = run_on_device(export, get_board("mps2-an385"), x, timeout=120)
    assert differences(run.results, host_reference(export, x), export) == [], ir.name


# ------------------------------------------------------------------- corrupted tables
def _tamper(src: str, array: str) -> str:
    """Change the first element of `array` in a generated C file that differs once changed
    (its value + 1, or - 1 for the largest values)."""
    m = re.search(rf"{array}\[\d+\] = \{{([^}}]*)\}}", src)
    assert m, array
    vals = m.group(1).split(",")
    v = vals[0].strip()
    num = int(v.rstrip("u"))
    new = str(num - 1 if num > 0 else num + 1) + ("u" if v.endswith("u") else "")
    vals[0] = " " + new if vals[0].startswith(" ") else new
    return src[:m.start(1)] + ",".join(vals) + src[m.end(1):]


def _short_size(src: str, array: str) -> str:
    """The descriptor's recorded size of `array` one byte short (sizeof - 1)."""
    assert src.count(f"sizeof {array},") + src.count(f"sizeof {array}}}") == 1, array
    return src.replace(f"sizeof {array},", f"sizeof {array} - 1u,").replace(
        f"sizeof {array}}}", f"sizeof {array} - 1u}}")


TABLES = [("lut16", "lut16_o0"), ("lut16", "lut16_ob2"), ("lut16", "lut16_lut0"),
          ("lut16", "lut16_wx2"), ("lut16", "lut16_wx4"), ("st16", "st16_br0"),
          ("st16", "st16_o0")]


@pytest.mark.parametrize("edit", ["entry", "size"])
@pytest.mark.parametrize("case,array", TABLES)
def test_init_refuses_a_wrong_table(case: str, array: str, edit: str,
                                    cases: dict[str, tuple[ModelIR, Path]],
                                    tmp_path: Path) -> None:
    """One entry of one kernel table changed, or its recorded size (`<table>_bytes`) one
    byte short of what the layer addresses: spq_init fails (before any inference)."""
    ir, out = cases[case]
    src = (out / f"{case}.c").read_text()
    _assert_init_fails(ir, out, case, _tamper(src, array) if edit == "entry"
                       else _short_size(src, array), tmp_path)


def _assert_init_fails(ir: ModelIR, out: Path, case: str, text: str, tmp_path: Path) -> None:
    """The export `out` of `ir` (model `case`) with its NAME.c replaced by `text`, built for the
    host: spq_init fails."""
    import subprocess

    from tests.test_runtime_c import INCLUDES, SOURCES, WARN, _run

    bad = tmp_path / case
    bad.mkdir()
    (bad / f"{case}.c").write_text(text)
    (bad / f"{case}.h").write_text((out / f"{case}.h").read_text())
    exe = bad / "run_model"
    _run(["gcc", *WARN, "-O1", *INCLUDES, "-I", str(bad), f"-DSPQ_MODEL={case}_model",
          str(Path(__file__).resolve().parent / "c" / "run_model.c"), str(bad / f"{case}.c"),
          *SOURCES, "-o", str(exe)])
    x = _inputs(ir, 1, 3)
    (bad / "in.bin").write_bytes(x.tobytes())
    (bad / "logits.bin").write_bytes(np.zeros((1, ir.num_classes), "<i4").tobytes())
    neuron = sum(layer.neuron is not None for layer in ir.layers)
    (bad / "spikes.bin").write_bytes(np.zeros((1, neuron), "<i4").tobytes())
    proc = subprocess.run([str(exe), str(bad / "in.bin"), str(bad / "logits.bin"),
                           str(bad / "spikes.bin"), "1"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1 and "spq_init failed" in proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("edit", ["entry", "size"])
def test_init_refuses_wrong_nibble_sums(edit: str, tmp_path: Path) -> None:
    """The nibble sums after the weights in a kernel-3 16 -> 32 conv's weights_x (read by
    spq_conv_w4_k3_mve): its last entry (group 3, bits 15, tap 8, channel 31) changed, or
    the table one byte short of them: spq_init fails on the host, which checks them as the
    Helium build does."""
    ir = k3_ir(K3_CASES[0], 300)
    pl = tables.add_tables(packing.pack_layer(ir.layers[0]))
    assert pl.weights_x is not None and _mve_k3(pl)
    x = pl.weights_x.view(np.uint8)
    w = x[:16 * 9 * 32].reshape(16, 9, 32).astype(np.int64)
    assert int(x[-1]) == int(w[12:16, 8, 31].sum())  # the exporter's sums, checked here too
    out = modelgen.write_export(ir, tmp_path / "export")
    src = (out / f"{ir.name}.c").read_text()
    array = f"{ir.name}_wx0"
    if edit == "size":
        text = _short_size(src, array)
    else:
        m = re.search(rf"{array}\[\d+\] = \{{([^}}]*)\}}", src)
        assert m, array
        vals = m.group(1).split(",")
        last = int(vals[-1].strip().rstrip("u"))
        vals[-1] = f" {last ^ (1 << 24)}u"  # its last byte (little-endian words)
        text = src[:m.start(1)] + ",".join(vals) + src[m.end(1):]
    _assert_init_fails(ir, out, ir.name, text, tmp_path)
