# SPDX-License-Identifier: MIT
"""docs/semantics.md written out once more in plain Python integers, element by element, for
the tests to check spq.nn's eval mode and the exporter's reference interpreter against (it
shares no code with either; only the IR's data layout).

* :func:`current`, :func:`neuron_update`: one neuron's input current and time step;
* :func:`scalar_run`: a whole :class:`~spq.ir.ModelIR` on one input;
* :func:`scalar_trace`: the same run with what docs/semantics.md section 9 counts from: each
  synapse's input and each neuron's ``V`` before and stored level after the reset, per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spq.ir import ModelIR

F = 16  # fraction bits of the membrane's fixed point
ONE = 1 << F
I_SAT = 1 << 29


def current(acc: int, M: int, S: int) -> int:
    """``I = sat(round_half_up(acc * M / 2^S), 2^29)``, ``acc * M`` when ``S = 0``."""
    P = acc * M
    I = (P + (1 << (S - 1))) // (1 << S) if S >= 1 else P  # noqa: E741
    return max(-I_SAT, min(I_SAT, I))


def neuron_update(I: int, u: int, B: int, K: int, lo: int, hi: int,  # noqa: E741
                  reset: str) -> tuple[int, int, int]:
    """One step: ``V = K*u + I + B``; a spike when ``V`` reaches the top level ``hi``
    (``hi * 2^F``), then a hard (``0``) or soft (``V - hi * 2^F``) reset; the next level is
    ``clamp(round_half_up(V / 2^F), lo, hi)``. Returns (spike, next level, V before reset)."""
    V = K * u + I + B
    theta = hi * ONE
    spike = theta <= V
    Vr = V if not spike else (0 if reset == "hard" else V - theta)
    return int(spike), max(lo, min(hi, (Vr + (1 << (F - 1))) // ONE)), V


@dataclass
class Trace:
    """One sample's run, element by element: ``inputs[i][t]`` the input of synapse layer i
    at step t; ``V[i]``, ``levels[i]`` (T, ...) the membrane before and the stored level
    after the reset of neuron layer i; ``trains`` the spike trains (T, ...) in order."""

    logits: list[int]
    trains: list[np.ndarray]
    inputs: dict[int, list[np.ndarray]] = field(default_factory=dict)
    V: dict[int, np.ndarray] = field(default_factory=dict)
    levels: dict[int, np.ndarray] = field(default_factory=dict)


def scalar_run(ir: ModelIR, x: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
    """One sample, element by element, straight from docs/semantics.md and the IR's
    PyTorch-layout weights (no packing involved): logits and spike trains (T, ...).
    A static first layer's current is recomputed every step (the same every step)."""
    tr = scalar_trace(ir, x)
    return tr.logits, tr.trains


def scalar_trace(ir: ModelIR, x: np.ndarray) -> Trace:
    """:func:`scalar_run` with the inputs, membranes and levels of every layer (:class:`Trace`)."""
    T = ir.time_steps
    u: dict[int, np.ndarray] = {}
    trains: dict[int, np.ndarray] = {}
    logits = [0] * ir.num_classes
    rec = Trace([], [])
    for i, la in enumerate(ir.layers):
        if la.weight is not None:
            rec.inputs[i] = []
        if la.neuron is not None:
            u[i] = np.zeros(la.out_shape, dtype=object)
            trains[i] = np.zeros((T, *la.out_shape), dtype=np.uint8)
            rec.V[i] = np.zeros((T, *la.out_shape), dtype=object)
            rec.levels[i] = np.zeros((T, *la.out_shape), dtype=object)
    for t in range(T):
        cur = (x if ir.input_kind == "static" else x[t]).astype(object)
        for i, la in enumerate(ir.layers):
            if la.type in ("maxpool", "sumpool"):
                k = la.pool
                c, oh, ow = la.out_shape
                nxt = np.zeros((c, oh, ow), dtype=object)
                for ch in range(c):
                    for yy in range(oh):
                        for xx in range(ow):
                            win = [int(cur[ch, yy * k + a, xx * k + b])
                                   for a in range(k) for b in range(k)]
                            nxt[ch, yy, xx] = max(win) if la.type == "maxpool" else sum(win)
                cur = nxt
                continue
            w = la.weight
            assert w is not None
            rec.inputs[i].append(cur.copy())
            if la.type == "conv":
                o, oh, ow = la.out_shape
                ci, ih, iw = la.in_shape
                acc = np.zeros((o, oh, ow), dtype=object)
                for oc in range(o):
                    for yy in range(oh):
                        for xx in range(ow):
                            total = 0
                            for c in range(ci):
                                for ky in range(la.kernel):
                                    for kx in range(la.kernel):
                                        y = yy * la.stride - la.padding + ky
                                        xq = xx * la.stride - la.padding + kx
                                        if 0 <= y < ih and 0 <= xq < iw:
                                            total += int(w[oc, c, ky, kx]) * int(cur[c, y, xq])
                            acc[oc, yy, xx] = total
            else:
                flat = cur.reshape(-1)
                acc = np.array([sum(int(w[o, j]) * int(flat[j]) for j in range(flat.size))
                                for o in range(w.shape[0])], dtype=object)
            if la.type == "readout":
                for o in range(ir.num_classes):
                    logits[o] += int(acc[o])
                continue
            n = la.neuron
            assert n is not None
            out = np.zeros(acc.shape, dtype=object)
            for idx in np.ndindex(acc.shape):
                c = idx[0]
                cur_i = current(int(acc[idx]), int(n.mult[c]), int(n.shift[c]))
                out[idx], u[i][idx], rec.V[i][t][idx] = neuron_update(
                    cur_i, int(u[i][idx]), int(n.bias[c]), n.leak, n.lo, n.hi, n.reset)
                rec.levels[i][t][idx] = u[i][idx]
            trains[i][t] = out.astype(np.uint8)
            cur = out
            if la.type == "spike_readout":  # logits are the output spike counts
                logits = [v + int(o) for v, o in zip(logits, out, strict=True)]
    readout = ir.layers[-1]
    if readout.type == "readout":
        assert readout.readout_bias is not None
        logits = [v + T * int(b) for v, b in zip(logits, readout.readout_bias, strict=True)]
    rec.logits, rec.trains = logits, [trains[i] for i in sorted(trains)]
    return rec
