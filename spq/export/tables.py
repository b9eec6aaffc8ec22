# SPDX-License-Identifier: MIT
"""Kernel tables: data spq-export derives from a packed layer for the runtime's fast kernels
(docs/formats.md, "Kernel tables"). They hold no new information: each is a function of the
layer's integer parameters, computed here from docs/semantics.md (the neuron step of
:mod:`spq.export.reference`), and ``spq_init`` checks each against its own definition.

Outcome table (neuron layers with ``level_bits <= 2``): for a fixed membrane level ``u`` the
outcome ``(spike, u')`` of a neuron is a step function of its accumulator (the input current
is monotone in it, and the outcome only depends on how many thresholds of semantics.md s5
``V`` reaches). Per channel ``c`` the table holds the outcome for every membrane code and
every accumulator of a window ``outcome_base[c] .. outcome_base[c] + 2^outcome_bits - 1``
that contains every accumulator where the outcome changes; below and above the window it is
constant. Entry: bits ``0 .. level_bits-1`` the new membrane code, bit 7 the spike.
"""

from __future__ import annotations

import numpy as np

from spq.export.packing import PackedLayer
from spq.export.reference import neuron_step

OUTCOME_MAX_BITS = 8  # SPQ_OUTCOME_MAX_BITS in runtime_c/src/spq_neuron.h
OUTCOME_MAX_BYTES = 32 * 1024  # flash budget of one layer's outcome table
SPIKE = 0x80


def acc_bound(layer: PackedLayer) -> int:
    """``fan_in * qmax * max_in`` (docs/semantics.md s4)."""
    fan_in = layer.in_c * layer.kernel * layer.kernel if layer.type == "conv" else layer.in_c
    return fan_in * ((1 << (layer.weight_bits - 1)) - 1) * layer.max_in


def _codes(layer: PackedLayer) -> tuple[np.ndarray, np.ndarray]:
    """Every membrane code of ``level_bits`` bits and its level u (> hi: not a level)."""
    codes = np.arange(1 << layer.level_bits, dtype=np.int64)
    return codes, (codes ^ -layer.lo) + layer.lo


def _outcome(layer: PackedLayer, acc: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Outcome bytes for accumulators ``acc`` (N, C) at levels ``u`` (N, C)."""
    spike, u_new = neuron_step(layer, acc, u)
    return ((u_new - layer.lo) ^ -layer.lo) | (spike.astype(np.int64) * SPIKE)


def _rank(layer: PackedLayer, acc: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Position of the outcome in the order of V: u' - lo without a spike, then the spikes
    (soft reset: u' = 0 before u' = 1). Monotone in acc for each u."""
    spike, u_new = neuron_step(layer, acc, u)
    levels = layer.hi - layer.lo + 1
    soft = 1 if layer.reset == "soft" else 0
    return np.where(spike == 1, levels + soft * u_new, u_new - layer.lo)


def change_points(layer: PackedLayer) -> list[np.ndarray]:
    """Per channel: the accumulators a in (-bound, bound] where the outcome at a differs from
    the outcome at a - 1 for some membrane level (found by bisection: the rank of the outcome
    is monotone in the accumulator, increasing for M > 0 and decreasing for M < 0)."""
    assert layer.mult is not None
    bound = acc_bound(layer)
    C = layer.out_c
    neg = (layer.mult < 0)[None, :]
    levels = layer.hi - layer.lo + 1
    points: list[set[int]] = [set() for _ in range(C)]
    for u in range(layer.lo, layer.hi + 1):
        uu = np.full((1, C), u, dtype=np.int64)
        for v in range(1, levels + 2):
            # smallest acc in [-bound, bound + 1] with (rank >= v) != neg (bound + 1: none)
            lo = np.full((1, C), -bound, dtype=np.int64)
            hi = np.full((1, C), bound + 1, dtype=np.int64)
            while np.any(lo < hi):
                mid = (lo + hi) // 2
                q = (_rank(layer, np.minimum(mid, bound), uu) >= v) != neg
                q &= mid <= bound
                hi = np.where(q & (lo < hi), mid, hi)
                lo = np.where(~q & (lo < hi), mid + 1, lo)
            for c in range(C):
                a = int(lo[0, c])
                if -bound < a <= bound:
                    points[c].add(a)
    return [np.array(sorted(p), dtype=np.int64) for p in points]


def outcome_table(layer: PackedLayer) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(outcome, outcome_base, outcome_bits)`` for a neuron layer, or None when the layer
    has more than 4 levels, its window is wider than 2^OUTCOME_MAX_BITS accumulators or the
    table would exceed OUTCOME_MAX_BYTES."""
    if layer.mult is None or layer.level_bits > 2 or layer.weights is None:
        return None
    bound = acc_bound(layer)
    if bound >= 1 << 30:
        return None
    pts = change_points(layer)
    base = np.array([int(p[0]) - 1 if p.size else -bound for p in pts], dtype=np.int64)
    width = max((int(p[-1]) - int(b) + 1 for p, b in zip(pts, base, strict=True) if p.size),
                default=1)
    bits = max(1, (width - 1).bit_length())
    C = layer.out_c
    size = C << (layer.level_bits + bits)
    if bits > OUTCOME_MAX_BITS or size > OUTCOME_MAX_BYTES:
        return None
    codes, levels = _codes(layer)
    acc = base[None, :] + np.arange(1 << bits, dtype=np.int64)[:, None]  # (2^bits, C)
    table = np.zeros((C, codes.size, 1 << bits), dtype=np.uint8)
    for code, u in zip(codes.tolist(), levels.tolist(), strict=True):
        if u > layer.hi:
            continue  # no membrane holds this code
        out = _outcome(layer, acc, np.full(acc.shape, u, dtype=np.int64))
        table[:, code, :] = out.T.astype(np.uint8)
        # outside the window the outcome is that of its first / last column
        last = (1 << bits) - 1
        for edge, col, outside in ((-bound, 0, base > -bound),
                                   (bound, last, base + last < bound)):
            e = _outcome(layer, np.full((1, C), edge, dtype=np.int64),
                         np.full((1, C), u, dtype=np.int64))[0]
            assert np.array_equal(e[outside], out[col][outside]), "outcome changes outside"
    return table.reshape(-1), base.astype(np.int32), bits


def add_tables(layer: PackedLayer) -> PackedLayer:
    """The layer with its kernel tables filled in (unchanged when none applies)."""
    tab = outcome_table(layer)
    if tab is not None:
        layer.outcome, layer.outcome_base, layer.outcome_bits = tab
    return layer
