# SPDX-License-Identifier: MIT
"""What a run does besides its arithmetic: spike counts, synops, ops and zero shares
(docs/semantics.md section 9), collected by an :class:`Observer` that the run calls.

A run (the integer interpreter of :mod:`spq.nn.integer`, the float baseline's
:func:`spq.baseline.float_counts`) calls :meth:`Observer.synapse` with each synapse's input
whenever that synapse computes, and :meth:`Observer.neuron` with each neuron layer's spikes,
membrane before the reset and stored level after it, every step. :class:`Activity` counts;
the geometry it counts with (:func:`sites`) comes from the parsed layer grammar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from spq.nn.grammar import Network, channel_mask


@dataclass(frozen=True)
class SynapseSite:
    """One synapse as section 9 counts it (a readout is a ``linear`` site)."""

    kind: str  # "conv" | "linear"
    kernel: int
    stride: int
    padding: int
    positions: int  # output positions H_out x W_out (1 for linear)
    active_in: int  # the input's channels, or the feeding layer's unmasked channels; times
    # H x W for a linear layer reading a flattened map
    active_out: int  # unmasked output channels (features, classes)

    @property
    def dense_ops(self) -> int:
        """``active_in x active_out x k^2 x H_out x W_out``: the work of one step, no zeros."""
        return self.active_in * self.active_out * self.kernel * self.kernel * self.positions


@dataclass(frozen=True)
class NeuronSite:
    """One neuron layer: its output shape and which of its neurons are unmasked."""

    shape: tuple[int, ...]
    alive: torch.Tensor  # bool, flattened over ``shape``

    @property
    def active(self) -> int:
        return int(self.alive.sum())


def sites(net: Network) -> tuple[list[SynapseSite], list[NeuronSite]]:
    """The synapses (readout last) and neuron layers of a parsed network, in order."""
    act = net.input_shape[0]  # active channels (or features) of the data flowing in
    spatial = math.prod(net.input_shape[1:])  # positions per channel of that data
    synapses: list[SynapseSite] = []
    neurons: list[NeuronSite] = []
    for st in net.stages:
        if st.kind in ("maxpool", "sumpool"):
            spatial = st.out_shape[1] * st.out_shape[2]
        if not st.is_synapse:
            continue
        mod = net.layers[st.idx]
        alive = channel_mask(mod)
        a_out = int(alive.sum())
        if st.kind == "conv":
            k, s, p = mod.kernel_size[0], int(mod.stride[0]), int(mod.padding[0])  # type: ignore[index]
            spatial = st.out_shape[1] * st.out_shape[2]
            synapses.append(SynapseSite("conv", k, s, p, spatial, act, a_out))
        else:
            synapses.append(SynapseSite("linear", 1, 1, 0, 1, act * spatial, a_out))
            spatial = 1
        act = a_out
        if st.lif is not None:
            full = alive.view(-1, 1, 1) if st.kind == "conv" else alive
            neurons.append(NeuronSite(tuple(st.out_shape),
                                      full.expand(st.out_shape).reshape(-1).clone()))
    return synapses, neurons


class Observer:
    """Told what a run computes; every method does nothing here."""

    def synapse(self, k: int, x: torch.Tensor) -> None:
        """Synapse ``k`` (readout included) computed on input ``x`` (N, ...). A static first
        layer computes once per inference, so it is reported once."""

    def neuron(self, t: int, k: int, s: torch.Tensor, v: torch.Tensor,
               level: torch.Tensor | None) -> None:
        """Neuron layer ``k`` at step ``t``: spikes ``s``, membrane ``v`` before the reset and
        the stored level after it (None for a float membrane), each (N, ...)."""


def synop_count(x: torch.Tensor, site: SynapseSite) -> torch.Tensor:
    """Per sample: sum over non-zero inputs of the (out channel, position) pairs reached."""
    N = x.shape[0]
    nz = (x != 0).to(torch.float64)
    if site.kind == "conv":
        ones = torch.ones(1, 1, site.kernel, site.kernel, dtype=torch.float64)
        reach = Fn.conv2d(nz.sum(1, keepdim=True), ones, None, site.stride, site.padding)
        per = reach.reshape(N, -1).sum(1)
    else:
        per = nz.reshape(N, -1).sum(1)
    return per.round().to(torch.int64) * site.active_out


class Activity(Observer):
    """Spike counts, synops, ops and zero shares of ``n`` samples over ``time_steps`` steps
    (docs/semantics.md section 9; the shapes of :class:`spq.nn.RunResult`'s fields)."""

    def __init__(self, n: int, time_steps: int, synapses: list[SynapseSite],
                 neurons: list[NeuronSite]) -> None:
        self.synapses, self.neurons = synapses, neurons
        self.spike_counts = torch.zeros(n, len(neurons), dtype=torch.int64)
        self.synops = torch.zeros(n, len(synapses), dtype=torch.int64)
        self.ops = torch.zeros(n, dtype=torch.float64)
        self.zero_fraction = torch.zeros(n, time_steps, len(neurons), dtype=torch.float64)
        self.level_zero_fraction = torch.zeros_like(self.zero_fraction)
        self._z = torch.zeros(n, dtype=torch.float64)  # zero share of what feeds the next layer

    def synapse(self, k: int, x: torch.Tensor) -> None:
        site = self.synapses[k]
        N = x.shape[0]
        if k == 0:  # the input: a zero pixel or event adds nothing
            self._z = (x == 0).reshape(N, -1).sum(1).to(torch.float64) / max(1, x[0].numel())
        self.synops[:, k] += synop_count(x, site)
        self.ops += float(site.dense_ops) * (1.0 - self._z)

    def neuron(self, t: int, k: int, s: torch.Tensor, v: torch.Tensor,
               level: torch.Tensor | None) -> None:
        site = self.neurons[k]
        N = s.shape[0]
        self.spike_counts[:, k] += s.reshape(N, -1).sum(1, dtype=torch.int64)
        n_act = max(site.active, 1)
        zero = (v.reshape(N, -1) == 0) & site.alive
        z = zero.sum(1).to(torch.float64) / n_act
        if level is not None:
            lz = ((level.reshape(N, -1) == 0) & site.alive).sum(1).to(torch.float64)
            self.level_zero_fraction[:, t, k] = lz / n_act
        if site.active == 0:
            z = torch.ones(N, dtype=torch.float64)
        self.zero_fraction[:, t, k] = z
        self._z = z
