# SPDX-License-Identifier: MIT
"""SpQuant-SNN layers: quantization-aware training and the exact integer eval mode.

Build a model with :class:`Sequential` (grammar and semantics: docs/semantics.md), train it
in training mode (float fake-quant, surrogate gradients), switch to ``eval()`` for the exact
integer semantics, and :func:`fold` it into the integer IR for the exporter.
"""

from __future__ import annotations

from spq.nn.fold import fold
from spq.nn.integer import RunResult
from spq.nn.layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Flatten,
    LIFParams,
    MaxPool2d,
    QuantConv2d,
    QuantLIF,
    QuantLinear,
    lif_step,
)
from spq.nn.sequential import Sequential, quantize_input
from spq.nn.spec import build

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Flatten",
    "LIFParams",
    "MaxPool2d",
    "QuantConv2d",
    "QuantLIF",
    "QuantLinear",
    "RunResult",
    "Sequential",
    "build",
    "fold",
    "lif_step",
    "quantize_input",
]
