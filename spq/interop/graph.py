# SPDX-License-Identifier: MIT
"""NIR graphs as spq reads them: the file, the sequential chain of nodes, shapes, and a float
reference simulator with NIR's semantics.

* :func:`read` opens a ``.nir`` (HDF5) file; every failure is one :class:`SpqError` line.
* :func:`parse` follows the edges from the Input to the Output and returns the chain as
  :class:`Op` records with their data shapes (batch dimension excluded) and their parameters
  as float64 numpy arrays. Branches, cycles, subgraphs, unsupported nodes and shapes that do
  not chain are refused with one line naming the node.
* :func:`simulate` runs the chain in float64, one time step at a time (forward Euler with
  step ``dt``), with NIR's definitions: ``tau dv/dt = (v_leak - v) + r I`` for LIF/LI, ``dv/dt
  = r I`` for IF, a spike when ``v > v_threshold``, then ``v = v_reset``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spq.errors import SpqError
from spq.files import file_head

DEFAULT_DT = 1e-4  # snnTorch, SpikingJelly and the NIR paper's graphs; Norse uses 1e-3
SUPPORTED = ("Input", "Output", "Conv2d", "Linear", "Affine", "Scale", "Flatten", "SumPool2d",
             "AvgPool2d", "IF", "LIF", "LI", "Threshold")
NEURONS = ("IF", "LIF", "LI", "Threshold")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def as_array(x: Any) -> np.ndarray:
    """A float64 numpy array from numpy, torch or a Python number."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _ints(x: Any, n: int, what: str) -> tuple[int, ...]:
    """An int or an int sequence as an n-tuple (a scalar is repeated)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, n)
    if arr.size != n or not np.all(np.isfinite(arr.astype(np.float64))) or \
            not np.all(arr.astype(np.float64) == np.round(arr.astype(np.float64))):
        raise SpqError(f"{what} must be {n} integers, got {np.asarray(x).tolist()!r}")
    return tuple(int(v) for v in arr)


def read(path: str | os.PathLike[str]) -> Any:
    """Read a NIR graph from ``path`` (HDF5, as ``nir.write`` writes it)."""
    import nir

    p = Path(path)
    if file_head(p, 8, "a NIR file") != HDF5_SIGNATURE:
        raise SpqError(f"{p}: not a NIR file (not HDF5)")
    try:
        return nir.read(p, type_check=False)  # spq checks the shapes itself (parse)
    except Exception as exc:  # h5py and nir raise many types for a damaged or foreign file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpqError(f"{p}: not a readable NIR graph ({text[:160]})") from None


@dataclass
class Op:
    """One node of the chain with the shapes of the data it takes and gives."""

    name: str
    kind: str  # the NIR class name
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    p: dict[str, Any] = field(default_factory=dict)  # parameters, float64 arrays or ints

    @property
    def where(self) -> str:
        return f"node {self.name!r} ({self.kind})"


def chain(graph: Any) -> list[tuple[str, Any]]:
    """The nodes from the Input to the Output along the edges (a sequential graph only)."""
    import nir

    nodes: dict[str, Any] = dict(getattr(graph, "nodes", {}) or {})
    if not nodes:
        raise SpqError("the NIR graph has no nodes")
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise SpqError(f"node {name!r} is a subgraph (recurrent layers such as snnTorch's "
                           "RLeaky are not supported)")
        if node is None:
            raise SpqError(f"node {name!r} is empty (its producer could not export that layer)")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in graph.edges:
        a, b = (str(e.decode() if isinstance(e, bytes) else e) for e in edge)
        for end in (a, b):
            if end not in nodes:
                raise SpqError(f"an edge names node {end!r}, which the graph does not have")
        succ[a].append(b)
        pred[b].append(a)
    _refuse_cycles(nodes, succ)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SpqError(f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; "
                       "spq takes one of each")
    cur = inputs[0]
    seen = [cur]
    while not isinstance(nodes[cur], nir.Output):
        nxt = succ[cur]
        if not nxt:
            raise SpqError(f"node {cur!r} ({type(nodes[cur]).__name__}) leads nowhere: the "
                           "graph does not reach its Output")
        if len(nxt) > 1:
            raise SpqError(f"node {cur!r} branches to {sorted(nxt)}: only sequential graphs "
                           "are supported")
        cur = nxt[0]
        if cur in seen:
            raise SpqError(f"node {cur!r} ({type(nodes[cur]).__name__}) closes a cycle: "
                           "recurrent graphs are not supported")
        if len(pred[cur]) > 1:
            raise SpqError(f"node {cur!r} ({type(nodes[cur]).__name__}) has "
                           f"{len(pred[cur])} inputs: only sequential graphs are supported")
        seen.append(cur)
    if pred[inputs[0]]:
        raise SpqError(f"node {pred[inputs[0]][0]!r} feeds the Input: recurrent graphs are "
                       "not supported")
    for name, node in nodes.items():
        if name not in seen:
            raise SpqError(f"node {name!r} ({type(node).__name__}) is not on the path from the "
                           "Input to the Output (branches are not supported)")
    return [(n, nodes[n]) for n in seen]


def _refuse_cycles(nodes: dict[str, Any], succ: dict[str, list[str]]) -> None:
    """Raise naming a node on a cycle, if the edges have one (iterative depth-first search)."""
    color = dict.fromkeys(nodes, 0)  # 0 new, 1 on the current path, 2 done
    for root in nodes:
        if color[root]:
            continue
        stack = [(root, iter(succ[root]))]
        color[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
            elif color[nxt] == 1:
                raise SpqError(f"node {nxt!r} ({type(nodes[nxt]).__name__}) is on a cycle: "
                               "recurrent graphs are not supported")
            elif color[nxt] == 0:
                color[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))


def _shape_of(types: Any, key: str) -> tuple[int, ...] | None:
    if not types or types.get(key) is None:
        return None
    arr = np.asarray(types[key]).reshape(-1)
    return tuple(int(v) for v in arr)


def _neuron_param(op_name: str, kind: str, what: str, value: Any,
                  shape: tuple[int, ...]) -> np.ndarray:
    """A neuron parameter broadcast to the data shape: a scalar, a size-1 array, a
    per-neuron array (shaped like the data or flat), or a per-channel array."""
    arr = as_array(value)
    n = math.prod(shape)
    if arr.size == 1:
        out = np.full(shape, float(arr.reshape(-1)[0]))
    elif arr.size == n:
        out = arr.reshape(shape)
    elif len(shape) == 3 and arr.size == shape[0]:
        out = np.broadcast_to(arr.reshape(shape[0], 1, 1), shape).copy()
    else:
        raise SpqError(f"node {op_name!r} ({kind}): {what} has shape {tuple(arr.shape)}, the "
                       f"data has shape {shape}")
    if not np.all(np.isfinite(out)):
        raise SpqError(f"node {op_name!r} ({kind}): {what} holds NaN or inf")
    return out


def _conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _parse_node(name: str, node: Any, shape: tuple[int, ...]) -> Op:
    kind = type(node).__name__
    where = f"node {name!r} ({kind})"
    if kind == "Output":
        want = _shape_of(getattr(node, "output_type", None), "output")
        if want is not None and len(want) and math.prod(want) != math.prod(shape):
            raise SpqError(f"{where}: declares shape {want}, the data reaching it has {shape}")
        return Op(name, kind, shape, shape)
    if kind in ("Affine", "Linear"):
        w = as_array(node.weight)
        if w.ndim != 2:
            raise SpqError(f"{where}: weight must be 2-D, got shape {tuple(w.shape)}")
        if len(shape) != 1:
            raise SpqError(f"{where}: takes a flat input of {w.shape[1]} features, the data "
                           f"has shape {shape} (flatten it first)")
        if shape[0] != w.shape[1]:
            raise SpqError(f"{where}: weight {tuple(w.shape)} takes {w.shape[1]} inputs, the "
                           f"data has {shape[0]}")
        b = as_array(node.bias).reshape(-1) if kind == "Affine" else np.zeros(w.shape[0])
        if b.size != w.shape[0]:
            raise SpqError(f"{where}: bias has {b.size} values for {w.shape[0]} outputs")
        return Op(name, kind, shape, (int(w.shape[0]),), {"weight": w, "bias": b})
    if kind == "Scale":
        s = _neuron_param(name, kind, "scale", node.scale, shape)
        return Op(name, kind, shape, shape, {"scale": s})
    if kind == "Conv2d":
        w = as_array(node.weight)
        if w.ndim != 4:
            raise SpqError(f"{where}: weight must be (out, in, kh, kw), got {tuple(w.shape)}")
        if len(shape) != 3:
            raise SpqError(f"{where}: needs an image (C, H, W), the data has shape {shape}")
        groups = int(np.asarray(node.groups).reshape(-1)[0])
        if shape[0] != w.shape[1] * groups:
            raise SpqError(f"{where}: weight {tuple(w.shape)} takes {w.shape[1] * groups} "
                           f"channels, the data has {shape[0]}")
        stride = _ints(node.stride, 2, f"{where}: stride")
        dilation = _ints(node.dilation, 2, f"{where}: dilation")
        pad_raw = node.padding
        if isinstance(pad_raw, bytes):
            pad_raw = pad_raw.decode()
        kh, kw = int(w.shape[2]), int(w.shape[3])
        if isinstance(pad_raw, str):
            if pad_raw == "valid":
                padding: tuple[int, ...] = (0, 0)
            elif pad_raw == "same":
                if stride != (1, 1):
                    raise SpqError(f"{where}: padding 'same' needs stride 1, got {stride}")
                tot = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
                if tot[0] % 2 or tot[1] % 2:
                    raise SpqError(f"{where}: padding 'same' with an even kernel pads "
                                   "unevenly, which spq does not support")
                padding = (tot[0] // 2, tot[1] // 2)
            else:
                raise SpqError(f"{where}: padding {pad_raw!r} is not 'same', 'valid' or ints")
        else:
            padding = _ints(pad_raw, 2, f"{where}: padding")
        bias = getattr(node, "bias", None)
        b = np.zeros(w.shape[0]) if bias is None else as_array(bias).reshape(-1)
        if b.size == 1 and w.shape[0] > 1:
            b = np.full(w.shape[0], float(b[0]))
        if b.size != w.shape[0]:
            raise SpqError(f"{where}: bias has {b.size} values for {w.shape[0]} channels")
        ho = _conv_out(shape[1], kh, stride[0], padding[0], dilation[0])
        wo = _conv_out(shape[2], kw, stride[1], padding[1], dilation[1])
        if ho < 1 or wo < 1:
            raise SpqError(f"{where}: a {kh}x{kw} kernel does not fit the {shape[1]}x{shape[2]} "
                           "input")
        declared = getattr(node, "input_shape", None)
        if declared is not None and np.asarray(declared).size == 2:
            dh, dw = (int(v) for v in np.asarray(declared).reshape(-1))
            if (dh, dw) != (shape[1], shape[2]):
                raise SpqError(f"{where}: input_shape ({dh}, {dw}), the data is "
                               f"{shape[1]}x{shape[2]}")
        return Op(name, kind, shape, (int(w.shape[0]), ho, wo),
                  {"weight": w, "bias": b, "stride": stride, "padding": padding,
                   "dilation": dilation, "groups": groups})
    if kind == "Flatten":
        start = int(np.asarray(node.start_dim).reshape(-1)[0])
        end = int(np.asarray(node.end_dim).reshape(-1)[0])
        nd = len(shape)
        s0, e0 = start % nd if nd else 0, end % nd if nd else 0
        if s0 > e0:
            raise SpqError(f"{where}: start_dim {start} after end_dim {end} for shape {shape}")
        out = (*shape[:s0], math.prod(shape[s0:e0 + 1]), *shape[e0 + 1:])
        return Op(name, kind, shape, out, {"start": s0, "end": e0})
    if kind in ("SumPool2d", "AvgPool2d"):
        if len(shape) != 3:
            raise SpqError(f"{where}: needs an image (C, H, W), the data has shape {shape}")
        k = _ints(node.kernel_size, 2, f"{where}: kernel_size")
        s = _ints(node.stride if node.stride is not None else node.kernel_size, 2,
                  f"{where}: stride")
        pad = _ints(node.padding if node.padding is not None else 0, 2, f"{where}: padding")
        ho, wo = _conv_out(shape[1], k[0], s[0], pad[0], 1), _conv_out(shape[2], k[1], s[1],
                                                                          pad[1], 1)
        if ho < 1 or wo < 1 or min(k) < 1 or min(s) < 1:
            raise SpqError(f"{where}: pool {k} stride {s} does not fit the "
                           f"{shape[1]}x{shape[2]} input")
        return Op(name, kind, shape, (shape[0], ho, wo),
                  {"kernel": k, "stride": s, "padding": pad})
    if kind in NEURONS:
        fields = {"IF": ("r", "v_threshold", "v_reset"),
                  "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
                  "LI": ("tau", "r", "v_leak"),
                  "Threshold": ("threshold",)}[kind]
        params = {}
        for f in fields:
            value = getattr(node, f, None)
            if value is None and f == "v_reset":
                value = 0.0
            params[f] = _neuron_param(name, kind, f, value, shape)
        if "tau" in params and np.any(params["tau"] <= 0):
            raise SpqError(f"{where}: tau must be > 0")
        return Op(name, kind, shape, shape, params)
    raise SpqError(f"{where}: {kind} is not supported (spq imports {', '.join(SUPPORTED)})")


def input_shape_of(node: Any) -> tuple[int, ...]:
    """The Input node's data shape; a leading batch dimension of 1 (Norse) is dropped."""
    shape = _shape_of(getattr(node, "input_type", None), "input")
    if shape is None:
        shape = _shape_of(getattr(node, "output_type", None), "output")
    if not shape:
        raise SpqError("the Input node has no shape")
    if len(shape) in (2, 4) and shape[0] == 1:
        shape = shape[1:]
    if min(shape) < 1:
        raise SpqError(f"the Input node has shape {shape}")
    return tuple(shape)


def parse(graph: Any) -> tuple[tuple[int, ...], list[Op]]:
    """``(input_shape, ops)``: the chain between Input and Output (both excluded) with shapes."""
    nodes = chain(graph)
    shape = input_shape_of(nodes[0][1])
    ops: list[Op] = []
    for name, node in nodes[1:]:
        op = _parse_node(name, node, shape)
        if op.kind != "Output":
            ops.append(op)
        shape = op.out_shape
    return input_shape_of(nodes[0][1]), ops


# ------------------------------------------------------------------------------ simulate


def simulate(graph: Any, frames: Any, dt: float = DEFAULT_DT,
             time_steps: int | None = None,
             probe: dict[str, list[np.ndarray]] | None = None) -> np.ndarray:
    """Run a NIR graph on ``frames`` with NIR's semantics, in float64.

    ``frames``: ``(N, T, *input_shape)`` (a new frame every step) or, with ``time_steps``,
    ``(N, *input_shape)`` (the same frame at every step). Returns the Output's values at every
    step, ``(N, T, *output_shape)``: spikes (0/1) after IF/LIF/Threshold, the membrane after LI,
    the current after a synapse. ``graph`` may be a ``nir.NIRGraph`` or ``parse``'s result.
    ``probe`` (a dict) collects, per IF/LIF node name, the membrane kept after each step in
    units of its threshold, ``(v - v_reset) / (v_threshold - v_reset)`` (calibration).
    """
    import torch
    import torch.nn.functional as Fn

    in_shape, ops = graph if isinstance(graph, tuple) else parse(graph)
    x = as_array(frames)
    if time_steps is not None and x.ndim == len(in_shape) + 1:
        x = np.repeat(x[:, None], time_steps, axis=1)
    if x.ndim != len(in_shape) + 2 or tuple(x.shape[2:]) != tuple(in_shape):
        raise SpqError(f"frames have shape {tuple(x.shape)}, expected (N, T, {in_shape})")
    if not (dt > 0 and math.isfinite(dt)):
        raise SpqError(f"dt must be > 0, got {dt}")
    N, T = x.shape[:2]
    xt = torch.from_numpy(np.ascontiguousarray(x))
    tp = [{k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
           for k, v in op.p.items()} for op in ops]
    state: dict[int, torch.Tensor] = {}
    outs = []
    for t in range(T):
        h = xt[:, t]
        for i, (op, p) in enumerate(zip(ops, tp, strict=True)):
            k = op.kind
            if k in ("Affine", "Linear"):
                h = h @ p["weight"].T + p["bias"]
            elif k == "Scale":
                h = h * p["scale"]
            elif k == "Conv2d":
                h = Fn.conv2d(h, p["weight"], p["bias"], p["stride"], p["padding"],
                              p["dilation"], p["groups"])
            elif k == "Flatten":
                h = h.reshape(N, *op.out_shape)
            elif k == "SumPool2d":
                h = Fn.avg_pool2d(h, p["kernel"], p["stride"], p["padding"],
                                  divisor_override=1)
            elif k == "AvgPool2d":
                h = Fn.avg_pool2d(h, p["kernel"], p["stride"], p["padding"],
                                  count_include_pad=True)
            elif k == "Threshold":
                h = (h > p["threshold"]).to(torch.float64)
            else:  # IF, LIF, LI
                v = state.get(i)
                if v is None:  # every membrane starts at 0
                    v = torch.zeros((N, *op.out_shape), dtype=torch.float64)
                if k == "IF":
                    v = v + dt * p["r"] * h
                else:
                    v = v + (dt / p["tau"]) * (p["v_leak"] - v + p["r"] * h)
                if k == "LI":
                    state[i] = v
                    h = v
                else:
                    z = v > p["v_threshold"]
                    state[i] = torch.where(z, p["v_reset"], v)
                    h = z.to(torch.float64)
                    if probe is not None:
                        u = (state[i] - p["v_reset"]) / (p["v_threshold"] - p["v_reset"])
                        probe.setdefault(op.name, []).append(u.reshape(-1).numpy().copy())
        outs.append(h)
    return torch.stack(outs, 1).numpy()
