# SPDX-License-Identifier: MIT
"""The integer intermediate representation shared by spq.nn, the exporter and the runtimes.

A :class:`ModelIR` holds every integer the runtimes need (docs/semantics.md), nothing float
but ``out_scale`` (reporting only). ``spq.nn.fold(net)`` produces it from an eval-mode
network (the same integers eval mode computes with); ``spq.export`` removes pruned channels,
packs it into C and runs it through the reference interpreter.

Conventions
-----------
* Shapes are channel-major. ``in_shape``/``out_shape`` are ``(C, H, W)`` for conv and pool
  layers and ``(F,)`` for linear and readout layers.
* The last layer is the ``readout`` (a linear synapse without neuron: logits are its summed
  accumulators) or a ``spike_readout`` (a linear layer with a neuron: logits are the spike
  counts of its outputs over the T steps).
* ``weight`` is an ``int8`` array in PyTorch layout: ``(O, I, kh, kw)`` for conv,
  ``(O, I)`` for linear/readout. A linear layer that follows a conv/pool reads the
  ``(C, H, W)`` map flattened in C order.
* ``in_kind``: ``"u8"`` (static image pixels 0..255), ``"spike"`` (0/1), ``"count"``
  (sum-pooled spikes 0..max_in).
* Neuron arrays are per output channel: ``mult`` int32, ``shift`` int32 in [0, 62],
  ``bias`` int32; ``leak`` (K), ``lo``, ``hi`` ints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FRAC_BITS = 16
FORMAT_VERSION = 3

LayerType = Literal["conv", "linear", "maxpool", "sumpool", "readout", "spike_readout"]
InKind = Literal["u8", "spike", "count"]


# ---------------------------------------------------------------- rules shared as data
# spq.nn, the exporter and the runtimes each compute with these; keeping them here (and only
# here) is what lets the two Python integer implementations stay independent code paths.

QMAX = {2: 1, 4: 7, 8: 127}  # weight bits -> largest |w| (symmetric; 2 bit is ternary)
ACC16_MAX = 32767  # an int16 accumulator holds |acc| up to this


def acc_bound(fan_in: int, weight_bits: int, max_in: int) -> int:
    """The proven bound ``fan_in * qmax * max_in`` on ``|acc|`` (docs/semantics.md §4)."""
    return fan_in * QMAX[weight_bits] * max_in


def acc_bits(fan_in: int, weight_bits: int, max_in: int) -> int:
    """Accumulator width: 16 where :func:`acc_bound` proves int16 enough, else 32."""
    return 16 if acc_bound(fan_in, weight_bits, max_in) <= ACC16_MAX else 32


def level_bits(levels: int) -> int:
    """Bits of one stored membrane level, ``ceil(log2(levels))`` (at least 1)."""
    return max(1, (levels - 1).bit_length())


def align4(n: int) -> int:
    """``n`` rounded up to a multiple of 4 (every arena buffer and table is 4-byte aligned)."""
    return (n + 3) & ~3


def layer_names(types: list[str]) -> list[str]:
    """The names of a model's layers from their types, as the manifest, the C comments, the
    profile and the pruning report print them: conv1, conv2, ... and fc1, ... for neuron
    layers, pool1, ... for pools (one count each), ``readout`` for the last layer."""
    prefixes = {"conv": "conv", "linear": "fc", "maxpool": "pool", "sumpool": "pool"}
    counts: dict[str, int] = {}
    names = []
    for t in types:
        if t in ("readout", "spike_readout"):
            names.append("readout")
            continue
        prefix = prefixes[t]
        counts[prefix] = counts.get(prefix, 0) + 1
        names.append(f"{prefix}{counts[prefix]}")
    return names


@dataclass
class NeuronIR:
    mult: np.ndarray  # int32 (C,)
    shift: np.ndarray  # int32 (C,), 0..62
    bias: np.ndarray  # int32 (C,)
    leak: int  # K = rha(beta * 2^F)
    levels: int
    lo: int
    hi: int  # the threshold level: spike when V >= hi * 2^F
    reset: Literal["hard", "soft"]


@dataclass
class LayerIR:
    type: LayerType
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    # synapse (conv, linear, readout)
    weight: np.ndarray | None = None  # int8, PyTorch layout
    weight_bits: int = 0
    in_kind: InKind = "spike"
    max_in: int = 1
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    acc_bits: int = 32
    neuron: NeuronIR | None = None  # conv, linear and spike_readout
    readout_bias: np.ndarray | None = None  # int32 (classes,), readout only
    # pool
    pool: int = 0  # k for maxpool / sumpool
    # channels of the original (unpruned) layer kept by the exporter, for reporting
    kept_channels: list[int] | None = None


@dataclass
class ModelIR:
    name: str
    input_kind: Literal["static", "events"]
    input_shape: tuple[int, int, int]
    time_steps: int
    num_classes: int
    out_scale: float
    layers: list[LayerIR] = field(default_factory=list)

    @property
    def neuron_layers(self) -> list[LayerIR]:
        """Layers that emit spikes, in order (one spike train each in ``net.spikes``)."""
        return [layer for layer in self.layers if layer.neuron is not None]
