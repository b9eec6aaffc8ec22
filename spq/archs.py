# SPDX-License-Identifier: MIT
"""Default architectures, one per data set, sized for a Cortex-M4 with 128 KB of RAM.

Each builder takes the quantization settings and returns an untrained
:class:`spq.nn.Sequential`. ``spq train --arch NAME`` picks one by name; without ``--arch``
the data set's default is used (:data:`DEFAULT_ARCH`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from spq import nn as snn
from spq.baseline import FloatLIF, FloatSequential
from spq.data import DatasetInfo
from spq.errors import SpqError


@dataclass(frozen=True)
class ArchSettings:
    weight_bits: int = 4
    levels: int | None = 3  # None: float membrane (the full-precision baseline)
    time_steps: int = 4
    beta: float = 0.5
    threshold: float = 1.0
    spike_surrogate: str = "triangle"


Builder = Callable[[DatasetInfo, ArchSettings], Any]


class _Layers:
    """Layer constructors: spq.nn for quantized models, plain torch for the float baseline."""

    def __init__(self, s: ArchSettings) -> None:
        self.s = s
        self.float = s.levels is None or s.weight_bits == 32

    def conv(self, c_in: int, c_out: int) -> Any:
        if self.float:
            return nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        return snn.QuantConv2d(c_in, c_out, 3, padding=1, bias=False,
                               weight_bits=self.s.weight_bits)

    def linear(self, f_in: int, f_out: int, bias: bool) -> Any:
        if self.float:
            return nn.Linear(f_in, f_out, bias=bias)
        return snn.QuantLinear(f_in, f_out, bias=bias, weight_bits=self.s.weight_bits)

    def bn(self, c: int, dims: int) -> Any:
        if self.float:
            return nn.BatchNorm2d(c) if dims == 2 else nn.BatchNorm1d(c)
        return snn.BatchNorm2d(c) if dims == 2 else snn.BatchNorm1d(c)

    def lif(self) -> Any:
        if self.float:
            return FloatLIF(beta=self.s.beta, threshold=self.s.threshold,
                            spike_surrogate=self.s.spike_surrogate)
        return snn.QuantLIF(levels=self.s.levels, beta=self.s.beta, threshold=self.s.threshold,
                            spike_surrogate=self.s.spike_surrogate)

    def maxpool(self, k: int) -> Any:
        if self.float:
            return nn.MaxPool2d(k)
        return snn.MaxPool2d(k)

    def flatten(self) -> Any:
        if self.float:
            return nn.Flatten()
        return snn.Flatten()

    def sequential(self, layers: list[Any], info: DatasetInfo) -> Any:
        seq: type = FloatSequential if self.float else snn.Sequential
        return seq(*layers, time_steps=self.s.time_steps, input_kind=info.input_kind,
                   input_shape=info.input_shape)


def _cnn(widths: tuple[int, ...], hidden: int | None) -> Builder:
    """conv3x3-BN-LIF-maxpool2 per width, then [linear-BN-LIF], then the linear readout."""

    def build(info: DatasetInfo, s: ArchSettings) -> Any:
        f = _Layers(s)
        c, h, w = info.input_shape
        layers: list[Any] = []
        for width in widths:
            layers += [f.conv(c, width), f.bn(width, 2), f.lif()]
            c = width
            if min(h, w) >= 4:
                layers.append(f.maxpool(2))
                h, w = h // 2, w // 2
        layers.append(f.flatten())
        features = c * h * w
        if hidden:
            layers += [f.linear(features, hidden, False), f.bn(hidden, 1), f.lif()]
            features = hidden
        layers.append(f.linear(features, info.num_classes, True))
        return f.sequential(layers, info)

    return build


ARCHS: dict[str, tuple[Builder, str]] = {
    "cnn-tiny": (_cnn((8, 16), None), "conv8-pool-conv16-pool-linear"),
    "cnn-small": (_cnn((16, 32), None), "conv16-pool-conv32-pool-linear"),
    # 3x the channel pairs of cnn-small, made to be pruned (docs/results.md: with 58 % of
    # each layer's channels removed it keeps 21/41, about 1.7x cnn-small's conv pairs)
    "cnn-wide": (_cnn((48, 96), None), "conv48-pool-conv96-pool-linear"),
    "cnn-mlp": (_cnn((16, 32), 64), "conv16-pool-conv32-pool-fc64-linear"),
    "vgg-mini": (_cnn((16, 32, 64), 128), "conv16-pool-conv32-pool-conv64-pool-fc128-linear"),
}

DEFAULT_ARCH: dict[str, str] = {
    "digits": "cnn-small",
    "event-digits": "cnn-small",
    "nmnist": "cnn-mlp",
    "dvs-gesture": "vgg-mini",
    "cifar10-dvs": "vgg-mini",
    "cifar10": "vgg-mini",
}


def build_arch(info: DatasetInfo, settings: ArchSettings, arch: str | None = None) -> Any:
    """An untrained network for ``info`` (the data set's default architecture if ``arch`` is
    None)."""
    name = arch or DEFAULT_ARCH.get(info.name, "cnn-small")
    if name not in ARCHS:
        raise SpqError(f"unknown architecture {name!r} (choose from {', '.join(ARCHS)})")
    return ARCHS[name][0](info, settings)
