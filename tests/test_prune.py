# SPDX-License-Identifier: MIT
"""spq.prune: the channel selection rules by hand, membrane scores, masks that silence
channels, and pruned models whose integer logits survive physical channel removal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spq import nn as snn
from spq.errors import SpqError
from spq.export.packing import pack_model
from spq.export.reference import run as reference_run
from spq.export.shrink import remove_pruned
from spq.nn.testing import random_input, random_model
from spq.prune import membrane_scores, prune_membrane, select_channels, spiking_blocks
from spq.train import memory_report


def test_select_channels_by_hand() -> None:
    s = torch.tensor([0.1, 0.5, 0.1, 0.3], dtype=torch.float64)
    # sorted: 0.5 (1), 0.3 (3), 0.1 (0), 0.1 (2); cumulative 0.5, 0.8, 0.9, 1.0
    assert select_channels(s, 0.85, "mass").tolist() == [1, 1, 0, 1]
    assert select_channels(s, 0.8, "mass").tolist() == [0, 1, 0, 1]
    assert select_channels(s, 0.5, "mass").tolist() == [0, 1, 0, 0]
    assert select_channels(s, 0.51, "mass").tolist() == [0, 1, 0, 1]
    assert select_channels(s, 0.5, "fraction").tolist() == [0, 1, 0, 1]
    assert select_channels(s, 0.74, "fraction").tolist() == [0, 1, 0, 1]  # int(2.96) = 2 go
    assert select_channels(s, 0.75, "fraction").tolist() == [0, 1, 0, 0]
    # zero-score (already pruned) channels are never brought back, and one channel stays
    z = torch.tensor([0.0, 0.2, 0.0, 0.0], dtype=torch.float64)
    assert select_channels(z, 0.99, "mass").tolist() == [0, 1, 0, 0]
    assert select_channels(z, 0.1, "fraction").tolist() == [0, 1, 0, 0]
    assert select_channels(torch.zeros(3, dtype=torch.float64), 0.5).sum() == 1
    with pytest.raises(SpqError):
        select_channels(s, 0.5, "median")


def _two_channel_net() -> snn.Sequential:
    conv = snn.QuantConv2d(1, 3, 3, padding=1, bias=False, weight_bits=8)
    net = snn.Sequential(conv, snn.QuantLIF(levels=3), snn.Flatten(),
                         snn.QuantLinear(3 * 4 * 4, 2, weight_bits=8),
                         time_steps=3, input_kind="static", input_shape=(1, 4, 4))
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0] = 0.05  # weak
        conv.weight[1] = 0.1  # strong (8-bit per-tensor scale: the two stay 1:2)
        # channel 2: all zero, its membrane never moves
    return net


def test_membrane_scores_follow_the_membrane() -> None:
    net = _two_channel_net()
    x = torch.rand(16, 1, 4, 4)
    s = membrane_scores(net, x)[0]
    assert s[2] == 0 and 0 < s[0] < s[1]
    # with a 0.85 share the silent channel goes; with 0.5 only the strong one stays
    prune_membrane(net, x, 0.5)
    assert net.layers[0].out_mask.tolist() == [0, 1, 0]
    assert membrane_scores(net, x)[0][0] == 0  # masked channels score 0
    assert all(not b.lif.record and b.lif.trace == [] for b in spiking_blocks(net))


@pytest.mark.parametrize("seed", range(6))
def test_pruned_channels_are_silent_and_removable(seed: int) -> None:
    net = random_model(seed, conv=seed % 2 == 0)
    x = random_input(net, 24, seed)
    before = memory_report(net)
    summary = prune_membrane(net, x, ratio=0.6, by="fraction")
    masks = [b.synapse.out_mask for b in spiking_blocks(net)]
    assert [int(m.sum()) for m in masks] == [p["kept"] for p in summary]
    assert any(int(m.sum()) < m.numel() for m in masks)
    for m in masks:  # fraction 0.6 removes int(0.6 * C) channels (or all but one)
        n = m.numel()
        assert int(m.sum()) == max(1, n - int(0.6 * n))
    # masked channels never spike
    spikes = net.spikes(x)
    for m, s in zip(masks, spikes, strict=True):
        dead = (m == 0).nonzero().flatten()
        assert int(s[:, :, dead].sum()) == 0
    # the exporter removes them and the integer logits do not change
    ir = snn.fold(net)
    small = remove_pruned(ir)
    kept = [la.weight.shape[0] for la in small.layers if la.neuron is not None]
    assert kept == [int(m.sum()) for m in masks]
    ref = reference_run(pack_model(small), snn.quantize_input(x).numpy() if
                        net.input_kind == "static" else x.numpy())
    np.testing.assert_array_equal(ref.logits_int, net.int_logits(x).numpy())
    after = memory_report(net)
    assert after["weights_bits"] < before["weights_bits"]
    assert after["membrane_bits"] < before["membrane_bits"]


def test_pruning_report_names_the_layers_as_the_manifest_does() -> None:
    """conv1, conv2, fc1 (spq.ir.layer_names, as in the manifest and the C comments); the
    report named them conv0, conv1, fc2 before issue 11."""
    net = snn.Sequential(
        snn.QuantConv2d(1, 4, 3, padding=1), snn.QuantLIF(), snn.MaxPool2d(2),
        snn.QuantConv2d(4, 4, 3, padding=1), snn.QuantLIF(), snn.Flatten(),
        snn.QuantLinear(4 * 4 * 4, 6), snn.QuantLIF(), snn.QuantLinear(6, 2),
        time_steps=2, input_kind="static", input_shape=(1, 8, 8))
    summary = prune_membrane(net, torch.rand(4, 1, 8, 8), 0.5, by="fraction")
    assert [s["layer"] for s in summary] == ["conv1", "conv2", "fc1"]
    ir = snn.fold(net)
    assert [la.name for la in ir.layers] == ["conv1", "pool1", "conv2", "fc1", "readout"]


def test_prune_rejects_bad_ratio() -> None:
    net = _two_channel_net()
    with pytest.raises(SpqError):
        prune_membrane(net, torch.rand(2, 1, 4, 4), ratio=1.0)


def _three_channel_net() -> snn.Sequential:
    """Two pixels, a 1x1 conv with ternary weights +1, -1, +1 (exact: s_w = 1) and biases
    0, 0, -0.5, T = 1: the membranes before the reset are the pixels times the weight plus
    the bias, in units of theta = 1."""
    conv = snn.QuantConv2d(1, 3, 1, bias=True, weight_bits=2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0, 1.0]).view(3, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, 0.0, -0.5]))
    return snn.Sequential(conv, snn.QuantLIF(levels=3), snn.Flatten(),
                          snn.QuantLinear(3 * 1 * 2, 2, weight_bits=8),
                          time_steps=1, input_kind="static", input_shape=(1, 1, 2))


def test_scores_by_hand() -> None:
    net = _three_channel_net()
    x = torch.tensor([[[[1.0, 0.0]]]])  # v/theta: ch0 [1, 0], ch1 [-1, 0], ch2 [0.5, -0.5]
    mx = membrane_scores(net, x, score="max-relu")[0]
    assert mx.tolist() == pytest.approx([1.0, 0.0, 0.5], abs=1e-4)
    mean = membrane_scores(net, x, score="mean-abs")[0]
    assert mean.tolist() == pytest.approx([0.5, 0.5, 0.5], abs=1e-4)
    # max-relu drops the inhibited channel first; mean-abs cannot tell them apart
    prune_membrane(net, x, 0.5, "mass", "max-relu")
    assert net.layers[0].out_mask.tolist() == [1, 0, 0]
    net.layers[0].set_out_mask([1, 1, 1])
    prune_membrane(net, x, 0.5, "mass", "mean-abs")
    assert net.layers[0].out_mask.tolist() == [1, 1, 0]
    with pytest.raises(SpqError):
        membrane_scores(net, x, score="median")


def test_iterative_pruning_steps() -> None:
    from spq.train import TrainConfig, _prune_steps

    cfg = TrainConfig(dataset="digits", prune=0.6, prune_by="fraction", prune_steps=3)
    assert _prune_steps(cfg) == pytest.approx([0.2, 0.4, 0.6])
    cfg = TrainConfig(dataset="digits", prune=0.512, prune_by="mass", prune_steps=3)
    assert _prune_steps(cfg) == pytest.approx([0.8, 0.8, 0.8])
    # fraction steps on a layer of 10: 8, 6, 4 channels kept, never one brought back
    s = torch.arange(1, 11, dtype=torch.float64)
    keep = torch.ones(10)
    for ratio, n in zip(_prune_steps(TrainConfig(dataset="digits", prune=0.6,
                                                 prune_by="fraction", prune_steps=3)),
                        (8, 6, 4), strict=True):
        new = select_channels(s * keep.double(), ratio, "fraction")
        assert int(new.sum()) == n and bool((new <= keep).all())
        keep = new
    assert keep.tolist() == [0] * 6 + [1] * 4
