# SPDX-License-Identifier: MIT
"""Seeded random models and inputs for bit-exactness tests (nn, exporter, runtimes).

``random_model(seed)`` builds a small network (input up to 2x8x8, T in 2..4, 1-2 conv
blocks and/or 1-2 linear blocks) with random weights of every bit width, random membrane
levels, leaks, thresholds, reset modes, optional BN and biases, max/avg pools, and
calibrates BN statistics / biases so that every neuron layer spikes at roughly 10-40 % on
``random_input`` (checked on the exact integer path). The result is in eval mode.
"""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import nn

from spq.nn.layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Flatten,
    MaxPool2d,
    QuantConv2d,
    QuantLIF,
    QuantLinear,
)
from spq.nn.sequential import Sequential

BETAS = (0.5, 0.25, 0.75, 1.0, 0.0)
LEVELS = (2, 3, 3, 5, 16, 7, 256)
RATE_LO, RATE_HI = 0.10, 0.40


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def random_model(
    seed: int,
    *,
    input_kind: str | None = None,
    weight_bits: int | None = None,
    levels: int | None = None,
    conv: bool | None = None,
    pool: str | None = None,
    prune: bool = False,
    readout: str = "linear",
    threshold_levels: bool = False,
) -> Sequential:
    """A small calibrated random model in eval mode.

    Args:
        seed: everything derives from it (same seed, same model, in any process).
        input_kind: ``"static"``/``"events"``; random if None.
        weight_bits: 2, 4 or 8 for every synapse; random per layer if None.
        levels: membrane levels for every neuron; random per neuron if None.
        conv: with conv blocks (True) or linear only (False); random if None.
        pool: ``"max"``, ``"avg"`` or ``"none"`` after every conv block; random if None.
        prune: mask (prune) random output channels of the neuron layers (at least one
            channel somewhere, and never all channels of a layer).
        readout: ``"linear"`` (a QuantLinear readout) or ``"spikes"`` (a last linear block
            whose output spike counts are the logits).
        threshold_levels: give each neuron a random threshold level D in 2..L-1 (a finer
            membrane, as imported networks use) instead of 1.
    """
    if readout not in ("linear", "spikes"):
        raise ValueError(f"readout must be 'linear' or 'spikes', not {readout!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is much faster (and no contention)
    try:
        return _random_model(seed, input_kind, weight_bits, levels, conv, pool, prune,
                             readout, threshold_levels)
    finally:
        torch.set_num_threads(threads)


def _random_model(
    seed: int,
    input_kind: str | None,
    weight_bits: int | None,
    levels: int | None,
    conv: bool | None,
    pool: str | None,
    prune: bool,
    readout: str = "linear",
    threshold_levels: bool = False,
) -> Sequential:
    rng = random.Random(seed)
    rng_d = random.Random(seed + 7777)  # threshold levels: a stream of their own
    gen = torch.Generator().manual_seed(seed)
    kind = input_kind or rng.choice(["static", "events"])
    C = rng.choice([1, 2])
    H = rng.choice([5, 6, 8])
    W = rng.choice([H, 8])
    T = rng.randint(2, 4)
    use_conv = conv if conv is not None else rng.random() < 0.75

    def bits() -> int:
        return weight_bits if weight_bits is not None else rng.choice([2, 4, 8])

    def lif() -> QuantLIF:
        n_levels = levels if levels is not None else rng.choice(LEVELS)
        return QuantLIF(
            levels=n_levels,
            beta=rng.choice(BETAS),
            threshold=rng.uniform(0.4, 2.0),
            learn_threshold=rng.random() < 0.8,
            reset=rng.choice(["hard", "soft"]),
            threshold_level=(rng_d.randint(2, n_levels - 1) if threshold_levels and n_levels > 2
                             else 1),
            strict=threshold_levels and rng_d.random() < 0.5,
        )

    layers: list[nn.Module] = []
    shape: tuple[int, ...] = (C, H, W)
    n_lin_choices = [0, 1, 2]
    if use_conv:
        n_conv = rng.choice([1, 2])
        for b in range(n_conv):
            out_c = rng.choice([2, 3, 4])
            k = rng.choice([1, 2, 3]) if b else rng.choice([2, 3])
            p = rng.choice([0, 1]) if k > 1 else 0
            s = rng.choice([1, 1, 2])
            ho, wo = _conv_out(shape[1], k, s, p), _conv_out(shape[2], k, s, p)
            if min(ho, wo) < 2:
                s, p = 1, (k - 1) // 2 + (k % 2 == 0)
                ho, wo = _conv_out(shape[1], k, s, p), _conv_out(shape[2], k, s, p)
            layers.append(
                QuantConv2d(shape[0], out_c, k, s, p, bias=rng.random() < 0.7, weight_bits=bits())
            )
            if rng.random() < 0.7:
                layers.append(BatchNorm2d(out_c))
            layers.append(lif())
            shape = (out_c, ho, wo)
            pk = pool if pool is not None else rng.choice(["max", "avg", "none"])
            if pk != "none" and min(ho, wo) >= 2:
                k_p = 2 if min(ho, wo) < 6 or rng.random() < 0.7 else 3
                layers.append(MaxPool2d(k_p) if pk == "max" else AvgPool2d(k_p))
                shape = (out_c, ho // k_p, wo // k_p)
        layers.append(Flatten())
    else:
        n_lin_choices = [1, 2]
        layers.append(Flatten())
    feat = shape[0] * shape[1] * shape[2] if len(shape) == 3 else shape[0]
    for _ in range(rng.choice(n_lin_choices)):
        out_f = rng.randint(4, 12)
        layers.append(QuantLinear(feat, out_f, bias=rng.random() < 0.8, weight_bits=bits()))
        if rng.random() < 0.6:
            layers.append(BatchNorm1d(out_f))
        layers.append(lif())
        feat = out_f
    layers.append(QuantLinear(feat, rng.randint(2, 5), bias=rng.random() < 0.8, weight_bits=bits()))
    if readout == "spikes":
        layers.append(lif())
    net = Sequential(*layers, time_steps=T, input_kind=kind, input_shape=(C, H, W))

    with torch.no_grad():
        for m in net.layers:
            if isinstance(m, (QuantConv2d, QuantLinear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * rng.uniform(0.1, 1.0))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        if prune:
            for st in net.stages:
                if st.lif is None or st.kind == "spike_readout":
                    continue
                syn = net.layers[st.idx]
                n_out = syn.out_mask.numel()  # type: ignore[union-attr]
                mask = (torch.rand(n_out, generator=gen) > 0.35).float()
                mask[rng.randrange(n_out)] = 1.0
                syn.set_out_mask(mask)  # type: ignore[operator]
            masked = [net.layers[st.idx] for st in net.stages
                      if st.lif is not None and st.kind != "spike_readout"]
            if masked and all(bool((m.out_mask != 0).all()) for m in masked):
                # make sure something is pruned: one channel of a layer that has two or more
                wide = [m for m in masked if m.out_mask.numel() > 1]  # type: ignore[union-attr]
                if wide:
                    m = wide[rng.randrange(len(wide))]
                    mask = m.out_mask.clone()  # type: ignore[union-attr]
                    mask[rng.randrange(mask.numel())] = 0.0
                    m.set_out_mask(mask)  # type: ignore[operator]
    _calibrate(net, rng, gen, seed)
    net.eval()
    return net


def random_input(net: Sequential, n: int, seed: int, *, as_float: bool = False) -> torch.Tensor:
    """Seeded input for ``net``: static -> uint8 (N, C, H, W) (about 30 % zero pixels);
    events -> uint8 (N, T, C, H, W) of 0/1 at a random density 0.15..0.5 per sample.
    ``as_float`` returns float32 instead (static: ``q / 255``, which quantizes back to q)."""
    gen = torch.Generator().manual_seed(seed * 7919 + 17)
    C, H, W = net.input_shape
    if net.input_kind == "static":
        q = torch.randint(0, 256, (n, C, H, W), generator=gen)
        q = q * (torch.rand(n, C, H, W, generator=gen) > 0.3)
        x = q.to(torch.uint8)
        return x.to(torch.float32) / 255.0 if as_float else x
    T = net.time_steps
    dens = 0.15 + 0.35 * torch.rand(n, 1, 1, 1, 1, generator=gen)
    ev = (torch.rand(n, T, C, H, W, generator=gen) < dens).to(torch.uint8)
    return ev.to(torch.float32) if as_float else ev


# ----------------------------------------------------------------------------- calibration


def _block_rates(net: Sequential, x: torch.Tensor) -> list[float]:
    res = net._run_int(x, want_spikes=True)
    return [float(s.to(torch.float64).mean()) for s in res.spikes]


def _capture_currents(net: Sequential, x: torch.Tensor, syn_idx: int) -> torch.Tensor:
    """Float synapse outputs of layer ``syn_idx`` (BN in eval mode), stacked over steps."""
    got: list[torch.Tensor] = []
    mod = net.layers[syn_idx]
    h = mod.register_forward_hook(lambda _m, _i, o: got.append(o.detach()))
    was = net.training
    net.train()
    for m in net.layers:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    try:
        with torch.no_grad():
            net._float_steps(x)
    finally:
        h.remove()
        net.train(was)
    return torch.stack(got)


def _calibrate(net: Sequential, rng: random.Random, gen: torch.Generator, seed: int) -> None:
    x = random_input(net, 12, seed + 1)
    neuron_stages = [st for st in net.stages if st.lif is not None]
    for li, st in enumerate(neuron_stages):
        syn = net.layers[st.idx]
        lif = net.layers[st.lif]  # type: ignore[index]
        assert isinstance(lif, QuantLIF) and isinstance(syn, (QuantConv2d, QuantLinear))
        cur = _capture_currents(net, x, st.idx)  # (steps, N, C, ...)
        dims = [d for d in range(cur.dim()) if d != 2]
        m = cur.mean(dim=dims).double()
        s = cur.std(dim=dims).double().clamp_min(1e-3)
        theta = float(lif.theta().detach())
        bn = net.layers[st.bn] if st.bn is not None else None
        C = m.numel()
        target = rng.uniform(0.15, 0.35)
        with torch.no_grad():
            if bn is not None:
                assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
                noise = torch.randn(C, generator=gen, dtype=torch.float64)
                bn.running_mean.copy_((m + 0.1 * s * noise).float())  # type: ignore[union-attr]
                var = s**2 * (0.7 + 0.6 * torch.rand(C, generator=gen, dtype=torch.float64))
                bn.running_var.copy_(var.float())  # type: ignore[union-attr]
                sign = torch.where(torch.rand(C, generator=gen) < 0.15, -1.0, 1.0)
                gamma = theta * (0.4 + 0.6 * torch.rand(C, generator=gen)) * sign
                bn.weight.copy_(gamma)
                base = theta * (0.2 + 0.4 * torch.rand(C, generator=gen))
                bn.bias.copy_(base)
                offset_param = bn.bias
            else:
                new_theta = float(s.mean()) / rng.uniform(0.5, 1.0)
                lif.threshold.fill_(max(new_theta, 2e-3))
                theta = float(lif.theta().detach())
                base = -m + theta * (0.2 + 0.4 * torch.rand(C, generator=gen, dtype=torch.float64))
                if syn.bias is None:
                    # no bias and no BN: only the threshold can set the rate
                    offset_param = None
                else:
                    syn.bias.copy_(base.float())
                    offset_param = syn.bias
            base_val = offset_param.detach().clone() if offset_param is not None else None
        # bisect a common offset (in units of theta) until the layer's rate is in range
        lo_d, hi_d = -4.0, 4.0
        d = 0.0
        for _ in range(14):
            net.eval()
            rate = _block_rates(net, x)[li]
            if RATE_LO <= rate <= RATE_HI:
                break
            if rate < target:
                lo_d = d
            else:
                hi_d = d
            d = (lo_d + hi_d) / 2
            with torch.no_grad():
                if offset_param is not None and base_val is not None:
                    offset_param.copy_(base_val + d * theta)
                else:
                    # scale the threshold instead: a higher threshold lowers the rate
                    lif.threshold.fill_(max(theta * (2.0 ** (-d)), 2e-3))


def describe(net: Sequential) -> dict[str, Any]:
    """Short summary (for test ids and failure messages)."""
    return {
        "input_kind": net.input_kind,
        "input_shape": net.input_shape,
        "T": net.time_steps,
        "layers": [type(m).__name__ for m in net.layers],
    }
