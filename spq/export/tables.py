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

Rank table (a static first layer with few levels): its accumulator is fixed for the whole
inference, so the runtime keeps the rank of each neuron's accumulator among the channel's
breakpoints (:func:`rank_table`, one byte per neuron) and reads the outcome by rank.

Window-row table (spike-input conv layers with few input bits per kernel row, such as a first
layer on 2-channel events): the sums of the weights over every combination of the set inputs
of one kernel row of the window, so that a position's accumulators are ``kernel`` table rows
added bytewise (:func:`conv_lut`).

Offset-binary weights (spike-input conv layers with 4-bit weights that run the fused
kernel): the 4-bit weights as offset-binary bytes ``w + 8``
(:func:`weights_x`). A summed readout on spikes with 4-bit weights and at most 16 classes
gets the same bytes, each row padded to whole words (:func:`readout_x`).
"""

from __future__ import annotations

import numpy as np

from spq.export.packing import PackedLayer
from spq.export.reference import neuron_step

OUTCOME_MIN_BITS = 7  # the fast kernels are specialised for windows of 2^7 and 2^8
OUTCOME_MAX_BITS = 8  # SPQ_OUTCOME_MAX_BITS in runtime_c/src/spq_neuron.h
OUTCOME_MAX_BYTES = 32 * 1024  # flash budget of one layer's outcome table
SPIKE = 0x80
LUT_MAX_BITS = 8  # SPQ_LUT_MAX_BITS in runtime_c/src/spq_conv.h
LUT_MAX_BYTES = 16 * 1024
LUT_MAX_OC = 64  # SPQ_LUT_MAX_OC
W4_MAX_OC = 64  # SPQ_W4_MAX_OC in runtime_c/src/spq_conv.h
W4_MAX_IN_C = 32  # SPQ_W4_MAX_IN_C
W4_MAX_K = 8  # SPQ_W4_MAX_K
READOUT_X_MAX_OC = 16  # spq_readout_x_ok in runtime_c/src/spq_linear.c: a row of 16 bytes
READOUT_X_MAX_IN_C = 4095  # every halfword lane sum in_c * 15 < 2^16
W4_MAX_LIST_BYTES = 4096  # SPQ_W4_MAX_LIST_BYTES


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
        # ranks run to levels + hi (a soft reset keeps V - hi * 2^F, up to level hi)
        for v in range(1, levels + layer.hi + 1):
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


RANK_BITS = 5  # rank tables: up to 31 breakpoints per channel (L (L + hi) <= 28 for L <= 4)
INT32_MAX = (1 << 31) - 1


def rank_table(layer: PackedLayer) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(outcome, breaks, outcome_bits)`` for a static first layer (uint8 input) with at most
    4 levels: its accumulator is computed once per inference, so the runtime keeps only its
    rank among the channel's breakpoints, ``breaks[c][r]`` the sorted accumulators where the
    outcome changes (``2^RANK_BITS - 1`` per channel, padded with INT32_MAX), and the outcome
    table is indexed by that rank: ``outcome[c][code][r]`` is the outcome of every
    accumulator ``a`` with ``r`` breakpoints at or below it."""
    if layer.mult is None or layer.level_bits > 2 or layer.in_kind != "u8":
        return None
    pts = change_points(layer)
    n = 1 << RANK_BITS
    bound = acc_bound(layer)
    C = layer.out_c
    breaks = np.full((C, n - 1), INT32_MAX, dtype=np.int64)
    first = np.full((C, n), bound, dtype=np.int64)  # an accumulator of each rank
    if any(p.size >= n for p in pts):
        return None  # more breakpoints than a rank table holds: the reference update
    for c, p in enumerate(pts):
        breaks[c, :p.size] = p
        first[c, 0] = -bound
        first[c, 1:p.size + 1] = p
    codes, levels = _codes(layer)
    table = np.zeros((C, codes.size, n), dtype=np.uint8)
    for code, u in zip(codes.tolist(), levels.tolist(), strict=True):
        if u > layer.hi:
            continue
        table[:, code, :] = _outcome(layer, first.T, np.full(first.T.shape, u, dtype=np.int64)).T
    return table.reshape(-1), breaks.astype(np.int32).reshape(-1), RANK_BITS


def outcome_table(layer: PackedLayer) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(outcome, outcome_base, outcome_bits)`` for a neuron layer, or None when the layer
    has more than 4 levels, its window is wider than 2^OUTCOME_MAX_BITS accumulators or the
    table would exceed OUTCOME_MAX_BYTES."""
    if layer.mult is None or layer.level_bits > 2 or layer.weights is None:
        return None
    bound = acc_bound(layer)
    if bound >= 1 << 30:
        return None
    C = layer.out_c
    if _lut(layer) and C << (layer.level_bits + 8) <= OUTCOME_MAX_BYTES:
        # the window-row kernel sums bytes acc + bound: a window of all 2 * bound + 1
        # accumulators from -bound is that byte itself (no clamp, no per-channel offset)
        base = np.full(C, -bound, dtype=np.int64)
        bits = 8
    else:
        pts = change_points(layer)
        base = np.array([int(p[0]) - 1 if p.size else -bound for p in pts], dtype=np.int64)
        width = max((int(p[-1]) - int(b) + 1 for p, b in zip(pts, base, strict=True)
                     if p.size), default=1)
        bits = max(OUTCOME_MIN_BITS, (width - 1).bit_length())
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


def lut_applies(kind: str, in_kind: str, in_c: int, out_c: int, kernel: int, bound: int) -> bool:
    """Whether a layer gets a window-row table (:func:`conv_lut`); the runtime checks the
    same rule (spq_lut_valid)."""
    bits = in_c * kernel
    return (kind == "conv" and in_kind == "spike" and bits <= LUT_MAX_BITS and bound <= 127
            and out_c % 4 == 0 and out_c <= LUT_MAX_OC
            and kernel * (1 << bits) * out_c <= LUT_MAX_BYTES)


def w4_list_bytes(in_c: int, in_w: int, kernel: int, padding: int) -> int:
    """Scratch of the fused 4-bit conv kernel (spq_w4_list_bytes): for ``kernel`` input rows
    of ``in_w + 2 * padding`` columns, a 4-byte reference per input channel of every column
    and a count byte per column, with one more row of counts."""
    w = in_w + 2 * padding
    return 4 * kernel * w * in_c + 4 * (((kernel + 1) * w + 3) // 4)


def w4_applies(kind: str, in_kind: str, weight_bits: int, acc_bits: int, in_c: int,
               in_w: int, out_c: int, kernel: int, padding: int, bound: int) -> bool:
    """Whether a layer runs the fused 4-bit conv kernel, so gets ``weights_x`` and the list
    scratch in the arena (the runtime checks the same rule, spq_w4_shape_ok)."""
    return (kind == "conv" and in_kind == "spike" and weight_bits == 4 and acc_bits == 16
            and out_c % 8 == 0 and out_c <= W4_MAX_OC and in_c <= W4_MAX_IN_C
            and kernel <= W4_MAX_K
            and w4_list_bytes(in_c, in_w, kernel, padding) <= W4_MAX_LIST_BYTES
            and not lut_applies(kind, in_kind, in_c, out_c, kernel, bound))


def _w4(layer: PackedLayer) -> bool:
    return w4_applies(layer.type, layer.in_kind, layer.weight_bits, layer.acc_bits, layer.in_c,
                      layer.in_w, layer.out_c, layer.kernel, layer.padding, acc_bound(layer))


def nibble_sums_apply(layer: PackedLayer) -> bool:
    """Whether ``weights_x`` also holds the nibble sums (:func:`weights_x`): a fused 4-bit conv
    of kernel 3, stride 1, 16 input and 32 output channels (the shape of the Helium kernel
    spq_conv_w4_k3_mve; the runtime checks the same rule, spq_w4_nib_shape)."""
    return (_w4(layer) and layer.kernel == 3 and layer.stride == 1 and layer.in_c == 16
            and layer.out_c == 32)


def weights_x(layer: PackedLayer) -> np.ndarray | None:
    """The 4-bit weights as offset-binary bytes ``w + 8`` (0 .. 15), one byte per weight in
    the order of the packed rows (``[ci][ky][kx][co]``), as little-endian uint32 words (out_c
    being a multiple of 8), for the fused kernel; None when it does not apply. Where
    :func:`nibble_sums_apply`, the nibble sums follow: for each group ``g`` of 4 input channels
    (``4g .. 4g + 3``) and each 4-bit value ``v``, the 9 kernel taps' rows of 32 bytes
    ``sum over the set bits j of v of (w[4g + j][tap][co] + 8)`` (0 .. 60), ``[g][v][tap][co]``
    (18,432 bytes; ``v = 0`` rows are zero), so that a position's set channels of a group are
    one row."""
    if layer.weights is None or not _w4(layer):
        return None
    x = (layer.unpacked_weights().astype(np.int16) + 8).astype(np.uint8).reshape(-1)
    if nibble_sums_apply(layer):
        rows = x.reshape(4, 4, 9 * 32).astype(np.int64)  # [g][j][tap * co]
        sel = (np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1  # [v][j]
        sums = np.einsum("vj,gjt->gvt", sel, rows)
        x = np.concatenate([x, sums.astype(np.uint8).reshape(-1)])
    return x.view("<u4").copy()


def readout_x_applies(kind: str, in_kind: str, weight_bits: int, in_c: int, out_c: int) -> bool:
    """Whether a layer is a readout that gets :func:`readout_x` (spq_readout_x_ok)."""
    return (kind == "readout" and in_kind == "spike" and weight_bits == 4
            and out_c <= READOUT_X_MAX_OC and in_c <= READOUT_X_MAX_IN_C)


def readout_x(layer: PackedLayer) -> np.ndarray | None:
    """A summed readout's 4-bit weights as offset-binary bytes ``w + 8`` (1 .. 15), row ``i``
    (input feature ``i``, ``[i][o]``) padded with zero bytes to 16 bytes (four words: the
    runtime adds a row as four words), as little-endian uint32 words; None when it does not
    apply."""
    if layer.weights is None or not readout_x_applies(layer.type, layer.in_kind,
                                                      layer.weight_bits, layer.in_c,
                                                      layer.out_c):
        return None
    rows = np.zeros((layer.in_c, 16), np.uint8)
    rows[:, :layer.out_c] = layer.unpacked_weights().astype(np.int16) + 8
    return rows.reshape(-1).view("<u4").copy()


def _lut(layer: PackedLayer) -> bool:
    return lut_applies(layer.type, layer.in_kind, layer.in_c, layer.out_c, layer.kernel,
                       acc_bound(layer))


def conv_lut(layer: PackedLayer) -> tuple[np.ndarray, int] | None:
    """``(lut, lut_bits)`` (the bytes as little-endian uint32 words, out_c being a multiple of
    4) for a spike-input conv layer whose kernel rows hold at most
    LUT_MAX_BITS input bits (``in_c * kernel``) and whose accumulator bound is at most 127, or
    None. ``lut[ky][v][co]`` is the sum of the weights ``w[co, ci, ky, kx]`` over the set bits
    ``j = kx * in_c + ci`` of ``v`` (a kernel row of the window in position-major order) plus
    ``in_c * kernel * qmax``, so that the ``kernel`` entries of a window add up to
    ``acc + bound`` in 0 .. 2 * bound <= 254 (one byte per channel, no carries)."""
    if layer.weights is None or not _lut(layer):
        return None
    k, ci = layer.kernel, layer.in_c
    bits = ci * k
    qmax = (1 << (layer.weight_bits - 1)) - 1
    w = layer.unpacked_weights().astype(np.int64).reshape(ci, k, k, layer.out_c)
    # rows[ky][j] = w[ci, ky, kx] with j = kx * in_c + ci
    rows = w.transpose(1, 2, 0, 3).reshape(k, bits, layer.out_c)
    v = np.arange(1 << bits)
    sel = ((v[:, None] >> np.arange(bits)[None, :]) & 1).astype(np.int64)  # (2^bits, bits)
    lut = np.einsum("vj,kjo->kvo", sel, rows) + ci * k * qmax
    assert lut.min() >= 0 and lut.max() <= 2 * ci * k * qmax
    return lut.astype(np.uint8).reshape(-1).view("<u4").copy(), bits


def add_tables(layer: PackedLayer) -> PackedLayer:
    """The layer with its kernel tables filled in (unchanged when none applies)."""
    if layer.in_kind == "u8":
        tab = rank_table(layer)
        if tab is not None:
            layer.outcome, layer.breaks, layer.outcome_bits = tab
        return layer
    tab = outcome_table(layer)
    if tab is not None:
        layer.outcome, layer.outcome_base, layer.outcome_bits = tab
    lut = conv_lut(layer)
    if lut is not None:
        layer.lut, layer.lut_bits = lut
    layer.weights_x = readout_x(layer) if layer.type == "readout" else weights_x(layer)
    return layer
