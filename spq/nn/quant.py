# SPDX-License-Identifier: MIT
"""The float -> integer parameter math of docs/semantics.md, in one place.

Eval-mode :class:`spq.nn.Sequential` and :func:`spq.nn.fold` both take their integers from
here (weight quantization, per-channel multiplier/shift ``M``/``S``, bias ``B``, leak ``K``,
readout bias), so the two can never disagree. Everything is computed in float64 with
order-independent reductions (``math.fsum``), so the same model gives the same integers in
every process, whatever the number of threads.

The integer neuron step itself (:func:`neuron_current`, :func:`neuron_update`) is also
here, written with int64 torch tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spq.errors import SpqError
from spq.ir import FRAC_BITS, QMAX

F = FRAC_BITS
THETA_INT = 1 << F
I_SAT = 1 << 29
B_SAT = 1 << 29
INT32_MAX = (1 << 31) - 1
# Clip alpha = SAWB_C[bits] * mean|W|. 4 bit: the SpQuant-SNN authors' 2 * mean|W|. 8 bit:
# 4 * mean|W| where the authors use 2 (deliberate: with 127 levels a clip at 2 * mean|W|,
# about 1.6 sigma of a Gaussian, cuts ~11 % of the weights for no gain in resolution worth
# having; measured in docs/results.md).
SAWB_C = {4: 2.0, 8: 4.0}
TERNARY_T = 0.7  # ternary: keep |W| > 0.7 * mean|W| (TWN; the authors: 0.05 * max|W|)


# ----------------------------------------------------------------------------- scalars


def rha(x: float) -> int:
    """Round half away from zero, exactly (no ``x + 0.5`` rounding error)."""
    if not math.isfinite(x):
        raise SpqError(f"non-finite value {x!r} in a model parameter")
    ax = abs(x)
    f = math.floor(ax)
    n = f + (1 if ax - f >= 0.5 else 0)  # ax - f is exact for floats
    return -n if x < 0 else n


def rhu(x: float) -> int:
    """Round half up: floor(x + 1/2), exactly."""
    if not math.isfinite(x):
        raise SpqError(f"non-finite value {x!r} in a model parameter")
    f = math.floor(x)
    return f + (1 if x - f >= 0.5 else 0)


def sat(x: int, m: int) -> int:
    """Clamp to [-m, m]."""
    return max(-m, min(m, x))


def _scaled(a: float, p: int) -> float:
    """a * 2^p exactly (inf on overflow, which rha turns into an error; callers saturate)."""
    try:
        return math.ldexp(a, p)
    except OverflowError:
        return math.copysign(math.inf, a)


def mult_shift(a: float) -> tuple[int, int]:
    """The multiplier ``M`` and shift ``S`` of docs/semantics.md section 5 for ``a_c``."""
    if not math.isfinite(a):
        raise SpqError(f"non-finite folded scale {a!r} (check weights, BN statistics, threshold)")
    if a == 0.0:
        return 0, 0
    _, e = math.frexp(a)
    S = 31 - F - e
    M = _rha_sat(_scaled(a, S + F), None)
    if abs(M) == 1 << 31:
        S -= 1
        M = _rha_sat(_scaled(a, S + F), None)
    if S < 0 or S > 62:
        S = min(62, max(0, S))
        M = _rha_sat(_scaled(a, S + F), INT32_MAX)
    return M, S


def _rha_sat(x: float, m: int | None) -> int:
    if math.isinf(x):
        if m is None:
            raise SpqError("folded scale out of range")
        return m if x > 0 else -m
    v = rha(x)
    return v if m is None else sat(v, m)


def bias_int(b: float) -> int:
    """``B_c = sat(rha(b_c * 2^F), 2^29)``."""
    if not math.isfinite(b):
        raise SpqError(f"non-finite folded bias {b!r} (check biases and BN statistics)")
    return _rha_sat(_scaled(b, F), B_SAT)


def leak_int(beta: float) -> int:
    """``K = rha(beta * 2^F)``."""
    return rha(beta * THETA_INT)


def membrane_range(levels: int, threshold_level: int = 1) -> tuple[int, int]:
    """``[lo, hi] = [D + 1 - L, D]`` with ``D`` the threshold level (``[2 - L, 1]`` for D = 1)."""
    return threshold_level + 1 - levels, threshold_level


# ----------------------------------------------------------------------------- weights


def ternary_threshold(mean_abs: float, max_abs: float) -> float:
    """2-bit weights keep ``|W| > t``: ``t = TERNARY_T * mean|W|`` (docs/semantics.md 3)."""
    del max_abs  # the authors' rule would use 0.05 * max|W| (bench/ablations.py measures it)
    return TERNARY_T * mean_abs


@dataclass
class QuantWeight:
    w: torch.Tensor  # int64, same shape as the float weight
    scale: float  # s_w


def _fsum_abs(t: torch.Tensor) -> float:
    return math.fsum(t.abs().reshape(-1).tolist())


def quantize_weight(
    weight: torch.Tensor, bits: int, out_mask: torch.Tensor | None = None
) -> QuantWeight:
    """Integer weights and scale (docs/semantics.md section 3), exact and deterministic.

    Statistics are taken over the unmasked output channels only; masked channels get w = 0.
    """
    if bits not in QMAX:
        raise SpqError(f"weight_bits must be 2, 4 or 8, not {bits}")
    W = weight.detach().to(torch.float64).cpu()
    if not torch.isfinite(W).all():
        raise SpqError("non-finite weight")
    keep = torch.ones(W.shape[0], dtype=torch.bool)
    if out_mask is not None:
        keep = out_mask.detach().cpu() != 0
    Wk = W[keep]
    qmax = QMAX[bits]
    zeros = torch.zeros(W.shape, dtype=torch.int64)
    if Wk.numel() == 0:
        return QuantWeight(zeros, 1.0)
    absk = Wk.abs()
    amax = float(absk.max())
    if amax == 0.0:
        return QuantWeight(zeros, 1.0)
    mean = _fsum_abs(Wk) / Wk.numel()
    if bits == 2:
        t = ternary_threshold(mean, amax)
        kept = absk[absk > t]
        s = math.fsum(kept.reshape(-1).tolist()) / kept.numel() if kept.numel() else 1.0
        w = torch.sign(W) * (W.abs() > t)
    else:
        alpha = min(SAWB_C[bits] * mean, amax)
        s = alpha / qmax
        w = torch.clamp(torch.round(W / s), -qmax, qmax)
    w = w.to(torch.int64)
    w[~keep] = 0
    return QuantWeight(w, s)


def fake_quant_weight(
    weight: torch.Tensor, bits: int, out_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Training-mode weights ``w * s_w`` with a straight-through gradient.

    Same rules as :func:`quantize_weight` but with fast (float32-graph) torch reductions;
    the gradient is the identity inside the clip range ``|W| <= alpha`` (everywhere for
    ternary) and zero outside; masked channels get zero weight and zero gradient.
    """
    qmax = QMAX[bits]
    W = weight
    Wd = W.detach().to(torch.float64)
    keep = None
    if out_mask is not None:
        keep = (out_mask.detach() != 0).to(torch.float64)
        keep = keep.view(-1, *([1] * (W.dim() - 1)))
        n_keep = int(keep.sum().item()) * (W.numel() // max(1, W.shape[0]))
        absk = Wd.abs() * keep
    else:
        n_keep = W.numel()
        absk = Wd.abs()
    if n_keep == 0 or float(absk.max()) == 0.0:
        return W * 0.0
    mean = float(absk.sum()) / n_keep
    if bits == 2:
        t = ternary_threshold(mean, float(absk.max()))
        big = absk > t
        s = float(absk[big].mean()) if bool(big.any()) else 1.0
        q = torch.sign(Wd) * (Wd.abs() > t) * s
        passthrough = W
    else:
        alpha = min(SAWB_C[bits] * mean, float(absk.max()))
        s = alpha / qmax
        q = torch.clamp(torch.round(Wd / s), -qmax, qmax) * s
        inside = (Wd.abs() <= alpha).to(W.dtype)
        passthrough = W * inside
    out = passthrough + (q.to(W.dtype) - passthrough).detach()
    if keep is not None:
        out = out * keep.to(W.dtype)
    return out


# ----------------------------------------------------------------------------- neurons


@dataclass
class NeuronParams:
    mult: list[int]
    shift: list[int]
    bias: list[int]
    leak: int
    lo: int
    hi: int


def fold_neuron(
    *,
    s_w: float,
    s_in: float,
    theta: float,
    bias: list[float] | None,
    bn: tuple[list[float], list[float], list[float], list[float], float] | None,
    beta: float,
    levels: int,
    out_mask: list[float],
    threshold_level: int = 1,
    strict: bool = False,
) -> NeuronParams:
    """Per-channel ``M``, ``S``, ``B`` and ``K`` (docs/semantics.md section 5).

    ``bn`` is ``(gamma, beta_bn, running_mean, running_var, eps)`` or None. Masked channels
    (``out_mask == 0``) get ``M = S = B = 0`` so that they never spike. The membrane unit is
    ``delta = theta / threshold_level``; ``strict`` (fire on ``v > theta``) lowers ``B`` by one.
    """
    if not (math.isfinite(theta) and theta > 0):
        raise SpqError(f"threshold must be finite and > 0, got {theta!r}")
    C = len(out_mask)
    mult: list[int] = []
    shift: list[int] = []
    b_int: list[int] = []
    for c in range(C):
        if out_mask[c] == 0:
            mult.append(0)
            shift.append(0)
            b_int.append(0)
            continue
        bias_c = bias[c] if bias is not None else 0.0
        if bn is not None:
            gamma, beta_bn, mean, var, eps = bn
            g = gamma[c] / math.sqrt(var[c] + eps)
            b_c = ((bias_c - mean[c]) * g + beta_bn[c]) / theta
        else:
            g = 1.0
            b_c = bias_c / theta
        a_c = s_w * s_in * g / theta * threshold_level
        M, S = mult_shift(a_c)
        mult.append(M)
        shift.append(S)
        B = bias_int(b_c * threshold_level)
        b_int.append(sat(B - 1, B_SAT) if strict else B)
    lo, hi = membrane_range(levels, threshold_level)
    return NeuronParams(mult, shift, b_int, leak_int(beta), lo, hi)


def readout_bias(
    bias: list[float] | None, s_w: float, s_in: float, out_mask: list[float]
) -> list[int]:
    """``bias_q = sat(rha(bias / (s_w * s_in)), 2^31 - 1)`` (0 for masked outputs)."""
    out: list[int] = []
    for c, m in enumerate(out_mask):
        if bias is None or m == 0:
            out.append(0)
            continue
        x = bias[c] / (s_w * s_in)
        if math.isnan(x):
            raise SpqError("non-finite readout bias")
        out.append(_rha_sat(x, INT32_MAX))
    return out


# ----------------------------------------------------------------------------- integer step


def neuron_current(acc: torch.Tensor, mult: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``I = sat(floor_div(acc*M + 2^(S-1), 2^S), 2^29)`` (``sat(P, 2^29)`` when S = 0).

    ``acc`` int64 (N, C, ...); ``mult``/``shift`` int64 broadcastable per channel.
    """
    P = acc * mult
    half = torch.where(shift > 0, torch.bitwise_left_shift(torch.ones_like(shift), shift - 1), 0)
    cur = torch.bitwise_right_shift(P + half, shift)  # arithmetic shift: floor division
    return torch.clamp(cur, -I_SAT, I_SAT)


def neuron_update(
    cur: torch.Tensor,
    u: torch.Tensor,
    bias: torch.Tensor,
    leak: int,
    lo: int,
    hi: int,
    reset: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One integer time step on the current ``cur`` (= I): returns ``(spike int64 0/1, u',
    V)`` with V the membrane before the reset. The threshold is the top level:
    ``THETA = hi * 2^F``."""
    theta = hi * THETA_INT
    V = leak * u + cur + bias
    spike = theta <= V
    if reset == "hard":
        Vr = torch.where(spike, torch.zeros_like(V), V)
    else:
        Vr = torch.where(spike, V - theta, V)
    u_new = torch.clamp(torch.bitwise_right_shift(Vr + (1 << (F - 1)), F), lo, hi)
    return spike.to(torch.int64), u_new, V
