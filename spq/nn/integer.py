# SPDX-License-Identifier: MIT
"""Eval mode's integer interpreter: docs/semantics.md with int64 tensors.

:func:`plan` turns the folded IR (:func:`spq.nn.fold`) into torch tensors once; :func:`run`
steps through the layers and time steps with the pure per-layer steps (:func:`pool_step`,
:func:`synapse_step` and :func:`spq.nn.quant.neuron_update`) and tells the
:class:`~spq.nn.activity.Observer` objects it is given what each layer computed: the counts
of section 9 (:class:`~spq.nn.activity.Activity`), spike trains (:class:`SpikeTrains`),
membrane traces (:class:`Traces`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as Fn
from torch import nn

from spq.ir import LayerIR, ModelIR
from spq.nn.activity import Observer
from spq.nn.grammar import Stage
from spq.nn.layers import SpikingNeuron
from spq.nn.quant import THETA_INT, neuron_current, neuron_update


@dataclass
class IntLayer:
    """Torch view of one LayerIR, ready for the integer interpreter."""

    ir: LayerIR
    stage: Stage
    w: torch.Tensor | None = None  # float64 integer-valued weights
    mult: torch.Tensor | None = None  # int64, broadcastable per channel
    shift: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    readout_bias: torch.Tensor | None = None  # int64 (classes,)


@dataclass
class IntPlan:
    ir: ModelIR
    layers: list[IntLayer]
    key: tuple[Any, ...]


@dataclass
class RunResult:
    """Everything one integer inference produces (docs/semantics.md sections 5-9).

    ``logits_int`` int64 (N, classes); ``spikes`` one uint8 tensor per neuron layer, (N, T,
    C, H, W) or (N, T, F); ``spike_counts`` int64 (N, neuron layers); ``synops`` int64
    (N, synapse layers incl. readout); ``ops`` float64 (N,), the dense synaptic work left
    after skipping zero inputs and zero membranes (docs/semantics.md section 9);
    ``zero_fraction`` float64 (N, T, neuron layers): fraction of the unmasked neurons whose
    membrane ``V`` is exactly 0 before the reset (the ops count's ``z``);
    ``level_zero_fraction`` the same shape: fraction whose stored level ``u'`` is 0 after
    the reset (it includes every neuron that just fired).
    """

    logits_int: torch.Tensor
    spikes: list[torch.Tensor]
    spike_counts: torch.Tensor
    synops: torch.Tensor
    ops: torch.Tensor
    zero_fraction: torch.Tensor
    level_zero_fraction: torch.Tensor
    step_logits_int: torch.Tensor | None = field(default=None)  # (T, N, classes) acc_t + bias_q


def plan(ir: ModelIR, stages: list[Stage], layers: Sequence[nn.Module],
         key: tuple[Any, ...]) -> IntPlan:
    """The IR's integers as torch tensors, one :class:`IntLayer` per IR layer."""
    out: list[IntLayer] = []
    for L, st in zip(ir.layers, [s for s in stages if s.kind != "flatten"], strict=True):
        il = IntLayer(ir=L, stage=st)
        if L.weight is not None:
            il.w = torch.from_numpy(L.weight.astype("float64"))
            view = (L.weight.shape[0], 1, 1) if L.type == "conv" else (L.weight.shape[0],)
            if L.neuron is not None:
                il.mult = torch.from_numpy(L.neuron.mult.astype("int64")).view(view)
                il.shift = torch.from_numpy(L.neuron.shift.astype("int64")).view(view)
                il.bias = torch.from_numpy(L.neuron.bias.astype("int64")).view(view)
            if L.readout_bias is not None:
                il.readout_bias = torch.from_numpy(L.readout_bias.astype("int64"))
        out.append(il)
    return IntPlan(ir=ir, layers=out, key=key)


# ------------------------------------------------------------------ the per-layer steps


def pool_step(ir: LayerIR, h: torch.Tensor) -> torch.Tensor:
    """Max pooling (the OR of spikes) or sum pooling (counts), k x k, stride k."""
    if ir.type == "maxpool":
        return Fn.max_pool2d(h.to(torch.float64), ir.pool, ir.pool).to(torch.int64)
    pooled = Fn.avg_pool2d(h.to(torch.float64), ir.pool, ir.pool, divisor_override=1)
    return pooled.round().to(torch.int64)


def synapse_step(L: IntLayer, x: torch.Tensor) -> torch.Tensor:
    """The accumulators ``acc = sum w * x`` of a readout, or a neuron layer's input current
    ``I = sat(rha(acc * M / 2^S))`` (docs/semantics.md sections 4-5). ``x`` is (N, C, H, W)
    for a conv layer, flat (N, F) otherwise."""
    ir = L.ir
    assert L.w is not None
    if ir.type == "conv":
        accf = Fn.conv2d(x.to(torch.float64), L.w, None, ir.stride, ir.padding)
    else:
        accf = Fn.linear(x.to(torch.float64), L.w)
    acc = accf.round().to(torch.int64)
    if ir.neuron is None:
        return acc
    assert L.mult is not None and L.shift is not None
    return neuron_current(acc, L.mult, L.shift)


# ------------------------------------------------------------------ the run


@torch.no_grad()
def run(p: IntPlan, xi: torch.Tensor, static: bool, observers: Sequence[Observer] = (),
        per_step: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Integer inference of int64 inputs ``xi`` (static (N, C, H, W), the same every step,
    or events (N, T, C, H, W)). Returns the logits (N, classes) and, with ``per_step``, the
    per-step logits (T, N, classes): ``acc_t + bias_q`` of a readout, a spike readout's
    spikes. A static first layer computes once: its current is the same every step."""
    N, T = xi.shape[0], p.ir.time_steps
    levels: dict[int, torch.Tensor] = {}  # stored membrane level u of each neuron layer
    logits = torch.zeros(N, p.ir.num_classes, dtype=torch.int64)
    step_logits = []
    first: torch.Tensor | None = None  # a static first layer's output
    for t in range(T):
        h = xi if static else xi[:, t]
        k_syn = k_neu = 0
        for li, L in enumerate(p.layers):
            ir = L.ir
            if L.w is None:
                h = pool_step(ir, h)
                continue
            if first is not None and li == 0:
                c = first
            else:
                x = h if ir.type == "conv" else h.reshape(N, -1)
                c = synapse_step(L, x)
                if static and li == 0:
                    first = c
                for o in observers:
                    o.synapse(k_syn, x)
            k_syn += 1
            if ir.neuron is None:  # the readout: logits are the summed accumulators
                logits += c
                if per_step:
                    assert L.readout_bias is not None
                    step_logits.append(c + L.readout_bias)
                continue
            nr = ir.neuron
            assert L.bias is not None
            u = levels.get(li)
            s, levels[li], v = neuron_update(c, torch.zeros_like(c) if u is None else u, L.bias,
                                             nr.leak, nr.lo, nr.hi, nr.reset)
            if ir.type == "spike_readout":  # logits are the output spike counts
                logits += s
                if per_step:
                    step_logits.append(s.clone())
            for o in observers:
                o.neuron(t, k_neu, s, v, levels[li])
            h = s
            k_neu += 1
    readout = p.layers[-1]
    if readout.readout_bias is not None:
        logits += T * readout.readout_bias
    return logits, torch.stack(step_logits) if per_step else None


class SpikeTrains(Observer):
    """The spikes of every neuron layer: uint8 (N, T, ...) each, from :meth:`trains`."""

    def __init__(self, n_layers: int) -> None:
        self.steps: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]

    def neuron(self, t: int, k: int, s: torch.Tensor, v: torch.Tensor,
               level: torch.Tensor | None) -> None:
        self.steps[k].append(s.to(torch.uint8))

    def trains(self) -> list[torch.Tensor]:
        return [torch.stack(s, 1) for s in self.steps]


class Traces(Observer):
    """``V / 2^16`` (the membrane in units of the threshold, float64) appended to the
    ``trace`` of every neuron whose ``record`` is set; every trace is cleared first."""

    def __init__(self, neurons: Sequence[SpikingNeuron]) -> None:
        self.neurons = list(neurons)
        for m in self.neurons:
            m.trace = []

    def neuron(self, t: int, k: int, s: torch.Tensor, v: torch.Tensor,
               level: torch.Tensor | None) -> None:
        m = self.neurons[k]
        if m.record:
            m.trace.append(v.to(torch.float64) / THETA_INT)

