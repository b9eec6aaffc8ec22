# SPDX-License-Identifier: MIT
"""run_int outputs (logits, spikes, counts, synops, ops), grammar checks, the model factory."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import spq.nn as snn
from spq.errors import SpqError
from spq.nn.testing import random_input, random_model
from tests.support.oracle import scalar_trace


def ref_synops(ir, layer_inputs: dict[int, list[np.ndarray]], static: bool) -> list[int]:
    """For every non-zero input element, count the (unmasked output channel, output
    position) pairs it reaches, by enumerating positions (plain loops)."""
    out = []
    for li, L in enumerate(ir.layers):
        if L.weight is None:
            continue
        active = int((np.abs(L.weight.reshape(L.weight.shape[0], -1)).sum(1) >= 0).sum())
        if L.kept_channels is not None:
            active = len(L.kept_channels)
        total = 0
        steps = layer_inputs[li][:1] if static and li == 0 else layer_inputs[li]
        for h in steps:
            if L.type == "conv":
                C, H, W = L.in_shape
                _, Ho, Wo = L.out_shape
                k, s, p = L.kernel, L.stride, L.padding
                for c, y, x in itertools.product(range(C), range(H), range(W)):
                    if h[c, y, x] == 0:
                        continue
                    reach = 0
                    for oy, ox in itertools.product(range(Ho), range(Wo)):
                        if 0 <= y - (oy * s - p) < k and 0 <= x - (ox * s - p) < k:
                            reach += 1
                    total += reach * active
            else:
                total += int((h.reshape(-1) != 0).sum()) * active
        out.append(total)
    return out


def _layer_inputs(net, x1: torch.Tensor, ir) -> dict[int, list[np.ndarray]]:
    """Input of each synapse layer at each step, rebuilt from run_int's spikes."""
    res = net.run_int(x1)
    T = net.time_steps
    inputs: dict[int, list[np.ndarray]] = {}
    ni = 0
    prev: list[np.ndarray] | None = None
    for li, L in enumerate(ir.layers):
        if prev is None:
            if net.input_kind == "static":
                prev = [net._int_input(x1)[0].numpy()] * T
            else:
                prev = [x1[0, t].numpy().astype(np.int64) for t in range(T)]
        if L.type in ("maxpool", "sumpool"):
            k = L.pool
            new = []
            for h in prev:
                C, H, W = h.shape
                hh = h[:, : H // k * k, : W // k * k].reshape(C, H // k, k, W // k, k)
                new.append(hh.max(axis=(2, 4)) if L.type == "maxpool" else hh.sum(axis=(2, 4)))
            prev = new
            continue
        inputs[li] = prev
        if L.neuron is not None:
            sp = res.spikes[ni][0].numpy().astype(np.int64)
            prev = [sp[t] for t in range(T)]
            ni += 1
    return inputs


@pytest.mark.parametrize("seed", range(8))
def test_run_int_consistency_and_synops(seed):
    net = random_model(seed, prune=seed % 2 == 1)
    x = random_input(net, 3, seed + 5)
    r = net.run_int(x)
    assert torch.equal(r.logits_int, net.int_logits(x))
    assert torch.equal(net(x), net.int_logits(x).double() * net.out_scale)
    assert r.logits_int.dtype == torch.int64 and r.logits_int.shape == (3, net.num_classes)
    T = net.time_steps
    assert len(r.spikes) == len(net.neurons)
    for k, s in enumerate(r.spikes):
        assert s.dtype == torch.uint8 and s.shape[:2] == (3, T)
        assert torch.equal(r.spike_counts[:, k], s.reshape(3, -1).sum(1).to(torch.int64))
    sp = net.spikes(x)
    assert all(torch.equal(a, b) for a, b in zip(sp, r.spikes, strict=True))
    ir = snn.fold(net)
    assert r.synops.shape == (3, sum(1 for L in ir.layers if L.weight is not None))
    for i in range(3):
        want = ref_synops(ir, _layer_inputs(net, x[i : i + 1], ir), net.input_kind == "static")
        assert r.synops[i].tolist() == want


def _section9_by_loops(net, ir, x1: np.ndarray) -> dict[str, object]:
    """docs/semantics.md section 9 for one sample, by plain loops over the oracle's run (the
    input of every synapse, V before and the level after every reset): spike counts, synops,
    ops, and the zero shares of V and of the stored levels per step and neuron layer."""
    tr = scalar_trace(ir, x1)
    T, static = net.time_steps, net.input_kind == "static"
    syn = [i for i, L in enumerate(ir.layers) if L.weight is not None]
    neu = [i for i, L in enumerate(ir.layers) if L.neuron is not None]
    out_masks = [m.out_mask.tolist() for m in net.synapses]
    active_out = [sum(1 for v in m if v != 0) for m in out_masks]
    # the unmasked neurons of each neuron layer, as a 0/1 array of its output shape
    alive = {}
    for i, mask in zip(syn, out_masks, strict=True):
        if ir.layers[i].neuron is not None:
            shape = ir.layers[i].out_shape
            a = np.zeros(shape, dtype=bool)
            for c in range(shape[0]):
                a[c] = mask[c] != 0
            alive[i] = a
    zero = [[0.0] * len(neu) for _ in range(T)]
    level_zero = [[0.0] * len(neu) for _ in range(T)]
    for t in range(T):
        for n, i in enumerate(neu):
            live = int(alive[i].sum())
            zero[t][n] = sum(1 for idx in np.ndindex(alive[i].shape)
                             if alive[i][idx] and tr.V[i][t][idx] == 0) / max(live, 1)
            level_zero[t][n] = sum(1 for idx in np.ndindex(alive[i].shape)
                                   if alive[i][idx] and tr.levels[i][t][idx] == 0) / max(live, 1)
    ops = 0.0
    for t in range(T):
        for k, i in enumerate(syn):
            if static and k == 0 and t > 0:
                continue  # a static first layer counts once per inference
            L = ir.layers[i]
            h = tr.inputs[i][t]
            if k == 0:
                z = sum(1 for v in h.reshape(-1) if v == 0) / h.size
                a_in = ir.input_shape[0]
                spatial = ir.input_shape[1] * ir.input_shape[2]
            else:
                feed = max(j for j in neu if j < i)  # the neuron layer that feeds it
                z = zero[t][neu.index(feed)]
                a_in = int(alive[feed].reshape(alive[feed].shape[0], -1).any(1).sum())
                spatial = h.size // ir.layers[feed].out_shape[0]
            if L.type == "conv":
                dense = a_in * active_out[k] * L.kernel**2 * L.out_shape[1] * L.out_shape[2]
            else:
                dense = a_in * spatial * active_out[k]
            ops += dense * (1.0 - z)
    inputs = {i: [h.astype(np.int64) for h in tr.inputs[i]] for i in syn}
    return {
        "spike_counts": [int(s.sum()) for s in tr.trains],
        "synops": ref_synops(ir, inputs, static),
        "ops": ops,
        "zero_fraction": zero,
        "level_zero_fraction": level_zero,
        "logits": tr.logits,
    }


@pytest.mark.parametrize("seed", range(10))
def test_counts_follow_section_9_by_plain_loops(seed):
    """run_int's spike counts, synops, ops and zero shares equal a plain loop over the oracle's
    element-by-element run, on random models (pruned or not, static and events, pools, both
    readouts, threshold levels above 1)."""
    net = random_model(seed, prune=seed % 2 == 1, readout="spikes" if seed % 5 == 4 else "linear",
                       threshold_levels=seed % 3 == 2)
    x = random_input(net, 2, seed + 11)
    r = net.run_int(x)
    ir = snn.fold(net)
    for i in range(len(x)):
        want = _section9_by_loops(net, ir, x[i].numpy())
        assert r.logits_int[i].tolist() == want["logits"]
        assert r.spike_counts[i].tolist() == want["spike_counts"]
        assert r.synops[i].tolist() == want["synops"]
        assert float(r.ops[i]) == pytest.approx(want["ops"], rel=1e-12, abs=1e-9)
        assert r.zero_fraction[i].tolist() == want["zero_fraction"]
        assert r.level_zero_fraction[i].tolist() == want["level_zero_fraction"]


def test_ops_count_by_hand():
    # events 1x2x2, conv 1->2 k=1 (4 positions), LIF, flatten, readout 8 -> 3, T = 2.
    conv = snn.QuantConv2d(1, 2, 1, bias=True, weight_bits=8)
    ro = snn.QuantLinear(8, 3, bias=False, weight_bits=8)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        conv.bias.zero_()
        ro.weight.fill_(1.0)
    net = snn.Sequential(
        conv,
        snn.QuantLIF(levels=3, beta=0.5, threshold=1.0),
        snn.Flatten(),
        ro,
        time_steps=2,
        input_kind="events",
        input_shape=(1, 2, 2),
    ).eval()
    # s_w = 1/127 * max|W|... weights +-1 all max: alpha = min(4*1, 1) = 1, s_w = 1/127,
    # w = +-127 -> a = 1: current = +-pixel. Frame 0: pixels 1,1,0,0 -> ch0 u = 1 1 0 0 spike
    # at V >= 1: pixel 1 gives V = 1 -> spike (hard reset, u = 0); ch1 V = -1 -> u = -1.
    x = torch.tensor([[[[[1, 1], [0, 0]]], [[[0, 0], [0, 0]]]]], dtype=torch.float32)
    r = net.run_int(x)
    # before the reset: step 0: ch0 V = [1 1 0 0], ch1 [-1 -1 0 0] -> 4 of 8 exactly 0;
    # step 1 (no input): ch0 V = 0 everywhere (reset or never reached), ch1 V = K * u =
    # [-0.5 -0.5 0 0] -> 6 of 8
    assert r.zero_fraction[0].tolist() == [[0.5], [0.75]]
    # stored levels after the reset: step 0: ch0 [0 0 0 0] (two just fired), ch1 [-1 -1 0 0]
    # -> 6 of 8; step 1: ch1 rhu(-0.5) = 0 -> all 8
    assert r.level_zero_fraction[0].tolist() == [[0.75], [1.0]]
    # conv ops: 1 in x 2 out x 1 x 4 positions x (1 - zero input share): step 0 half the
    # pixels are events: 8 * 0.5 = 4; step 1 no event: 0
    # readout ops: 8 in x 3 out x (1 - z): step 0: 24 * 0.5 = 12, step 1: 24 * 0.25 = 6
    assert r.ops.tolist() == [4 + 0 + 12 + 6]
    # synops: conv: 2 non-zero pixels x 2 channels = 4 (step 0), 0 (step 1)
    #         readout: step 0 spikes: ch0 two -> 2 x 3 = 6; step 1 none
    assert r.synops.tolist() == [[4, 6]]
    assert r.spike_counts.tolist() == [[2]]
    assert r.logits_int.tolist() == [[2 * 127] * 3]


def test_ops_static_first_layer_counts_once():
    net = snn.Sequential(
        snn.Flatten(),
        snn.QuantLinear(4, 2),
        time_steps=3,
        input_kind="static",
        input_shape=(1, 2, 2),
    ).eval()
    x = torch.tensor([[[[0.0, 0.5], [1.0, 0.2]]]])
    r = net.run_int(x)
    assert r.ops.tolist() == [4 * 2 * 3 / 4]  # once, the zero pixel (1 of 4) skipped
    assert r.synops.tolist() == [[3 * 2]]
    acc = (net.int_plan().layers[0].w.long() @ net._int_input(x).reshape(4)).tolist()
    bq = snn.fold(net).layers[0].readout_bias.tolist()
    assert r.logits_int[0].tolist() == [3 * a + 3 * b for a, b in zip(acc, bq, strict=True)]


# ----------------------------------------------------------------------------- grammar


def _lif():
    return snn.QuantLIF()


@pytest.mark.parametrize(
    "layers, msg",
    [
        (lambda: [snn.MaxPool2d(2), snn.Flatten(), snn.QuantLinear(16, 2)], "pool"),
        (
            lambda: [
                snn.QuantConv2d(1, 2, 3),
                _lif(),
                _lif(),
                snn.Flatten(),
                snn.QuantLinear(72, 2),
            ],
            "QuantLIF",
        ),
        (lambda: [snn.BatchNorm2d(1), snn.Flatten(), snn.QuantLinear(64, 2)], "BatchNorm"),
        (lambda: [snn.Flatten(), snn.QuantLinear(64, 8), snn.QuantLinear(8, 2)], "followed"),
        (lambda: [snn.QuantConv2d(1, 2, 3)], "readout"),
        (lambda: [snn.QuantLinear(64, 2)], "Flatten"),
        (
            lambda: [snn.QuantConv2d(2, 2, 3), _lif(), snn.Flatten(), snn.QuantLinear(72, 2)],
            "in_channels",
        ),
        (
            lambda: [
                snn.Flatten(),
                snn.QuantLinear(64, 4),
                _lif(),
                snn.QuantConv2d(4, 2, 1),
                _lif(),
                snn.QuantLinear(2, 2),
            ],
            "conv",
        ),
        (
            lambda: [
                snn.QuantConv2d(1, 2, 3),
                snn.BatchNorm1d(2),
                _lif(),
                snn.Flatten(),
                snn.QuantLinear(72, 2),
            ],
            "BatchNorm2d",
        ),
        (
            lambda: [
                snn.QuantConv2d(1, 2, 3),
                _lif(),
                snn.MaxPool2d(2),
                snn.MaxPool2d(2),
                snn.Flatten(),
                snn.QuantLinear(18, 2),
            ],
            "pool",
        ),
        (
            lambda: [snn.QuantConv2d(1, 2, 9), _lif(), snn.Flatten(), snn.QuantLinear(2, 2)],
            "does not fit",
        ),
        (
            lambda: [
                snn.QuantConv2d(1, 2, 3),
                torch.nn.ReLU(),
                snn.Flatten(),
                snn.QuantLinear(72, 2),
            ],
            "followed",
        ),
        (lambda: [], "readout"),
    ],
)
def test_grammar_refused(layers, msg):
    with pytest.raises(SpqError, match=msg):
        snn.Sequential(*layers(), time_steps=2, input_shape=(1, 8, 8))


def test_constructor_arguments_refused():
    ok = [snn.Flatten(), snn.QuantLinear(64, 2)]
    for kw in ({"time_steps": 0}, {"input_kind": "video"}, {"input_shape": (1, 8)}):
        args = {"time_steps": 2, "input_shape": (1, 8, 8)} | kw
        with pytest.raises(SpqError):
            snn.Sequential(*ok, **args)
    with pytest.raises(SpqError):
        snn.QuantLinear(4, 2, weight_bits=3)
    with pytest.raises(SpqError):
        snn.QuantLIF(levels=1)
    with pytest.raises(SpqError):
        snn.QuantLIF(threshold=0.0)
    with pytest.raises(SpqError):
        snn.QuantLIF(reset="zero")
    with pytest.raises(SpqError):
        snn.QuantLIF(beta=1.5)


def test_bad_inputs_refused():
    net = snn.Sequential(
        snn.Flatten(),
        snn.QuantLinear(4, 2),
        time_steps=2,
        input_kind="events",
        input_shape=(1, 2, 2),
    ).eval()
    with pytest.raises(SpqError, match="event input"):
        net.int_logits(torch.zeros(1, 3, 1, 2, 2))
    with pytest.raises(SpqError, match="0 or 1"):
        net.int_logits(torch.full((1, 2, 1, 2, 2), 0.5))
    net2 = snn.Sequential(
        snn.Flatten(), snn.QuantLinear(4, 2), time_steps=2, input_shape=(1, 2, 2)
    ).eval()
    with pytest.raises(SpqError, match="static input"):
        net2.int_logits(torch.zeros(1, 2, 2))
    with pytest.raises(SpqError):
        net2.int_logits(torch.full((1, 1, 2, 2), float("nan")))


def test_plain_torch_batchnorm_and_flatten_accepted():
    net = snn.Sequential(
        snn.QuantConv2d(1, 2, 3),
        torch.nn.BatchNorm2d(2),
        snn.QuantLIF(),
        torch.nn.Flatten(),
        snn.QuantLinear(72, 2),
        time_steps=2,
        input_shape=(1, 8, 8),
    ).eval()
    assert net.int_logits(torch.rand(2, 1, 8, 8)).shape == (2, 2)
    assert [L.type for L in snn.fold(net).layers] == ["conv", "readout"]


# ----------------------------------------------------------------------------- factory


def test_random_model_factory_is_deterministic_and_varied():
    seen = {
        "bits": set(),
        "levels": set(),
        "beta": set(),
        "reset": set(),
        "kind": set(),
        "pool": set(),
        "conv": set(),
        "bn": set(),
    }
    rates = []
    for seed in range(30):
        net = random_model(seed, prune=seed % 4 == 0)
        assert not net.training
        again = random_model(seed, prune=seed % 4 == 0)
        x = random_input(net, 8, seed)
        assert torch.equal(x, random_input(again, 8, seed))
        assert torch.equal(net.int_logits(x), again.int_logits(x))
        ir = snn.fold(net)
        seen["kind"].add(net.input_kind)
        seen["bits"].update(L.weight_bits for L in ir.layers if L.weight is not None)
        for L in ir.layers:
            if L.neuron is not None:
                seen["levels"].add(L.neuron.levels)
                seen["reset"].add(L.neuron.reset)
                seen["beta"].add(L.neuron.leak)
            if L.type in ("maxpool", "sumpool"):
                seen["pool"].add(L.type)
            seen["conv"].add(L.type)
        seen["bn"].update(type(m).__name__ for m in net.layers if "BatchNorm" in type(m).__name__)
        r = net.run_int(x)
        for k, s in enumerate(r.spikes):
            n_act = len(ir.neuron_layers[k].kept_channels)
            per = s[0, 0].numel() // ir.neuron_layers[k].out_shape[0]
            rates.append(float(s.sum()) / (8 * net.time_steps * n_act * per))
    assert seen["bits"] == {2, 4, 8}
    assert {2, 3, 5, 16} <= seen["levels"]
    assert seen["beta"] == {0, 16384, 32768, 49152, 65536}
    assert seen["reset"] == {"hard", "soft"} and seen["kind"] == {"static", "events"}
    assert seen["pool"] == {"maxpool", "sumpool"}
    assert {"conv", "linear", "readout"} <= seen["conv"]
    assert len(seen["bn"]) == 2
    rates_t = torch.tensor(rates)
    # calibrated: most layers spike at a useful rate
    assert float(((rates_t >= 0.05) & (rates_t <= 0.5)).float().mean()) >= 0.9, rates
    assert float(rates_t.median()) == pytest.approx(0.25, abs=0.1)


def test_random_model_options():
    for bits in (2, 4, 8):
        ir = snn.fold(random_model(3, weight_bits=bits))
        assert {L.weight_bits for L in ir.layers if L.weight is not None} == {bits}
    for lv in (2, 3, 5, 16):
        ir = snn.fold(random_model(5, levels=lv))
        assert {L.neuron.levels for L in ir.neuron_layers} == {lv}
    net = random_model(6, input_kind="events", conv=True, pool="avg")
    types = [L.type for L in snn.fold(net).layers]
    assert net.input_kind == "events" and "conv" in types and "maxpool" not in types
    assert "conv" not in [L.type for L in snn.fold(random_model(6, conv=False)).layers]
    pruned = snn.fold(random_model(8, prune=True))
    assert any(len(L.kept_channels) < L.out_shape[0] for L in pruned.neuron_layers)
