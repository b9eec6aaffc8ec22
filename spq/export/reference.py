# SPDX-License-Identifier: MIT
"""The exporter's reference interpreter: docs/semantics.md in integer numpy.

It runs a :class:`~spq.export.packing.PackedModel`, the data that goes into the generated C,
and nothing else: weights are decoded from the packed bytes, every constant comes from the
layer descriptors. It is written from docs/semantics.md independently of ``spq.nn`` so that
the two check each other (``spq-export`` compares them on sample inputs before it reports
success). All arithmetic is in int64 numpy; no float is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spq.errors import SpqError
from spq.export.packing import PackedLayer, PackedModel

F = 16  # SPQ_FRAC_BITS
SAT_I = 1 << 29


@dataclass
class ReferenceResult:
    logits_int: np.ndarray  # (N, classes) int64
    spikes: list[np.ndarray]  # per neuron layer: (N, T, C, H, W) or (N, T, F) uint8
    spike_counts: np.ndarray  # (N, neuron layers) int64
    synops: np.ndarray  # (N, layers) int64


def reach(size_in: int, size_out: int, k: int, s: int, p: int) -> np.ndarray:
    """For each input position, how many output positions of a conv read it (one axis)."""
    pos = np.arange(size_in)[:, None]
    o = np.arange(size_out)[None, :]
    start = o * s - p
    return ((pos >= start) & (pos < start + k)).sum(axis=1).astype(np.int64)


class _Synapse:
    """Decoded weights and the two things a synapse does: accumulate and count synops."""

    def __init__(self, layer: PackedLayer) -> None:
        self.layer = layer
        rows = layer.unpacked_weights().astype(np.int64)  # (R, out_c)
        if layer.type == "conv":
            k = layer.kernel
            self.w = rows.reshape(layer.in_c, k, k, layer.out_c)
            self.reach = np.outer(
                reach(layer.in_h, layer.out_h, k, layer.stride, layer.padding),
                reach(layer.in_w, layer.out_w, k, layer.stride, layer.padding),
            )  # (in_h, in_w)
        else:
            self.w = rows  # (in_features, out_features)

    def acc(self, x: np.ndarray) -> np.ndarray:
        la = self.layer
        if la.type != "conv":
            return x.reshape(x.shape[0], self.w.shape[0]) @ self.w
        n = x.shape[0]
        k, s, p = la.kernel, la.stride, la.padding
        xp = np.zeros((n, la.in_c, la.in_h + 2 * p, la.in_w + 2 * p), dtype=np.int64)
        xp[:, :, p:p + la.in_h, p:p + la.in_w] = x
        acc = np.zeros((n, la.out_h, la.out_w, la.out_c), dtype=np.int64)
        for ky in range(k):
            for kx in range(k):
                patch = xp[:, :, ky:ky + s * (la.out_h - 1) + 1:s, kx:kx + s * (la.out_w - 1) + 1:s]
                acc += np.tensordot(patch, self.w[:, ky, kx, :], axes=([1], [0]))
        return acc.transpose(0, 3, 1, 2)

    def synops(self, x: np.ndarray) -> np.ndarray:
        """Per sample: for each non-zero input, the (out channel, out position) pairs reached."""
        la = self.layer
        nz = (x != 0).astype(np.int64)
        if la.type != "conv":
            return nz.reshape(nz.shape[0], self.w.shape[0]).sum(axis=1) * la.out_c
        return (nz * self.reach[None, None]).sum(axis=(1, 2, 3)) * la.out_c


def _bcast(v: np.ndarray, ndim: int) -> np.ndarray:
    """Per-channel vector -> shape broadcasting over (N, C, ...)."""
    return v.astype(np.int64).reshape((1, -1) + (1,) * (ndim - 2))


def neuron_step(
    layer: PackedLayer, acc: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One QuantLIF time step (docs/semantics.md §5): returns (spike uint8, u')."""
    assert layer.mult is not None and layer.shift is not None and layer.bias is not None
    nd = acc.ndim
    M = _bcast(layer.mult, nd)
    S = _bcast(layer.shift, nd)
    B = _bcast(layer.bias, nd)
    P = acc.astype(np.int64) * M  # exact: |acc| < 2^31, |M| < 2^31
    half = np.where(S > 0, np.left_shift(1, np.maximum(S - 1, 0)), 0)
    cur = np.clip(np.right_shift(P + half, S), -SAT_I, SAT_I)  # S == 0: half 0, shift 0
    V = layer.leak * u + cur + B  # I in docs/semantics.md
    theta = layer.hi << F  # the threshold is the top membrane level
    spike = theta <= V
    Vr = np.where(spike, 0 if layer.reset == "hard" else V - theta, V)
    u_new = np.clip(np.right_shift(Vr + (1 << (F - 1)), F), layer.lo, layer.hi)
    return spike.astype(np.uint8), u_new


def _pool(layer: PackedLayer, x: np.ndarray) -> np.ndarray:
    k = layer.kernel
    n = x.shape[0]
    v = x[:, :, :layer.out_h * k, :layer.out_w * k].astype(np.int64)
    v = v.reshape(n, layer.in_c, layer.out_h, k, layer.out_w, k)
    if layer.type == "maxpool":
        return v.max(axis=(3, 5))
    return v.sum(axis=(3, 5))


def check_inputs(model: PackedModel, inputs: np.ndarray) -> np.ndarray:
    """Validate a batch in spq_run's format; returns it as uint8."""
    arr = np.asarray(inputs)
    expect = model.input_shape
    if arr.ndim != len(expect) + 1 or tuple(arr.shape[1:]) != expect:
        raise SpqError(f"inputs have shape {tuple(arr.shape)}, expected (N, {expect})")
    if arr.size and (arr.dtype.kind not in "iub" or int(arr.min()) < 0 or int(arr.max()) > 255):
        raise SpqError("inputs must be integers in 0..255")
    if model.input_kind == "events" and arr.size and int(arr.max()) > 1:
        raise SpqError("event inputs must be 0 or 1")
    return arr.astype(np.uint8)


def run(model: PackedModel, inputs: np.ndarray) -> ReferenceResult:
    """Run a batch of inputs in spq_run's format: static (N, C, H, W), events (N, T, C, H, W)."""
    x_all = check_inputs(model, inputs).astype(np.int64)
    n, T = x_all.shape[0], model.time_steps
    synapses = {i: _Synapse(la) for i, la in enumerate(model.layers) if la.weights is not None}
    membranes: dict[int, np.ndarray] = {}
    trains: dict[int, np.ndarray] = {}
    for i, la in enumerate(model.layers):
        if la.mult is not None:
            shape = (n, la.out_c, la.out_h, la.out_w) if la.type == "conv" else (n, la.out_c)
            membranes[i] = np.zeros(shape, dtype=np.int64)
            trains[i] = np.zeros((n, T, *shape[1:]), dtype=np.uint8)
    logits = np.zeros((n, model.num_classes), dtype=np.int64)
    synops = np.zeros((n, len(model.layers)), dtype=np.int64)
    static = model.input_kind == "static"
    first_acc: np.ndarray | None = None

    for t in range(T):
        x = x_all if static else x_all[:, t]
        for i, la in enumerate(model.layers):
            if la.type in ("maxpool", "sumpool"):
                x = _pool(la, x)
                continue
            syn = synapses[i]
            if static and i == 0:
                # the image is the same at every step: accumulate (and count) once
                if first_acc is None:
                    first_acc = syn.acc(x)
                    synops[:, i] += syn.synops(x)
                acc = first_acc
            else:
                acc = syn.acc(x)
                synops[:, i] += syn.synops(x)
            if la.type == "readout":
                logits += acc
                continue
            spike, membranes[i] = neuron_step(la, acc, membranes[i])
            trains[i][:, t] = spike
            x = spike.astype(np.int64)
            if la.type == "spike_readout":  # logits count the output spikes
                logits += x

    readout = model.layers[-1]
    if readout.type == "readout":
        assert readout.bias is not None
        logits += T * readout.bias.astype(np.int64)[None, :]
    spikes = [trains[i] for i in sorted(trains)]
    per_layer = [s.reshape(n, int(np.prod(s.shape[1:]))).sum(axis=1, dtype=np.int64)
                 for s in spikes]
    counts = np.stack(per_layer, axis=1) if spikes else np.zeros((n, 0), dtype=np.int64)
    return ReferenceResult(logits_int=logits, spikes=spikes, spike_counts=counts, synops=synops)
