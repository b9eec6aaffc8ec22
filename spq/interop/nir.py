# SPDX-License-Identifier: MIT
"""NIR (Neuromorphic Intermediate Representation) import and export.

* :func:`from_nir`: a NIR graph -> :class:`spq.nn.Sequential` by post-training quantization,
  calibrated on inputs (docs/interop.md). A graph that ``to_nir`` wrote and nobody changed
  comes back exactly (its metadata carries the spq parameters).
* :func:`to_nir`: an spq model -> a NIR graph whose float semantics is spq's integer model up
  to the membrane rounding (weights are the integer weights, thresholds the threshold levels).
* :func:`simulate`: the float reference with NIR's semantics (:mod:`spq.interop.graph`).
* :func:`agreement`: the float graph against the integer model on the same inputs.

The mapping (forward Euler with step ``dt``; ``a = dt / tau``):

=========  ============================================================================
LIF        ``beta = 1 - a``, input gain ``r a``, per-step bias ``a (v_leak - v_reset)``,
           threshold ``v_threshold - v_reset`` (the membrane is shifted by ``v_reset`` so
           that spq's hard reset to 0 is NIR's reset to ``v_reset``)
IF         ``beta = 1``, input gain ``r dt``, threshold ``v_threshold - v_reset``
Threshold  ``beta = 0``, gain 1 (no state)
LI         the readout (last node only): logits = sum over steps of ``r (W x + b) + v_leak``
=========  ============================================================================

Gain and bias are folded into the synapse rows (per output channel), the threshold is
normalized to 1 (spq's theta), and the neuron fires on ``v > theta`` as NIR does (``strict``,
docs/semantics.md 5). The membrane keeps ``levels`` levels with the threshold at level ``D``,
chosen from the calibration inputs so that the lowest membrane seen still fits.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from spq.errors import SpqError
from spq.files import atomic_path
from spq.interop.graph import DEFAULT_DT, NEURONS, Op, as_array, parse, read, simulate

__all__ = ["DEFAULT_DT", "ImportResult", "agreement", "convert", "exact_model", "from_nir",
           "read", "simulate", "to_nir", "write"]

SPQ_MARK = "spq_spec"  # graph metadata keys written by to_nir
MEMBRANE_QUANTILE = 1e-2  # the membrane quantile the threshold level must still hold
COLLAPSE_RTOL = 1e-6  # per-neuron values that differ less are "constant per channel"


class NirImportWarning(UserWarning):
    """An approximation made while importing a NIR graph."""


@dataclass
class ImportResult:
    net: Any  # spq.nn.Sequential (eval mode)
    exact: bool  # rebuilt from the spq parameters in the graph's metadata
    warnings: list[str] = field(default_factory=list)
    threshold_levels: list[int] = field(default_factory=list)


@dataclass
class _Block:
    """One spq block in float: synapse, neuron, pool."""

    kind: str  # "conv" | "linear"
    weight: np.ndarray
    bias: np.ndarray
    names: list[str]
    stride: int = 1
    padding: int = 0
    neuron: str | None = None  # NIR class of the neuron, or None for the readout
    neuron_name: str = ""
    beta: float = 0.0
    pool: tuple[str, int] | None = None  # ("max" | "avg", k)


# ------------------------------------------------------------------------------ helpers


def _channels(arr: np.ndarray, where: str, what: str, notes: list[str]) -> np.ndarray:
    """A per-element array (C, ...) collapsed to per channel (C,); the channel mean with a
    warning when it is not constant within a channel."""
    c = arr.shape[0]
    flat = arr.reshape(c, -1)
    mean = flat.mean(axis=1)
    dev = np.abs(flat - mean[:, None]).max()
    scale = max(float(np.abs(mean).max()), 1e-30)
    if dev > COLLAPSE_RTOL * scale:
        notes.append(f"{where}: {what} varies within a channel (by up to {dev:.3g}); spq uses "
                     "the channel mean")
    return mean


def _square(vals: tuple[int, ...], where: str, what: str) -> int:
    if len(set(vals)) != 1:
        raise SpqError(f"{where}: {what} {vals} is not square, which spq does not support")
    return int(vals[0])


def _neuron_terms(op: Op, dt: float, notes: list[str]) -> tuple[float, np.ndarray,
                                                                  np.ndarray, np.ndarray]:
    """``(beta, gain, offset, threshold)`` per element for IF/LIF/Threshold (see the module
    docstring); ``beta`` one value for the layer."""
    p, where = op.p, op.where
    if op.kind == "LIF":
        a = dt / p["tau"]
        beta_e = 1.0 - a
        gain = p["r"] * a
        offset = a * (p["v_leak"] - p["v_reset"])
        th = p["v_threshold"] - p["v_reset"]
    elif op.kind == "IF":
        beta_e = np.ones(op.out_shape)
        gain = p["r"] * dt
        offset = np.zeros(op.out_shape)
        th = p["v_threshold"] - p["v_reset"]
    else:  # Threshold: a neuron without memory
        beta_e = np.zeros(op.out_shape)
        gain = np.ones(op.out_shape)
        offset = np.zeros(op.out_shape)
        th = p["threshold"]
    if np.any(th <= 0):
        raise SpqError(f"{where}: the threshold (v_threshold - v_reset) must be > 0")
    if np.any(beta_e < 0) or np.any(beta_e > 1):
        raise SpqError(f"{where}: dt / tau = {float(np.max(dt / p['tau'])):.3g} > 1 with dt = "
                       f"{dt:g} s (the leak 1 - dt/tau would be negative): pass a smaller --dt")
    beta = float(beta_e.mean())
    if np.ptp(beta_e) > COLLAPSE_RTOL:
        notes.append(f"{where}: tau varies across neurons (leak {beta_e.min():.4f}.."
                     f"{beta_e.max():.4f}); spq uses one leak per layer, the mean {beta:.4f}")
    return beta, gain, offset, th


# ------------------------------------------------------------------------------ graph -> blocks


def _blocks(in_shape: tuple[int, ...], ops: list[Op], dt: float,
            notes: list[str]) -> tuple[list[_Block], str]:
    """The chain as spq blocks; returns ``(blocks, readout)`` with readout ``"linear"`` (the
    last block has no neuron) or ``"spikes"``."""
    blocks: list[_Block] = []
    state = "synapse"  # what may come next: "synapse", "neuron", "pool"
    scale_in: np.ndarray | None = None  # Scale nodes before the next synapse
    pool_factor = 1.0  # a SumPool2d before the next synapse: its weights times k*k
    i = 0
    while i < len(ops):
        op = ops[i]
        k = op.kind
        if k == "Flatten":
            if len(op.out_shape) != 1:
                raise SpqError(f"{op.where}: flattens to {op.out_shape}; spq flattens whole "
                               "maps only (start_dim 0, end_dim -1)")
        elif k == "Scale":
            s = op.p["scale"]
            if state == "neuron":  # after a synapse: scale its outputs (rows and bias)
                b = blocks[-1]
                rows = _channels(s, op.where, "scale", notes) if b.kind == "conv" else s
                b.weight = b.weight * rows.reshape((-1,) + (1,) * (b.weight.ndim - 1))
                b.bias = b.bias * rows
                b.names.append(op.name)
            else:
                scale_in = s if scale_in is None else scale_in * s
        elif k in ("Conv2d", "Affine", "Linear"):
            if state == "neuron":
                raise SpqError(f"{op.where}: two synapses in a row (no neuron after "
                               f"{blocks[-1].names[0]!r}), which spq cannot run")
            w = op.p["weight"].copy() * pool_factor
            if k == "Conv2d":
                if op.p["groups"] != 1 or op.p["dilation"] != (1, 1):
                    raise SpqError(f"{op.where}: groups {op.p['groups']} / dilation "
                                   f"{op.p['dilation']}: spq supports groups 1, dilation 1")
                kk = _square(tuple(w.shape[2:]), op.where, "kernel")
                stride = _square(op.p["stride"], op.where, "stride")
                pad = _square(op.p["padding"], op.where, "padding")
                if pad >= kk:
                    raise SpqError(f"{op.where}: padding {pad} >= kernel {kk}")
                if scale_in is not None:
                    w = w * _channels(scale_in, op.where, "the Scale before it",
                                      notes)[None, :, None, None]
                blocks.append(_Block("conv", w, op.p["bias"].copy(), [op.name], stride, pad))
            else:
                if scale_in is not None:
                    w = w * scale_in.reshape(1, -1)
                blocks.append(_Block("linear", w, op.p["bias"].copy(), [op.name]))
            scale_in, pool_factor = None, 1.0
            state = "neuron"
        elif k == "LI":
            if state != "neuron" or i != len(ops) - 1 or blocks[-1].kind != "linear":
                raise SpqError(f"{op.where}: a non-spiking LI is supported only as the readout "
                               "(the last node, after an Affine/Linear)")
            b = blocks[-1]
            r = op.p["r"].reshape(-1)
            b.weight = b.weight * r[:, None]
            b.bias = b.bias * r + op.p["v_leak"].reshape(-1)
            b.names.append(op.name)
            if np.any(op.p["tau"] > dt):
                notes.append(f"{op.where}: the LI readout becomes spq's summed readout, "
                             "logits = sum over steps of r (W x + b) + v_leak (its steady "
                             "state; the leak's smoothing over time is not kept)")
            state = "readout"
        elif k in NEURONS:
            if state != "neuron":
                raise SpqError(f"{op.where}: a neuron must follow a synapse (Conv2d, Affine, "
                               "Linear)")
            b = blocks[-1]
            beta, gain, offset, th = _neuron_terms(op, dt, notes)
            if b.kind == "conv":
                gain = _channels(gain, op.where, "r dt / tau", notes)
                offset = _channels(offset, op.where, "v_leak", notes)
                th = _channels(th, op.where, "v_threshold", notes)
            g = gain / th
            b.weight = b.weight * g.reshape((-1,) + (1,) * (b.weight.ndim - 1))
            b.bias = b.bias * g + offset / th
            b.neuron, b.neuron_name, b.beta = k, op.name, beta
            b.names.append(op.name)
            state = "pool"
        elif k in ("SumPool2d", "AvgPool2d"):
            if state != "pool":
                raise SpqError(f"{op.where}: a pool must follow a neuron (pooling the input "
                               "or a current is not supported)")
            kk = _square(op.p["kernel"], op.where, "kernel")
            if op.p["stride"] != (kk, kk) or op.p["padding"] != (0, 0):
                raise SpqError(f"{op.where}: stride {op.p['stride']} padding "
                               f"{op.p['padding']}: spq pools with stride = kernel, no padding")
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            if nxt is not None and nxt.kind == "Threshold":
                # spikes pooled then thresholded below one spike: the OR of the window
                th = nxt.p["threshold"] * (kk * kk if k == "AvgPool2d" else 1)
                if np.all((th >= 0) & (th < 1)):
                    blocks[-1].pool = ("max", kk)
                    blocks[-1].names += [op.name, nxt.name]
                    state = "synapse"
                    i += 2
                    continue
            blocks[-1].pool = ("avg", kk)
            blocks[-1].names.append(op.name)
            if k == "SumPool2d":
                pool_factor = float(kk * kk)  # spq's pool feeds counts scaled by 1/k^2
            state = "synapse"
        else:  # pragma: no cover - parse() refuses other kinds
            raise SpqError(f"{op.where}: not supported")
        i += 1
    if not blocks:
        raise SpqError("the graph has no synapse (Conv2d, Affine, Linear)")
    last = blocks[-1]
    if state == "neuron" or state == "readout":
        if last.kind != "linear":
            raise SpqError(f"node {last.names[0]!r}: the readout must be an Affine/Linear "
                           "(a conv output is not a class vector)")
        return blocks, "linear"
    if last.pool is not None:
        raise SpqError(f"node {last.names[-1]!r}: the graph ends with a pool; spq needs a "
                       "readout (an Affine/Linear, optionally with a neuron)")
    if last.kind != "linear":
        raise SpqError(f"node {last.names[0]!r}: a spike-count readout must be an "
                       "Affine/Linear followed by IF/LIF/Threshold")
    return blocks, "spikes"


# ------------------------------------------------------------------------------ blocks -> spq


def _build(blocks: list[_Block], readout: str, input_shape: tuple[int, int, int],
           input_kind: str, time_steps: int, weight_bits: int, levels: int,
           threshold_levels: list[int]) -> Any:
    import spq.nn as snn

    layers: list[torch.nn.Module] = []
    neurons = iter(threshold_levels)
    for bi, b in enumerate(blocks):
        last = bi == len(blocks) - 1
        if b.kind == "conv":
            o, c, kk, _ = b.weight.shape
            syn: torch.nn.Module = snn.QuantConv2d(c, o, kk, b.stride, b.padding, bias=True,
                                                   weight_bits=weight_bits)
        else:
            if bi == 0 or blocks[bi - 1].kind == "conv":  # spq flattens before a first linear
                layers.append(snn.Flatten())
            o, c = b.weight.shape
            syn = snn.QuantLinear(c, o, bias=True, weight_bits=weight_bits)
        with torch.no_grad():
            syn.weight.copy_(torch.from_numpy(b.weight))  # type: ignore[union-attr,arg-type]
            syn.bias.copy_(torch.from_numpy(b.bias))  # type: ignore[union-attr,arg-type]
        layers.append(syn)
        if b.neuron is None:
            assert last and readout == "linear"
            continue
        layers.append(snn.QuantLIF(levels=levels, beta=min(1.0, max(0.0, b.beta)),
                                   threshold=1.0, reset="hard",
                                   threshold_level=next(neurons), strict=True))
        if b.pool is not None:
            layers.append(snn.MaxPool2d(b.pool[1]) if b.pool[0] == "max"
                          else snn.AvgPool2d(b.pool[1]))
    net = snn.Sequential(*layers, time_steps=time_steps, input_kind=input_kind,
                         input_shape=input_shape)
    net.eval()
    return net


def _threshold_levels(blocks: list[_Block], probe: dict[str, list[np.ndarray]],
                      levels: int) -> list[int]:
    """Per neuron: the largest threshold level D whose range ``[D + 1 - L, D]`` (in units of
    theta / D) still holds the low membranes seen on the inputs (their 1 % quantile)."""
    out = []
    for b in blocks:
        if b.neuron is None:
            continue
        vals = probe.get(b.neuron_name)
        if b.neuron == "Threshold" or not vals:
            out.append(max(1, (levels - 1) // 2) if b.neuron != "Threshold" else 1)
            continue
        allv = np.concatenate(vals)
        if allv.size > 2_000_000:
            allv = allv[np.random.default_rng(0).choice(allv.size, 2_000_000, replace=False)]
        low = max(0.0, -float(np.quantile(allv, MEMBRANE_QUANTILE)))
        d = math.floor((levels - 1) / (1.0 + low))
        out.append(min(levels - 1, max(1, d)))
    return out


# ------------------------------------------------------------------------------ inputs


def _frames_for_graph(x: np.ndarray, in_shape: tuple[int, ...], kind: str,
                      time_steps: int) -> np.ndarray:
    """spq inputs (static uint8 or float images, or 0/1 events) -> the float frames the NIR
    graph takes, (N, T, *in_shape)."""
    n = x.shape[0]
    if kind == "static":
        xf = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
        if x.dtype != np.uint8:  # the float image spq quantizes: q / 255
            xf = np.clip(np.floor(xf.astype(np.float32) * 255.0 + 0.5), 0, 255) / 255.0
        frames = np.repeat(xf[:, None], time_steps, axis=1)
    else:
        frames = x.astype(np.float64)
    return frames.reshape(n, frames.shape[1], *in_shape)


def check_inputs(x: Any, in_shape: tuple[int, ...], time_steps: int | None,
                 what: str = "calibration inputs") -> tuple[np.ndarray, str, tuple[int, int, int]]:
    """Inputs for a graph with input ``in_shape``: ``(x, kind, spq input_shape)``. ``(N, T,
    *shape)`` is events (0/1 only), ``(N, *shape)`` a static image (uint8, or floats in
    [0, 1]); ``shape`` is ``in_shape`` or, for a flat graph input, any (C, H, W) of that size."""
    arr = as_array(x) if not isinstance(x, np.ndarray) else x
    if arr.dtype == object or arr.ndim < 2:
        raise SpqError(f"{what}: need a batch of inputs, got shape {tuple(arr.shape)}")
    size = math.prod(in_shape)

    def chw(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
        if tuple(shape) == tuple(in_shape) or (len(in_shape) == 1 and math.prod(shape) == size):
            if len(shape) == 3:
                return (int(shape[0]), int(shape[1]), int(shape[2]))
            if len(shape) == 1:
                return (int(shape[0]), 1, 1)
        return None

    static_shape = chw(tuple(arr.shape[1:]))
    event_shape = chw(tuple(arr.shape[2:])) if arr.ndim >= 3 else None
    if event_shape is not None and (static_shape is None or
                                    (time_steps is not None and arr.shape[1] == time_steps)):
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise SpqError(f"{what}: event frames must be 0/1 (spq's event input is one spike "
                           "per pixel and step; binarize event counts with x > 0)")
        if time_steps is not None and arr.shape[1] != time_steps:
            raise SpqError(f"{what}: {arr.shape[1]} time steps, --time-steps is {time_steps}")
        return arr.astype(np.uint8), "events", event_shape
    if static_shape is not None:
        if arr.dtype != np.uint8:
            arr = arr.astype(np.float32)
            if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1):
                raise SpqError(f"{what}: static images must be uint8 or floats in [0, 1]")
        return arr, "static", static_shape
    raise SpqError(f"{what}: shape {tuple(arr.shape)} fits neither (N, T, {in_shape}) events "
                   f"nor (N, {in_shape}) images")


def random_inputs(in_shape: tuple[int, ...], time_steps: int, n: int = 64,
                  seed: int = 0) -> np.ndarray:
    """Random 0/1 events of the graph's shape (density 0.2): calibration of last resort."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, time_steps, *in_shape)) < 0.2).astype(np.uint8)


# ------------------------------------------------------------------------------ import


def convert(graph: Any, calibration: Any, *, time_steps: int | None = None,
            weight_bits: int = 8, levels: int = 256, dt: float = DEFAULT_DT) -> ImportResult:
    """The work of :func:`from_nir`, with its warnings returned instead of raised."""
    if weight_bits not in (2, 4, 8):
        raise SpqError(f"weight bits must be 2, 4 or 8, not {weight_bits}")
    if not 2 <= int(levels) <= 256:
        raise SpqError(f"levels must be in 2..256, got {levels}")
    if not (math.isfinite(dt) and dt > 0):
        raise SpqError(f"dt must be > 0, got {dt}")
    exact = exact_model(graph)
    if exact is not None:
        return exact
    in_shape, ops = parse(graph)
    x, kind, spq_shape = check_inputs(calibration, in_shape, time_steps)
    T = time_steps if time_steps is not None else (x.shape[1] if kind == "events" else None)
    if T is None:
        raise SpqError("static calibration images: give the number of time steps "
                       "(--time-steps)")
    notes: list[str] = []
    blocks, readout = _blocks(in_shape, ops, dt, notes)
    probe: dict[str, list[np.ndarray]] = {}
    simulate((in_shape, ops), _frames_for_graph(x, in_shape, kind, T), dt, probe=probe)
    d_levels = _threshold_levels(blocks, probe, levels)
    net = _build(blocks, readout, spq_shape, kind, T, weight_bits, levels, d_levels)
    return ImportResult(net=net, exact=False, warnings=notes, threshold_levels=d_levels)


def from_nir(graph: Any, calibration: Any = None, *, time_steps: int | None = None,
             weight_bits: int = 8, levels: int = 256, dt: float = DEFAULT_DT) -> Any:
    """A NIR graph (``nir.NIRGraph`` or a path) as an :class:`spq.nn.Sequential` (eval mode).

    Args:
        graph: the graph, or the path of a ``.nir`` file.
        calibration: inputs for post-training quantization: ``(N, T, *shape)`` 0/1 events or
            ``(N, *shape)`` static images (uint8, or floats in [0, 1]); None: random events of
            the graph's shape (with a warning; needs ``time_steps``).
        time_steps: T of the spq model (default: the calibration events' T).
        weight_bits: 2, 4 or 8 bits per weight (8 keeps an imported network's accuracy).
        levels: membrane levels (256: an 8-bit membrane); the threshold level is calibrated.
        dt: the time step of the graph's continuous-time constants (seconds).

    Approximations are reported as :class:`NirImportWarning`.
    """
    if isinstance(graph, (str, os.PathLike)):
        graph = read(graph)
    if calibration is None:
        if time_steps is None:
            raise SpqError("without calibration inputs, give time_steps")
        warnings.warn("no calibration inputs: using random 0/1 events of the graph's shape",
                      NirImportWarning, stacklevel=2)
        calibration = random_inputs(parse(graph)[0], time_steps)
    res = convert(graph, calibration, time_steps=time_steps, weight_bits=weight_bits,
                  levels=levels, dt=dt)
    for note in res.warnings:
        warnings.warn(note, NirImportWarning, stacklevel=2)
    return res.net


def agreement(graph: Any, net: Any, inputs: Any, dt: float = DEFAULT_DT) -> dict[str, Any]:
    """The float graph (``simulate``) against the integer model on ``inputs`` (spq's format).

    Both are reduced to one vector per input: the sum over steps of the graph's output and
    the integer logits. Returns the argmax agreement (first maximum, as ``np.argmax``) and
    the Pearson correlation of the two (the output spike counts, for a spiking readout).
    """
    in_shape, ops = parse(graph) if not isinstance(graph, tuple) else graph
    x = np.asarray(inputs)
    kind, T = net.input_kind, net.time_steps
    frames = _frames_for_graph(x, in_shape, kind, T)
    x = x.reshape(len(x), *((T,) if kind == "events" else ()), *net.input_shape)
    ref = simulate((in_shape, ops), frames, dt).sum(axis=1).reshape(len(x), -1)
    with torch.no_grad():
        got = net.int_logits(torch.from_numpy(np.ascontiguousarray(x))).numpy().astype(
            np.float64)
    agree = float(np.mean(np.argmax(ref, axis=1) == np.argmax(got, axis=1))) if len(x) else 0.0
    a, b = ref.reshape(-1), got.reshape(-1)
    corr = float(np.corrcoef(a, b)[0, 1]) if a.size > 1 and a.std() > 0 and b.std() > 0 \
        else float("nan")
    return {"samples": len(x), "argmax_agreement": agree, "correlation": corr,
            "float_outputs": ref, "int_logits": got}


# ------------------------------------------------------------------------------ export


def _node_arrays(node: Any) -> dict[str, Any]:
    d = node.to_dict()
    d.pop("metadata", None)
    return d


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        sa = a.decode() if isinstance(a, bytes) else a
        sb = b.decode() if isinstance(b, bytes) else b
        return bool(sa == sb)
    if a is None or b is None:
        return a is None and b is None
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:
        return False


def exact_model(graph: Any) -> ImportResult | None:
    """The exact spq model when ``to_nir`` wrote the graph and its nodes are unchanged."""
    meta = getattr(graph, "metadata", None) or {}
    spec = meta.get(SPQ_MARK)
    if spec is None:
        return None
    from spq.nn import build

    spec = spec.decode() if isinstance(spec, bytes) else str(spec)
    state = meta.get("spq_state") or {}
    try:
        dt = float(np.asarray(meta.get("spq_dt", DEFAULT_DT)))
        net = build(spec)
        ref = net.state_dict()
        sd = {k: torch.from_numpy(np.array(v)).to(ref[k].dtype).reshape(ref[k].shape)
              for k, v in state.items() if k in ref}
        net.load_state_dict(sd, strict=True)
    except Exception:
        return None
    net.eval()
    again = to_nir(net, dt=dt)
    nodes = getattr(graph, "nodes", {})
    if nodes.keys() != again.nodes.keys() or not all(
            _same(_node_arrays(nodes[k]), _node_arrays(again.nodes[k])) for k in nodes):
        return None
    return ImportResult(net=net, exact=True,
                        threshold_levels=[m.threshold_level for m in net.neurons])


def to_nir(net: Any, dt: float = DEFAULT_DT) -> Any:
    """An spq model as a NIR graph (``nir.NIRGraph``).

    Each synapse carries spq's integer weights (times 255 for a static first layer, whose NIR
    input is the image in [0, 1]); each neuron is an IF (no leak) or LIF whose input gain and
    bias are the folded per-channel integers ``M 2^-(S+F)`` and ``B 2^-F`` and whose threshold
    is the threshold level ``D``, so the graph's float semantics is spq's integer model up to
    the membrane rounding (and NIR's ``v > threshold``). spq's sum pooling is a SumPool2d, a
    max pool of spikes a SumPool2d then a Threshold at 0.5 (the OR); the readout is an Affine
    in float logit units per step. The graph's metadata holds the spq model itself, so that
    :func:`from_nir` gives back the identical integers while the nodes stay unchanged.
    Soft-reset neurons cannot be expressed (NIR resets to v_reset) and are written as hard.
    """
    import nir

    from spq.nn import fold
    from spq.nn.quant import F

    if not (math.isfinite(dt) and dt > 0):
        raise SpqError(f"dt must be > 0, got {dt}")
    ir = fold(net)
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(ir.input_shape))}
    order = ["input"]
    static = ir.input_kind == "static"
    shape: tuple[int, ...] = tuple(ir.input_shape)
    for li, layer in enumerate(ir.layers):
        name = layer.name or f"layer{li}"
        if layer.type in ("maxpool", "sumpool"):
            k = layer.pool
            nodes[f"{name}_sum"] = nir.SumPool2d(kernel_size=np.array([k, k]),
                                                 stride=np.array([k, k]),
                                                 padding=np.array([0, 0]))
            order.append(f"{name}_sum")
            shape = tuple(layer.out_shape)
            if layer.type == "maxpool":
                nodes[f"{name}_or"] = nir.Threshold(threshold=np.full(shape, 0.5))
                order.append(f"{name}_or")
            continue
        assert layer.weight is not None
        w = layer.weight.astype(np.float64) * (255.0 if static and li == 0 else 1.0)
        if layer.type != "conv" and len(shape) != 1:
            nodes[f"{name}_flat"] = nir.Flatten(input_type={"input": np.array(shape)},
                                                start_dim=0, end_dim=-1)
            order.append(f"{name}_flat")
            shape = (math.prod(shape),)
        n = layer.neuron
        out_c = int(layer.out_shape[0])
        if n is None:  # the readout, in float logits per step
            s = ir.out_scale * ir.time_steps
            assert layer.readout_bias is not None
            nodes[name] = nir.Affine(weight=w * s,
                                     bias=layer.readout_bias.astype(np.float64) * s)
            order.append(name)
            shape = (out_c,)
            continue
        a = n.mult.astype(np.float64) * np.exp2(-(n.shift.astype(np.float64) + F))
        safe = np.where(a != 0, a, 1.0)
        bias = np.where(a != 0, n.bias.astype(np.float64) * 2.0**-F / safe, 0.0)
        if layer.type == "conv":
            nodes[name] = nir.Conv2d(input_shape=np.array(shape[1:]), weight=w,
                                     stride=np.array([layer.stride] * 2),
                                     padding=np.array([layer.padding] * 2),
                                     dilation=np.array([1, 1]), groups=1, bias=bias)
        else:
            nodes[name] = nir.Affine(weight=w, bias=bias)
        order.append(name)
        shape = tuple(layer.out_shape)
        gain = a.reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape)
        beta = n.leak / 2.0**F
        th = np.full(shape, float(n.hi))
        zero = np.zeros(shape)
        if beta >= 1.0:
            nodes[f"{name}_lif"] = nir.IF(r=gain / dt, v_threshold=th, v_reset=zero)
        else:
            tau = dt / (1.0 - beta)
            nodes[f"{name}_lif"] = nir.LIF(tau=np.full(shape, tau), r=gain * tau / dt,
                                           v_leak=zero, v_threshold=th, v_reset=zero)
        order.append(f"{name}_lif")
    nodes["output"] = nir.Output(output_type=np.array(shape))
    order.append("output")
    # 0-d tensors as Python numbers: HDF5 cannot compress scalar datasets
    state = {k: (v.item() if v.dim() == 0 else v.detach().cpu().numpy())
             for k, v in net.state_dict().items()}
    meta = {SPQ_MARK: json.dumps(net.spec(), sort_keys=True), "spq_state": state,
            "spq_dt": float(dt), "producer": "spq"}
    edges = list(itertools.pairwise(order))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write(graph: Any, path: str | os.PathLike[str]) -> None:
    """``nir.write`` through a temporary file beside ``path`` (no half-written file)."""
    import nir

    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
