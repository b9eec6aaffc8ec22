# SPDX-License-Identifier: MIT
"""Training mode: surrogate gradients, gradient flow, learning, float vs integer agreement."""

from __future__ import annotations

import math

import pytest
import torch

import spq.nn as snn
from spq.nn.surrogate import StackedQuant, TriangleSpike


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("levels", [2, 3, 5, 16])
def test_stacked_surrogate_closed_form(levels):
    lo, hi = 2 - levels, 1
    z = torch.linspace(lo - 3.0, hi + 3.0, 997, dtype=torch.float64, requires_grad=True)
    out = StackedQuant.apply(z, lo, hi)
    out.backward(torch.ones_like(z))
    for zi, gi, oi in zip(z.tolist(), z.grad.tolist(), out.tolist(), strict=True):
        want = sum(
            2 * _sig(2 * (zi - lv - 0.5)) * (1 - _sig(2 * (zi - lv - 0.5))) for lv in range(lo, hi)
        )
        assert gi == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert oi == max(lo, min(hi, math.floor(zi + 0.5)))
    # one bump per boundary: the gradient peaks (k/4 = 0.5) near each midpoint
    if levels > 2:
        b = torch.tensor([lo + 0.5], dtype=torch.float64, requires_grad=True)
        StackedQuant.apply(b, lo, hi).backward()
        assert float(b.grad) >= 0.5


def test_triangle_spike_surrogate_closed_form():
    x = torch.linspace(-1.0, 1.0, 801, dtype=torch.float64, requires_grad=True)
    y = TriangleSpike.apply(x)
    y.backward(torch.ones_like(x))
    for xi, gi, yi in zip(x.tolist(), x.grad.tolist(), y.tolist(), strict=True):
        assert gi == pytest.approx(max(0.0, 2 - 4 * abs(xi)), abs=1e-12)
        assert yi == (1.0 if xi >= 0 else 0.0)
    # area 1
    assert float(x.grad.sum()) * (2.0 / 800) == pytest.approx(1.0, rel=1e-3)


def _conv_net(bits: int = 4, classes: int = 2, hidden: int = 8, T: int = 3) -> snn.Sequential:
    torch.manual_seed(0)
    return snn.Sequential(
        snn.QuantConv2d(1, 4, 3, padding=1, weight_bits=bits),
        snn.BatchNorm2d(4),
        snn.QuantLIF(levels=3, threshold=0.5),
        snn.AvgPool2d(2),
        snn.Flatten(),
        snn.QuantLinear(4 * 4 * 4, hidden, weight_bits=2),
        snn.BatchNorm1d(hidden),
        snn.QuantLIF(levels=5, threshold=0.5, reset="soft"),
        snn.QuantLinear(hidden, classes, weight_bits=8),
        time_steps=T,
        input_shape=(1, 8, 8),
    )


def test_gradients_reach_weights_thresholds_and_bn():
    net = _conv_net()
    net.train()
    x = torch.rand(16, 1, 8, 8)
    y = torch.randint(0, 2, (16,))
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert bool(torch.isfinite(p.grad).all()), name
        assert float(p.grad.abs().sum()) > 0, name  # weights, biases, thresholds, BN params


def test_forward_steps_shape_and_mean():
    net = _conv_net()
    x = torch.rand(5, 1, 8, 8)
    steps = net.forward_steps(x)
    assert steps.shape == (3, 5, 2)
    assert torch.allclose(steps.mean(0), net(x))
    net.eval()
    es = net.forward_steps(x)
    assert es.shape == (3, 5, 2) and es.dtype == torch.float64
    assert torch.allclose(es.mean(0), net(x), rtol=1e-12, atol=1e-12)


def test_masked_channels_silent_in_training():
    net = _conv_net()
    net.layers[0].set_out_mask([1, 0, 1, 0])
    net.layers[1].record = False
    x = torch.rand(8, 1, 8, 8)
    spikes = []
    lif = net.layers[2]
    orig = lif.forward
    lif.forward = lambda c: spikes.append(orig(c)) or spikes[-1]  # type: ignore[method-assign]
    net(x)
    s = torch.stack(spikes)
    assert float(s.detach()[:, :, [1, 3]].abs().sum()) == 0
    assert float(s.detach()[:, :, [0, 2]].sum()) > 0
    net.eval()
    es = net.spikes(x)[0]
    assert int(es[:, :, [1, 3]].sum()) == 0


def _toy_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """4 classes: a brighter 2x2 patch in one quadrant of a noisy 8x8 image."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.6
    y = torch.randint(0, 4, (n,), generator=g)
    for i in range(n):
        r0, c0 = (0 if int(y[i]) < 2 else 4), (0 if int(y[i]) % 2 == 0 else 4)
        r = r0 + int(torch.randint(0, 3, (1,), generator=g))
        c = c0 + int(torch.randint(0, 3, (1,), generator=g))
        x[i, 0, r : r + 2, c : c + 2] += 0.4
    return x.clamp(0, 1), y


def _train(net: snn.Sequential, steps: int) -> list[float]:
    x, y = _toy_data(512, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    net.train()
    for i in range(steps):
        idx = slice((i * 64) % 512, (i * 64) % 512 + 64)
        out = net.forward_steps(x[idx])  # TET: per-step cross entropy
        loss = sum(torch.nn.functional.cross_entropy(o, y[idx]) for o in out) / len(out)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.fixture(scope="module")
def trained_net() -> snn.Sequential:
    torch.set_num_threads(1)
    net = _conv_net(classes=4, hidden=16, T=4)
    losses = _train(net, 80)
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5, losses
    return net


def test_tiny_net_learns(trained_net):
    x, y = _toy_data(200, 7)
    trained_net.eval()
    acc = float((trained_net(x).argmax(1) == y).float().mean())
    assert acc >= 0.8, acc  # chance is 0.25


def test_float_training_path_agrees_with_integer_eval(trained_net, capsys):
    x, y = _toy_data(1000, 11)
    trained_net.train()
    # BN in eval mode (running stats) so that the float path is the fake-quant of eval mode
    for m in trained_net.layers:
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    with torch.no_grad():
        fl = trained_net(x).argmax(1)
    trained_net.eval()
    il = trained_net.int_logits(x).argmax(1)
    agree = float((fl == il).float().mean())
    acc_f = float((fl == y).float().mean())
    acc_i = float((il == y).float().mean())
    with capsys.disabled():
        print(
            f"\n[float vs integer] prediction agreement {agree:.4f}, "
            f"accuracy float {acc_f:.4f} int {acc_i:.4f} (n=1000)"
        )
    assert agree >= 0.97
    assert abs(acc_f - acc_i) <= 0.03


def test_eval_forward_equals_int_logits_times_scale(trained_net):
    trained_net.eval()
    x, _ = _toy_data(16, 3)
    out = trained_net(x)
    assert out.dtype == torch.float64
    assert torch.equal(out, trained_net.int_logits(x).double() * trained_net.out_scale)


def test_record_trace_training_and_eval():
    net = _conv_net()
    lif = net.layers[2]
    lif.record = True
    x = torch.rand(2, 1, 8, 8)
    net(x)
    assert len(lif.trace) == 3 and lif.trace[0].shape == (2, 4, 8, 8)
    net.eval()
    net.int_logits(x)
    assert len(lif.trace) == 3 and lif.trace[0].dtype == torch.float64
    # V / 2^16 is on the 2^-16 grid
    assert bool(((lif.trace[1] * 65536) == (lif.trace[1] * 65536).round()).all())


@pytest.mark.parametrize("seed", range(6))
def test_training_path_runs_on_random_models(seed):
    from spq.nn.testing import random_input, random_model

    net = random_model(seed, prune=seed % 2 == 0)
    net.train()
    x = random_input(net, 4, seed, as_float=True)
    out = net.forward_steps(x)
    assert out.shape == (net.time_steps, 4, net.num_classes)
    out.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is None or bool(torch.isfinite(p.grad).all()), name
    # a masked channel gets no weight gradient
    for m in net.synapses:
        dead = m.out_mask == 0
        if bool(dead.any()) and m.weight.grad is not None:
            assert float(m.weight.grad[dead].abs().sum()) == 0.0


def test_float_path_tracks_integer_path_on_random_models(capsys):
    """Untrained random models (every feature, small logit margins): the float fake-quant
    path with BN running statistics predicts like the integer path most of the time."""
    from spq.nn.testing import random_input, random_model

    agree = total = 0
    for seed in range(20):
        net = random_model(seed)
        x = random_input(net, 32, seed + 1)
        il = net.int_logits(x).argmax(1)
        net.train()
        for m in net.layers:
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
        with torch.no_grad():
            fl = net(x).argmax(1)
        net.eval()
        agree += int((fl == il).sum())
        total += len(x)
    rate = agree / total
    with capsys.disabled():
        print(f"\n[float vs integer, 20 random untrained models] agreement {rate:.4f} (n={total})")
    assert rate >= 0.85


def test_masked_readout_class_is_zero():
    net = _conv_net()
    net.layers[-1].set_out_mask([1.0, 0.0])
    x = torch.rand(4, 1, 8, 8)
    assert float(net(x)[:, 1].detach().abs().sum()) == 0.0
    net.eval()
    assert int(net.int_logits(x)[:, 1].abs().sum()) == 0
    assert snn.fold(net).layers[-1].readout_bias[1] == 0


def test_batchnorm_statistics_over_all_time_steps():
    """tdBN: one BN batch over the T x N frames (momentum 1: the running statistics are the
    batch's), not a batch per step; the integer model folds these statistics."""
    torch.manual_seed(3)
    T, N = 3, 6
    conv = snn.QuantConv2d(2, 4, 3, padding=1, bias=False, weight_bits=4)
    bn = snn.BatchNorm2d(4, momentum=1.0)
    net = snn.Sequential(conv, bn, snn.QuantLIF(levels=3), snn.Flatten(),
                         snn.QuantLinear(4 * 5 * 5, 3), time_steps=T, input_kind="events",
                         input_shape=(2, 5, 5)).train()
    x = (torch.rand(N, T, 2, 5, 5) < torch.tensor([0.1, 0.5, 0.9]).view(1, T, 1, 1, 1)).float()
    net.forward_steps(x)
    with torch.no_grad():
        c = torch.stack([conv(x[:, t]) for t in range(T)])  # (T, N, C, H, W)
        per_channel = c.transpose(0, 2).reshape(4, -1)
        mean, var = per_channel.mean(1), per_channel.var(1, unbiased=True)
        last = c[-1].transpose(0, 1).reshape(4, -1)  # what a per-step BN would keep last
    assert torch.allclose(bn.running_mean, mean, atol=1e-5)
    assert torch.allclose(bn.running_var, var, rtol=1e-4)
    assert not torch.allclose(bn.running_mean, last.mean(1), atol=1e-2)  # steps differ
    # the fold uses them: the folded bias of channel c is -mean_c * g_c / theta
    ir = snn.fold(net)
    lif = net.layers[2]
    g = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    b = (bn.bias.detach().double() - bn.running_mean.double() * g) / float(lif.theta().detach())
    assert ir.layers[0].neuron.bias.tolist() == [round(v * 65536) for v in b.tolist()]


def test_static_input_runs_the_first_synapse_once_over_all_steps():
    net = _conv_net(T=4).train()
    calls = []
    h = net.layers[0].register_forward_hook(lambda _m, i, _o: calls.append(i[0].shape))
    net.forward_steps(torch.rand(5, 1, 8, 8))
    h.remove()
    assert calls == [(5, 1, 8, 8)]  # the image once, not once per step
    calls.clear()
    h = net.layers[5].register_forward_hook(lambda _m, i, _o: calls.append(i[0].shape))
    net.forward_steps(torch.rand(5, 1, 8, 8))
    h.remove()
    assert calls == [(4 * 5, 4 * 4 * 4)]  # the second synapse once on the T x N frames


def test_wide_triangle_spike_surrogate_closed_form():
    from spq.nn.surrogate import spike_fn

    x = torch.linspace(-2.0, 2.0, 801, dtype=torch.float64, requires_grad=True)
    y = spike_fn("triangle-wide", x)
    y.backward(torch.ones_like(x))
    for xi, gi, yi in zip(x.tolist(), x.grad.tolist(), y.tolist(), strict=True):
        assert gi == pytest.approx(max(0.0, 1 - abs(xi)), abs=1e-12)
        assert yi == (1.0 if xi >= 0 else 0.0)
    assert float(x.grad.sum()) * (4.0 / 800) == pytest.approx(1.0, rel=1e-3)
