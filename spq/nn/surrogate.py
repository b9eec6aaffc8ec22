# SPDX-License-Identifier: MIT
"""Surrogate gradients (docs/semantics.md section 8), as named autograd Functions.

No closures: a neuron picks its surrogates by name from :data:`SPIKE_SURROGATES` (the spike
surrogates, all triangles of :class:`TriangleSpike`) and
:data:`MEMBRANE_QUANTIZERS`, so a checkpoint's JSON spec can say which one it used.
"""

from __future__ import annotations

from typing import Any

import torch

STACKED_K = 2.0


class TriangleSpike(torch.autograd.Function):
    """Forward ``H(x) = [x >= 0]``; backward the triangle of half-base ``a`` and area 1,
    ``max(0, (a - |x|) / a^2)``: ``a = 0.5`` gives ``max(0, 2 - 4|x|)`` (spq's ``triangle``),
    ``a = 1`` gives ``max(0, 1 - |x|)`` (``triangle-wide``, the SpQuant-SNN authors' ``ZIF``
    with ``gamma = 1``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, a: float = 0.5) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.a = a
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        a = ctx.a
        return grad * torch.clamp((a - x.abs()) / (a * a), min=0.0), None


class StackedQuant(torch.autograd.Function):
    """Membrane quantizer ``clamp(floor(z + 1/2), lo, hi)`` with the stacked surrogate.

    Backward: ``sum_{l=lo}^{hi-1} k sig(k(z - l - 1/2)) (1 - sig(k(z - l - 1/2)))``, k = 2.
    """

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.lo = lo
        ctx.hi = hi
        return torch.clamp(torch.floor(z + 0.5), lo, hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (z,) = ctx.saved_tensors
        d = torch.zeros_like(z)
        for level in range(ctx.lo, ctx.hi):
            sg = torch.sigmoid(STACKED_K * (z - level - 0.5))
            d = d + STACKED_K * sg * (1.0 - sg)
        return grad * d, None, None


class StraightThroughQuant(torch.autograd.Function):
    """Membrane quantizer with a plain straight-through gradient inside [lo - 1/2, hi + 1/2]."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.lo = lo
        ctx.hi = hi
        return torch.clamp(torch.floor(z + 0.5), lo, hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (z,) = ctx.saved_tensors
        inside = (z >= ctx.lo - 0.5) & (z < ctx.hi + 0.5)
        return grad * inside.to(grad.dtype), None, None


# spike surrogate name -> half-base of its triangle (TriangleSpike)
SPIKE_SURROGATES: dict[str, float] = {"triangle": 0.5, "triangle-wide": 1.0}
MEMBRANE_QUANTIZERS: dict[str, type[torch.autograd.Function]] = {
    "stacked": StackedQuant,
    "ste": StraightThroughQuant,
}


def spike_fn(name: str, x: torch.Tensor) -> torch.Tensor:
    return TriangleSpike.apply(x, SPIKE_SURROGATES[name])  # type: ignore[no-any-return]


def membrane_quant(name: str, z: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    return MEMBRANE_QUANTIZERS[name].apply(z, lo, hi)  # type: ignore[no-any-return]
