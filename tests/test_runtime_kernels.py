# SPDX-License-Identifier: MIT
"""Bit-exactness of the runtime's kernels on wide layers (16/32 output channels) of trained
spq.nn models, which the small random models rarely reach: the window-row and fused 4-bit
conv kernels, the neuron updates for 1/2/4/8-bit membranes (outcome and rank tables, int16
pair and int32 accumulators, cached static currents and spike trains) and the 2x2 max pools.
Host C against eval-mode spq.nn; QEMU M3, M4 and M55 against the host; the fused 4-bit conv
over random shapes, fast and reference builds, under ASan/UBSan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import spq
import spq.nn as snn
from spq.export import export
from spq.export.directory import open_export
from spq.ir import LayerIR, ModelIR, NeuronIR, acc_bits
from spq.runtime import HostModel
from spq.tools.boards import get_board
from spq.tools.device import differences, host_reference, run_on_device
from tests.support import modelgen

# (name, input kind, weight bits conv1/conv2/readout, levels per LIF, pool, width)
CASES: list[tuple[str, str, tuple[int, int, int], tuple[int, int], str, int]] = [
    ("ev_w4_L3", "events", (4, 4, 4), (3, 3), "max", 12),
    ("ev_w8_L16", "events", (8, 8, 8), (16, 256), "max", 11),
    ("st_w4_L2", "static", (4, 4, 8), (2, 5), "avg", 12),
    ("st_w8_L256", "static", (8, 4, 2), (256, 16), "max", 9),
]


def build(kind: str, bits: tuple[int, int, int], levels: tuple[int, int], pool: str,
          width: int, seed: int) -> Any:
    torch.manual_seed(seed)
    in_c = 2 if kind == "events" else 3
    pool_layer = snn.MaxPool2d if pool == "max" else snn.AvgPool2d
    out = width // 2 // 2
    net = snn.Sequential(
        snn.QuantConv2d(in_c, 16, 3, padding=1, weight_bits=bits[0]), snn.BatchNorm2d(16),
        snn.QuantLIF(levels=levels[0], reset="soft"),
        pool_layer(2),
        snn.QuantConv2d(16, 32, 3, padding=1, weight_bits=bits[1]), snn.BatchNorm2d(32),
        snn.QuantLIF(levels=levels[1]),
        snn.MaxPool2d(2),
        snn.Flatten(),
        snn.QuantLinear(32 * out * out, 10, weight_bits=bits[2]),
        time_steps=3, input_kind=kind, input_shape=(in_c, width, width),
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.layers:
            if isinstance(m, snn.BatchNorm2d):
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=gen))
    net.eval()
    x = inputs(net, 4, seed)
    lifs = [m for m in net.layers if isinstance(m, snn.QuantLIF)]
    for i, lif in enumerate(lifs):
        for _ in range(40):
            with torch.no_grad():
                rate = float(net.run_int(x).spikes[i].double().mean())
            if 0.08 <= rate <= 0.35:
                break
            with torch.no_grad():
                lif.threshold.mul_(1.4 if rate > 0.35 else 1 / 1.4)
    return net


def inputs(net: Any, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + 1)
    C, H, W = net.input_shape
    if net.input_kind == "static":
        q = torch.randint(0, 256, (n, C, H, W), generator=gen)
        return (q * (torch.rand(n, C, H, W, generator=gen) > 0.3)).to(torch.uint8)
    return (torch.rand(n, net.time_steps, C, H, W, generator=gen) < 0.2).to(torch.uint8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    root = tmp_path_factory.mktemp("kernels")
    res = {}
    for i, (name, kind, bits, levels, pool, width) in enumerate(CASES):
        net = build(kind, bits, levels, pool, width, seed=40 + i)
        spq.save(net, root / f"{name}.pt")
        export(root / f"{name}.pt", root / name, name=name, verify_n=0)
        res[name] = (net, root / name)
    return res


def test_cases_reach_the_fast_paths(exported: dict[str, tuple[Any, Path]]) -> None:
    acc = set()
    wide4 = False
    for _, out in exported.values():
        for rec in open_export(out).manifest["layers"]:
            if rec["type"] == "conv":
                acc.add(rec["acc_bits"])
                wide4 |= rec["weight_bits"] == 4 and rec["out_shape"][0] >= 8 and \
                    rec["acc_bits"] == 16 and rec["in_kind"] == "spike"
    assert acc == {16, 32} and wide4


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_host_equals_spq_nn(name: str, exported: dict[str, tuple[Any, Path]]) -> None:
    net, out = exported[name]
    x = inputs(net, 6, 99)
    with torch.no_grad():
        ref = net.run_int(x)
    assert int(ref.spike_counts.sum()) > 0
    model = HostModel(out)
    for schedule in ("time", "layer"):
        r = model.run(x.numpy(), schedule=schedule)
        np.testing.assert_array_equal(r.logits_int, ref.logits_int.numpy(), err_msg=schedule)
        np.testing.assert_array_equal(r.spike_counts, ref.spike_counts.numpy(), err_msg=schedule)
        np.testing.assert_array_equal(r.synops, ref.synops.numpy(), err_msg=schedule)


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", ["mps2-an385", "mps2-an386", "mps3-an547"])
def test_qemu_equals_host(board_name: str, exported: dict[str, tuple[Any, Path]]) -> None:
    board = get_board(board_name)
    for name, (net, out) in exported.items():
        x = inputs(net, 2, 7).numpy()
        export = open_export(out)
        run = run_on_device(export, board, x, timeout=60)
        assert differences(run.results, host_reference(export, x), export) == [], name


# ----------------------------------------------------------------------------- exact currents
# A wrong input current I by a single unit rarely changes a spike, so random models hardly
# notice it. Here every channel's bias puts V = I + B exactly on the threshold for the
# reference current: with B = THETA - I_ref all such neurons spike, with one less none does,
# which pins the runtime's I to I_ref for every (M, S) below: each path of the neuron
# update (int16 pair low/high half, int32, 64-bit fallback with saturation).
THETA = 1 << 16


def _edge_ir(n_in: int, seed: int, delta: int) -> tuple[Any, int]:
    rng = np.random.default_rng(seed)
    channels = 504
    w = rng.integers(-127, 128, size=(channels, n_in))
    w[rng.random(w.shape) < 0.3] = 0
    acc = w.sum(axis=1)
    shifts = np.array([s % 63 for s in range(channels)], dtype=np.int32)
    mult = np.array(
        [int(rng.integers(1 << 29, (1 << 31) - 1)) * (1 if rng.random() < 0.7 else -1)
         if c % 9 else int(rng.integers(-(1 << 14), 1 << 14)) for c in range(channels)],
        dtype=np.int64,
    )
    cur = modelgen._current(acc.reshape(channels, 1), mult, shifts).reshape(-1)
    bias = np.clip(THETA - cur + delta, -(1 << 29), 1 << 29)
    edge = int(np.sum(bias == THETA - cur + delta))
    bound = n_in * 127
    hidden = LayerIR(
        type="linear", name="lin0", in_shape=(n_in,), out_shape=(channels,),
        weight=w.astype(np.int8), weight_bits=8, in_kind="spike", max_in=1,
        acc_bits=16 if bound <= 32767 else 32,
        neuron=NeuronIR(mult=mult.astype(np.int32), shift=shifts, bias=bias.astype(np.int32),
                        leak=0, levels=3, lo=-1, hi=1, reset="hard"),
    )
    readout = LayerIR(
        type="readout", name="out", in_shape=(channels,), out_shape=(2,),
        weight=rng.integers(-3, 4, size=(2, channels)).astype(np.int8), weight_bits=8,
        in_kind="spike", max_in=1, acc_bits=32,
        readout_bias=np.zeros(2, dtype=np.int32),
    )
    ir = ModelIR(name=f"edge{n_in}d{-delta}", input_kind="events", input_shape=(1, 1, n_in),
                 time_steps=1, num_classes=2, out_scale=1.0, layers=[hidden, readout])
    return ir, edge


@pytest.mark.parametrize("n_in", [200, 300])  # int16 pair / int32 accumulators
def test_currents_exact_on_the_threshold(n_in: int, tmp_path: Path) -> None:
    for delta in (0, -1):
        ir, edge = _edge_ir(n_in, 5, delta)
        assert ir.layers[0].acc_bits == (16 if n_in == 200 else 32)
        assert edge >= 400
        out = modelgen.write_export(ir, tmp_path / ir.name)
        x = np.ones((1, 1, 1, 1, n_in), dtype=np.uint8)
        ref = modelgen.reference(ir, x[0])
        # every edge channel spikes with B = THETA - I_ref, none with one less
        others = ir.layers[0].out_shape[0] - edge
        if delta == 0:
            assert ref["spikes"][0] >= edge
        else:
            assert ref["spikes"][0] <= others
        r = HostModel(out).run(x)
        assert int(r.spike_counts[0][0]) == int(ref["spikes"][0]), delta
        np.testing.assert_array_equal(r.logits_int[0], ref["logits_int"])


def test_fast_paths_under_sanitizers(exported: dict[str, tuple[Any, Path]],
                                     tmp_path: Path) -> None:
    """The wide models and the threshold-edge models, ASan/UBSan builds, against spq.nn and
    the independent reference."""
    from tests.test_runtime_c import _driver_inputs, _run_driver, _sanitized_objects

    objs = _sanitized_objects(tmp_path)
    for name, (net, out) in exported.items():
        x = inputs(net, 3, 11)
        with torch.no_grad():
            ref = net.run_int(x)
        args = _driver_inputs(out, x.numpy(), ref.logits_int.numpy(),
                              ref.spike_counts.numpy())
        assert _run_driver(objs, out, name, args).splitlines()[-1].startswith("3 inputs")
    for n_in in (200, 300):
        ir, _ = _edge_ir(n_in, 5, 0)
        out = modelgen.write_export(ir, tmp_path / ir.name)
        x = np.ones((1, 1, 1, 1, n_in), dtype=np.uint8)
        r = modelgen.reference(ir, x[0])
        args = _driver_inputs(out, x, r["logits_int"][None], r["spikes"][:1][None])
        assert _run_driver(objs, out, ir.name, args).splitlines()[-1].startswith("1 inputs")


# ----------------------------------------------------------------------------- conv shapes
# Spike-input conv layers with 4-bit weights, int16 pair accumulators and out_c a multiple of
# 8 run the fused kernel (spq_conv_w4.c) over strides, paddings, kernel sizes and widths up
# to its ring's limit; built fast and with -DSPQ_REFERENCE (the reference kernels) both must
# give the independent reference's logits, spike counts and synops, under ASan/UBSan.
def _w4_ir(rng: np.random.Generator, name: str) -> ModelIR:
    c = int(rng.integers(1, 6))
    h = int(rng.integers(3, 12))
    w = int(rng.choice([int(rng.integers(3, 15)), 30, 32]))
    T = int(rng.integers(1, 4))
    cur: tuple[int, ...] = (c, h, w)
    layers: list[LayerIR] = []
    for i in range(2):
        k = int(rng.choice([1, 2, 3, 5]))
        s = int(rng.choice([1, 1, 2, 3]))
        p = int(rng.integers(0, k))
        if cur[2] + 2 * p > 32:
            p = (32 - cur[2]) // 2
        ci, hi, wi = cur
        if hi + 2 * p < k or wi + 2 * p < k or ci * k > 96:
            break
        out_c = int(rng.choice([8, 16, 24]))
        oh, ow = (hi + 2 * p - k) // s + 1, (wi + 2 * p - k) // s + 1
        fan_in = ci * k * k
        layer = LayerIR(type="conv", name=f"conv{i}", in_shape=cur, out_shape=(out_c, oh, ow),
                        weight=modelgen._weights(rng, (out_c, ci, k, k), 4), weight_bits=4,
                        in_kind="spike", max_in=1, kernel=k, stride=s, padding=p,
                        acc_bits=acc_bits(fan_in, 4, 1))
        layer.neuron = modelgen._neuron(rng, out_c, max(1.0, (fan_in * 0.3) ** 0.5 * 3.5))
        layers.append(layer)
        cur = (out_c, oh, ow)
    feats = int(np.prod(cur))
    readout = LayerIR(type="readout", name="readout", in_shape=(feats,), out_shape=(5,),
                      weight=modelgen._weights(rng, (5, feats), 8), weight_bits=8,
                      in_kind="spike", max_in=1, kernel=1, stride=1, padding=0,
                      acc_bits=acc_bits(feats, 8, 1))
    readout.readout_bias = rng.integers(-3000, 3001, size=5).astype(np.int32)
    layers.append(readout)
    return ModelIR(name=name, input_kind="events", input_shape=(c, h, w), time_steps=T,
                   num_classes=5, out_scale=0.125, layers=layers)


@pytest.mark.parametrize("defines", [(), ("-DSPQ_REFERENCE",)], ids=["fast", "reference"])
def test_conv_w4_shapes_equal_reference(defines: tuple[str, ...], tmp_path: Path) -> None:
    from tests.test_runtime_c import _driver_inputs, _run_driver, _sanitized_objects

    objs = _sanitized_objects(tmp_path, defines)
    shapes = set()
    for seed in range(10):
        rng = np.random.default_rng(700 + seed)
        ir = _w4_ir(rng, f"g{seed}")
        convs = [layer for layer in ir.layers if layer.type == "conv"]
        assert convs and all(layer.acc_bits == 16 for layer in convs)
        shapes.update((layer.kernel, layer.stride, layer.padding > 0) for layer in convs)
        out = modelgen.write_export(ir, tmp_path / ir.name)
        x = modelgen.random_input(rng, ir, 2)
        refs = [modelgen.reference(ir, xi) for xi in x]
        assert sum(int(r["synops"][0]) for r in refs) > 0
        logits = np.stack([r["logits_int"] for r in refs])
        neuron = [i for i, layer in enumerate(ir.layers) if layer.neuron is not None]
        spikes = np.stack([r["spikes"][neuron] for r in refs])
        args = _driver_inputs(out, x, logits, spikes)
        stdout = _run_driver(objs, out, ir.name, args)
        got = {(int(f[1]), int(f[2])): int(f[3]) for f in
               (line.split() for line in stdout.splitlines()) if f and f[0] == "synops"}
        want = {(k, i): int(r["synops"][i]) for k, r in enumerate(refs)
                for i in range(len(ir.layers))}
        assert got == want
    assert len(shapes) >= 6
