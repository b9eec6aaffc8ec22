# SPDX-License-Identifier: MIT
"""SpQuant-SNN layers: quantized synapses, the quantized LIF neuron, pools, Flatten.

Each layer knows its own JSON spec (:meth:`spec`) so that a checkpoint is a state dict plus
a JSON architecture description (see :mod:`spq.checkpoint` and :func:`spq.nn.build`).
The layers are driven one time step at a time by :class:`spq.nn.Sequential`; eval mode
does not use their ``forward`` but the integer path of docs/semantics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as Fn
from torch import nn

from spq.errors import SpqError
from spq.ir import QMAX
from spq.nn.quant import fake_quant_weight, membrane_range
from spq.nn.surrogate import MEMBRANE_QUANTIZERS, SPIKE_SURROGATES, membrane_quant, spike_fn

THRESHOLD_MIN = 1e-3


def _check_bits(bits: int) -> int:
    if bits not in QMAX:
        raise SpqError(f"weight_bits must be 2, 4 or 8, not {bits}")
    return int(bits)


def _int_arg(name: str, value: Any) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise SpqError(f"{name} must be square (one int), got {tuple(value)}")
        value = value[0]
    if int(value) != value or int(value) < 0:
        raise SpqError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


class _MaskMixin:
    out_mask: torch.Tensor

    def set_out_mask(self, mask: torch.Tensor | list[float] | list[bool]) -> None:
        """Set the structured-pruning mask (1 keep, 0 pruned) of the output channels."""
        m = torch.as_tensor(mask, dtype=torch.float32).reshape(-1)
        if m.numel() != self.out_mask.numel():
            raise SpqError(f"out_mask needs {self.out_mask.numel()} entries, got {m.numel()}")
        if not bool(((m == 0) | (m == 1)).all()):
            raise SpqError("out_mask entries must be 0 or 1")
        with torch.no_grad():
            self.out_mask.copy_(m.to(self.out_mask.device))

    def quant_weight(self) -> torch.Tensor:
        """Training-mode fake-quantized weight ``w * s_w`` (masked rows zero, STE gradient)."""
        return fake_quant_weight(self.weight, self.weight_bits, self.out_mask)  # type: ignore[attr-defined]


class QuantConv2d(_MaskMixin, nn.Conv2d):
    """Conv2d with per-tensor symmetric weight quantization (docs/semantics.md section 3).

    Square kernel, stride and padding only; no dilation or groups.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        weight_bits: int = 4,
    ) -> None:
        k = _int_arg("kernel_size", kernel_size)
        s = _int_arg("stride", stride)
        p = _int_arg("padding", padding)
        if k < 1 or s < 1:
            raise SpqError("kernel_size and stride must be >= 1")
        super().__init__(in_channels, out_channels, k, stride=s, padding=p, bias=bias)
        self.weight_bits = _check_bits(weight_bits)
        self.register_buffer("out_mask", torch.ones(out_channels))

    @property
    def k(self) -> int:
        return int(self.kernel_size[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.out_mask if self.bias is not None else None
        return Fn.conv2d(x, self.quant_weight(), b, self.stride, self.padding)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "QuantConv2d",
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.k,
            "stride": int(self.stride[0]),
            "padding": int(self.padding[0]),  # type: ignore[index]
            "bias": self.bias is not None,
            "weight_bits": self.weight_bits,
        }


class QuantLinear(_MaskMixin, nn.Linear):
    """Linear layer with per-tensor symmetric weight quantization (section 3)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, weight_bits: int = 4
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.weight_bits = _check_bits(weight_bits)
        self.register_buffer("out_mask", torch.ones(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.out_mask if self.bias is not None else None
        return Fn.linear(x, self.quant_weight(), b)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "QuantLinear",
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "weight_bits": self.weight_bits,
        }


class BatchNorm2d(nn.BatchNorm2d):
    """torch.nn.BatchNorm2d (folded into the neuron in eval mode); plain torch BN works too."""

    def spec(self) -> dict[str, Any]:
        return bn_spec(self)


class BatchNorm1d(nn.BatchNorm1d):
    """torch.nn.BatchNorm1d (folded into the neuron in eval mode); plain torch BN works too."""

    def spec(self) -> dict[str, Any]:
        return bn_spec(self)


def bn_spec(bn: nn.modules.batchnorm._BatchNorm) -> dict[str, Any]:
    return {
        "type": "BatchNorm2d" if isinstance(bn, nn.BatchNorm2d) else "BatchNorm1d",
        "num_features": bn.num_features,
        "eps": bn.eps,
        "momentum": bn.momentum,
        "affine": bn.affine,
    }


@dataclass
class LIFParams:
    """Parameters of one :func:`lif_step` (theta is a tensor so that it can be learned)."""

    theta: torch.Tensor
    beta: float
    lo: int
    hi: int
    reset: str
    spike_surrogate: str = "triangle"
    membrane_surrogate: str = "stacked"
    threshold_level: int = 1  # D: the membrane unit is delta = theta / D


def lif_step(
    c: torch.Tensor, u: torch.Tensor, p: LIFParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One float time step of the quantized LIF neuron (training mode, section 5).

    ``c`` is the input current (after BN), ``u`` the membrane level (in units of
    ``delta = theta / D``, D the threshold level, 1 by default). Returns ``(spike, u',
    v / theta)`` with ``v/theta`` the membrane before the reset.
    """
    delta = p.theta / p.threshold_level if p.threshold_level != 1 else p.theta
    v = p.beta * u * delta + c  # leak the quantized membrane, add the input current
    s = spike_fn(p.spike_surrogate, (v - p.theta) / p.theta)  # fire at v >= theta
    v_r = v * (1.0 - s) if p.reset == "hard" else v - s * p.theta  # reset
    u_new = membrane_quant(p.membrane_surrogate, v_r / delta, p.lo, p.hi)  # few levels
    return s, u_new, v / p.theta


class SpikingNeuron(nn.Module):
    """What the layer grammar (:mod:`spq.nn.grammar`) takes for a neuron: a module that turns
    one time step's input current into spikes, keeps its membrane between calls until
    :meth:`reset_state`, and appends its pre-reset membrane ``v / theta`` to ``trace`` while
    ``record`` is set. :class:`QuantLIF` is the one spq.nn exports; the full-precision
    baseline's ``spq.baseline.FloatLIF`` is the other."""

    def __init__(self) -> None:
        super().__init__()
        self.record = False
        self.trace: list[torch.Tensor] = []

    def reset_state(self) -> None:
        raise NotImplementedError


class QuantLIF(SpikingNeuron):
    """Leaky integrate-and-fire neuron with a quantized membrane (docs/semantics.md 5).

    Args:
        levels: number of membrane levels L (2..256); range ``[D + 1 - L, D]`` (3 = ternary).
        beta: leak in [0, 1].
        threshold: initial threshold theta > 0 (an ``nn.Parameter`` when ``learn_threshold``,
            else a buffer). The value used is ``threshold.clamp_min(1e-3)``
            (:meth:`theta`), in training and when folding, so theta stays > 0.
        learn_threshold: learn theta with the weights.
        reset: ``"hard"`` (v = 0 after a spike) or ``"soft"`` (v -= theta).
        spike_surrogate: name in ``spq.nn.surrogate.SPIKE_SURROGATES`` (``"triangle"``).
        membrane_surrogate: name in ``MEMBRANE_QUANTIZERS`` (``"stacked"`` or ``"ste"``).
        threshold_level: D in 1..L-1, the level of the threshold: the membrane is kept in
            units of ``delta = theta / D`` (SpQuant: D = 1, delta = theta; an imported
            network uses a finer membrane, e.g. D = 127 of L = 256 levels).
        strict: fire on ``v > theta`` instead of ``v >= theta`` (NIR's rule): the integer
            translation lowers the bias ``B`` by one unit (docs/semantics.md 5). Training
            mode ignores it (the two differ only on a set of measure zero).

    Membrane statistics: set ``record = True`` and every time step (training and eval) appends
    the pre-reset membrane ``v / theta`` (float, shape of the layer output, detached) to the
    list ``self.trace``; ``Sequential`` clears it at the start of each call. In eval mode it is
    the exact integer ``V / 2^16``. ``self.u`` holds the current membrane level (float levels
    in training mode).
    """

    def __init__(
        self,
        levels: int = 3,
        beta: float = 0.5,
        threshold: float = 1.0,
        learn_threshold: bool = True,
        reset: str = "hard",
        spike_surrogate: str = "triangle",
        membrane_surrogate: str = "stacked",
        threshold_level: int = 1,
        strict: bool = False,
    ) -> None:
        super().__init__()
        if not (2 <= int(levels) <= 256) or int(levels) != levels:
            raise SpqError(f"levels must be an int in 2..256, got {levels!r}")
        if int(threshold_level) != threshold_level or not 1 <= threshold_level < levels:
            raise SpqError(
                f"threshold_level must be an int in 1..levels-1, got {threshold_level!r}"
            )
        if not (0.0 <= float(beta) <= 1.0):
            raise SpqError(f"beta must be in [0, 1], got {beta!r}")
        if not (math.isfinite(float(threshold)) and float(threshold) > 0):
            raise SpqError(f"threshold must be > 0, got {threshold!r}")
        if reset not in ("hard", "soft"):
            raise SpqError(f"reset must be 'hard' or 'soft', not {reset!r}")
        if spike_surrogate not in SPIKE_SURROGATES:
            raise SpqError(f"unknown spike surrogate {spike_surrogate!r}")
        if membrane_surrogate not in MEMBRANE_QUANTIZERS:
            raise SpqError(f"unknown membrane surrogate {membrane_surrogate!r}")
        self.levels = int(levels)
        self.beta = float(beta)
        self.reset = reset
        self.learn_threshold = bool(learn_threshold)
        self.spike_surrogate = spike_surrogate
        self.membrane_surrogate = membrane_surrogate
        self.threshold_level = int(threshold_level)
        self.strict = bool(strict)
        th = torch.tensor(float(threshold))
        if self.learn_threshold:
            self.threshold = nn.Parameter(th)
        else:
            self.register_buffer("threshold", th)
        self.u: torch.Tensor | None = None

    @property
    def lo(self) -> int:
        return membrane_range(self.levels, self.threshold_level)[0]

    @property
    def hi(self) -> int:
        return membrane_range(self.levels, self.threshold_level)[1]

    def theta(self) -> torch.Tensor:
        """The threshold in use: ``threshold.clamp_min(1e-3)``."""
        return self.threshold.clamp_min(THRESHOLD_MIN)

    def reset_state(self) -> None:
        self.u = None
        self.trace = []

    def params(self) -> LIFParams:
        return LIFParams(
            self.theta(),
            self.beta,
            self.lo,
            self.hi,
            self.reset,
            self.spike_surrogate,
            self.membrane_surrogate,
            self.threshold_level,
        )

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """One training-mode time step on current ``c``; returns spikes (float 0/1)."""
        u = self.u if self.u is not None else torch.zeros_like(c)
        s, self.u, v_over_theta = lif_step(c, u, self.params())
        if self.record:
            self.trace.append(v_over_theta.detach())
        return s

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "type": "QuantLIF",
            "levels": self.levels,
            "beta": self.beta,
            "threshold": float(self.threshold.detach()),
            "learn_threshold": self.learn_threshold,
            "reset": self.reset,
            "spike_surrogate": self.spike_surrogate,
            "membrane_surrogate": self.membrane_surrogate,
        }
        if self.threshold_level != 1:  # written only when used: older specs stay as they were
            spec["threshold_level"] = self.threshold_level
        if self.strict:
            spec["strict"] = True
        return spec

    def extra_repr(self) -> str:
        extra = f", threshold_level={self.threshold_level}" if self.threshold_level != 1 else ""
        extra += ", strict" if self.strict else ""
        return f"levels={self.levels}, beta={self.beta}, reset={self.reset}{extra}"


class _Pool2d(nn.Module):
    """k x k pooling with stride k, no padding (floor); subclasses name the op."""

    kind = ""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.k = _int_arg("kernel_size", kernel_size)
        if self.k < 1:
            raise SpqError("pool size must be >= 1")

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "kernel_size": self.k}

    def extra_repr(self) -> str:
        return f"k={self.k}"


class MaxPool2d(_Pool2d):
    """Max pooling k x k, stride k (OR of spikes in eval mode)."""

    kind = "MaxPool2d"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Fn.max_pool2d(x, self.k, self.k)


class AvgPool2d(_Pool2d):
    """Average pooling k x k, stride k (sum pooling in eval mode, 1/k^2 folded forward)."""

    kind = "AvgPool2d"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Fn.avg_pool2d(x, self.k, self.k)


class Flatten(nn.Module):
    """Flatten (C, H, W) to C*H*W features (channel-major, the identity on the layout)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)

    def spec(self) -> dict[str, Any]:
        return {"type": "Flatten"}


def layer_spec(layer: nn.Module) -> dict[str, Any]:
    """JSON spec of one layer (plain torch BatchNorm and Flatten accepted)."""
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        return bn_spec(layer)
    if isinstance(layer, nn.Flatten):
        return {"type": "Flatten"}
    spec = getattr(layer, "spec", None)
    if spec is None:
        raise SpqError(f"layer {type(layer).__name__} is not an spq layer")
    return spec()  # type: ignore[no-any-return]


def build_layer(spec: dict[str, Any]) -> nn.Module:
    """Build one layer from its JSON spec."""
    if not isinstance(spec, dict):
        raise SpqError(f"layer spec must be an object, got {spec!r}")
    kind = spec.get("type")
    args = {k: v for k, v in spec.items() if k != "type"}
    try:
        if kind == "QuantConv2d":
            return QuantConv2d(**args)
        if kind == "QuantLinear":
            return QuantLinear(**args)
        if kind == "BatchNorm2d":
            return BatchNorm2d(**args)
        if kind == "BatchNorm1d":
            return BatchNorm1d(**args)
        if kind == "QuantLIF":
            return QuantLIF(**args)
        if kind == "MaxPool2d":
            return MaxPool2d(**args)
        if kind == "AvgPool2d":
            return AvgPool2d(**args)
        if kind == "Flatten":
            return Flatten()
    except SpqError:
        raise
    except Exception as exc:  # wrong argument names, types or values in a spec
        raise SpqError(f"bad arguments for layer {kind}: {exc}") from None
    raise SpqError(f"unknown layer type {kind!r}")
