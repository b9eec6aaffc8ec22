# SPDX-License-Identifier: MIT
"""The full-precision SNN baseline of docs/results.md: 32-bit float weights, float membrane.

It is not an spq.nn model (it has no integer form): :class:`FloatSequential` and
:class:`FloatLIF` build it from plain torch synapses and pools, only for training and
counting. It follows the layer grammar of spq.nn (:data:`spq.nn.grammar.BASELINE`), and
:func:`float_counts` counts it with the observer eval mode counts with
(:class:`spq.nn.activity.Activity`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spq.nn.activity import Activity, sites
from spq.nn.grammar import BASELINE, parse
from spq.nn.layers import SpikingNeuron
from spq.nn.surrogate import spike_fn


class FloatLIF(SpikingNeuron):
    """LIF neuron with a float membrane (the 32-bit baseline): no membrane quantization.

    Same equations as ``spq.nn.QuantLIF`` in training mode minus the level rounding:
    ``v = beta * v_r + c``, spike when ``v >= theta`` (the spike surrogate named by
    ``spike_surrogate``), hard reset. ``record``/``trace`` hold ``v / theta`` before the
    reset, as in QuantLIF.
    """

    levels: int | None = None

    def __init__(self, beta: float = 0.5, threshold: float = 1.0,
                 spike_surrogate: str = "triangle") -> None:
        super().__init__()
        self.beta = float(beta)
        self.spike_surrogate = spike_surrogate
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))
        self.v: torch.Tensor | None = None
        self.v_pre: torch.Tensor | None = None  # the last step's membrane before the reset

    def theta(self) -> torch.Tensor:
        return self.threshold.clamp_min(1e-3)

    def reset_state(self) -> None:
        self.v = None
        self.trace = []

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        theta = self.theta()
        v_prev = self.v if self.v is not None else torch.zeros_like(c)
        v = self.beta * v_prev + c  # leak and integrate
        s = spike_fn(self.spike_surrogate, (v - theta) / theta)  # fire at v >= theta
        self.v = v * (1.0 - s)  # hard reset
        self.v_pre = v.detach()
        if self.record:
            self.trace.append((v / theta).detach())
        return s


class FloatSequential(nn.Module):
    """The full-precision twin of ``spq.nn.Sequential`` (float weights, float membrane)."""

    def __init__(self, *layers: nn.Module, time_steps: int, input_kind: str,
                 input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.time_steps = int(time_steps)
        self.input_kind = input_kind
        self.input_shape = tuple(input_shape)
        self.stages = parse(list(layers), self.input_shape, BASELINE)

    def _frame(self, x: torch.Tensor, t: int) -> torch.Tensor:
        return x.float() if self.input_kind == "static" else x[:, t].float()

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step logits (T, N, classes), layer by layer over all steps as in
        ``spq.nn.Sequential`` (BN statistics over samples and time steps)."""
        for layer in self.layers:
            if isinstance(layer, FloatLIF):
                layer.reset_state()
        T, N = self.time_steps, x.shape[0]
        shared = self.input_kind == "static"
        h = x.float() if shared else x.float().transpose(0, 1).reshape(T * N, *x.shape[2:])
        for layer in self.layers:
            if isinstance(layer, FloatLIF):
                steps = [h] * T if shared else list(h.view(T, N, *h.shape[1:]))
                h = torch.cat([layer(ht) for ht in steps])
                shared = False
            else:
                h = layer(h)
        if shared:
            return h.unsqueeze(0).expand(T, *h.shape)
        return h.view(T, N, *h.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(0)


@torch.no_grad()
def float_counts(net: FloatSequential, x: torch.Tensor) -> dict[str, Any]:
    """Spikes, synops and ops of the float baseline, per sample (the definitions of
    ``spq.nn.Sequential.run_int``, docs/semantics.md section 9, counted by the same
    :class:`~spq.nn.activity.Activity`: the first layer scaled by the share of non-zero
    inputs, the others by the share of the feeding layer's neurons whose membrane before the
    reset is not exactly 0), as float64 (N, layers) and (N,) tensors."""
    N, T = len(x), net.time_steps
    counts = Activity(N, T, *sites(net))
    for m in net.layers:
        if isinstance(m, FloatLIF):
            m.reset_state()
    static = net.input_kind == "static"
    for t in range(T):
        h = net._frame(x, t)
        k_syn = k_neu = 0
        for st in net.stages:
            mod = net.layers[st.idx]
            if not st.is_synapse:  # flatten, pool
                h = mod(h)
                continue
            if st.kind != "conv":
                h = h.reshape(N, -1)
            if not (static and k_syn == 0 and t > 0):  # a static first layer counts once
                counts.synapse(k_syn, h)
            h = mod(h)
            if st.bn is not None:
                h = net.layers[st.bn](h)
            k_syn += 1
            if st.lif is not None:
                lif = net.layers[st.lif]
                assert isinstance(lif, FloatLIF)
                h = lif(h)
                assert lif.v_pre is not None
                counts.neuron(t, k_neu, h, lif.v_pre, None)
                k_neu += 1
    return {"spikes": counts.spike_counts.double(), "synops": counts.synops.double(),
            "ops": counts.ops}
