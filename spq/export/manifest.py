# SPDX-License-Identifier: MIT
"""What an export says about itself: the manifest (:func:`build_manifest`, one record per
layer) and, rendered from it, the C banner, the comment above each layer's arrays and the
``#define`` lines of ``NAME.h`` (:func:`render_files`; the macros themselves are
:func:`spq.export.directory.header_defines`, which ``open_export`` checks NAME.h against)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import spq
from spq.export.budget import const_bytes
from spq.export.directory import InputSpec, header_defines
from spq.export.packing import PackedLayer, PackedModel
from spq.export.reference import reach
from spq.export.render import render_c
from spq.ir import FORMAT_VERSION, LayerIR, ModelIR


def synops_per_spike(layer: LayerIR) -> int:
    """Fan-out of one interior input element: output channels x output positions reached."""
    if layer.weight is None:
        return 0
    out_c = int(layer.out_shape[0])
    if layer.type != "conv":
        return out_c
    _, h, w = (int(d) for d in layer.in_shape)
    _, oh, ow = (int(d) for d in layer.out_shape)
    k, s, p = layer.kernel, layer.stride, layer.padding
    return out_c * int(reach(h, oh, k, s, p).max()) * int(reach(w, ow, k, s, p).max())


def layer_record(i: int, full: LayerIR, la: LayerIR, pl: PackedLayer) -> dict[str, Any]:
    """manifest.json's record of layer ``i``: ``la`` as exported (pruned) from ``full``."""
    n = la.neuron
    synapse = la.weight is not None
    conv = la.type == "conv"
    return {
        "name": la.name,
        "type": la.type,
        "in_shape": [int(d) for d in la.in_shape],
        "out_shape": [int(d) for d in la.out_shape],
        "in_kind": la.in_kind,
        "max_in": int(la.max_in),
        "weight_bits": int(la.weight_bits) if synapse else None,
        "levels": int(n.levels) if n else None,
        "lo": int(n.lo) if n else None,
        "hi": int(n.hi) if n else None,
        "reset": n.reset if n else None,
        "leak": int(n.leak) if n else None,
        "acc_bits": int(la.acc_bits) if synapse else None,
        "kernel": int(la.kernel) if conv else (la.pool or None),
        "stride": int(la.stride) if conv else (la.pool or None),
        "padding": int(la.padding) if conv else None,
        "params": int(la.weight.size) if la.weight is not None else 0,
        "weight_bytes": int(pl.weights.size) if pl.weights is not None else 0,
        "synops_per_spike": synops_per_spike(la),
        "kept_channels": list(la.kept_channels) if la.kept_channels is not None else None,
        "pruned": (int(full.out_shape[0]) - int(la.out_shape[0])) if n else 0,
        "index": i,
    }


def build_manifest(ir_full: ModelIR, ir: ModelIR, packed: PackedModel, model_path: Path,
                   sha: str, mem: dict[str, Any], verified: dict[str, Any],
                   board: dict[str, Any] | None) -> dict[str, Any]:
    """manifest.json without what :func:`spq.export.directory.seal` adds (docs/formats.md).
    ``verified``: ``{"inputs": N, "bit_exact": True or None, "seed": S}``."""
    layers = zip(ir_full.layers, ir.layers, packed.layers, strict=True)
    return {
        "name": packed.name,
        "format_version": FORMAT_VERSION,
        "generator": f"spq {spq.__version__}",
        "source": {"file": model_path.name, "sha256": sha},
        "input": {"kind": ir.input_kind, "shape": list(packed.input_shape), "dtype": "uint8"},
        "time_steps": int(ir.time_steps),
        "num_classes": int(ir.num_classes),
        "out_scale": float(ir.out_scale),
        "layers": [layer_record(i, *parts) for i, parts in enumerate(layers)],
        "memory": {
            "weights_bytes": packed.weights_bytes,
            "const_bytes": const_bytes(packed),
            **mem,
        },
        "board": board,
        "verified": verified,
    }


def layer_comment(rec: dict[str, Any], pl: PackedLayer) -> list[str]:
    """The comment above a layer's arrays in NAME.c, from its manifest record."""
    shape = f"{tuple(rec['in_shape'])} -> {tuple(rec['out_shape'])}"
    lines = [f"layer {rec['index']}: {rec['type']} '{rec['name']}', {shape}"]
    t = rec["type"]
    if t == "conv":
        lines.append(f"kernel {pl.kernel}, stride {pl.stride}, padding {pl.padding}")
    elif t in ("maxpool", "sumpool"):
        lines.append(f"window {pl.kernel} x {pl.kernel}, stride {pl.kernel}")
    if pl.weights is not None:
        lines.append(
            f"{rec['weight_bits']}-bit weights: {rec['params']} values, "
            f"{rec['weight_bytes']} bytes ({pl.weight_row_bytes} per row of {pl.out_c}); "
            f"int{rec['acc_bits']} accumulator; input {rec['in_kind']} (max {rec['max_in']})"
        )
    if rec["levels"] is not None:
        lines.append(
            f"neuron: {rec['levels']} membrane levels [{rec['lo']}, {rec['hi']}], "
            f"{rec['reset']} reset, leak {rec['leak']}/65536"
        )
        if rec["pruned"]:
            lines.append(f"pruned {rec['pruned']} channels, kept {len(rec['kept_channels'])}")
    if t == "readout":
        lines.append("readout: logits += acc each step, + T * bias at the end")
    elif t == "spike_readout":
        lines.append("spike-count readout: logits += output spikes each step")
    return lines


def render_files(manifest: dict[str, Any], packed: PackedModel) -> tuple[str, str]:
    """The text of NAME.h and NAME.c, their comments and macros taken from ``manifest``."""
    name = packed.name
    src, mem = manifest["source"], manifest["memory"]
    banner = [
        f"{name}: generated by {manifest['generator']} (spq-export). Do not edit.",
        f"Model: {src['file']}",
        f"sha256: {src['sha256']}",
        f"Input: {manifest['input']['kind']} uint8 {tuple(manifest['input']['shape'])}, "
        f"{manifest['time_steps']} time steps, {manifest['num_classes']} classes.",
        f"Weights {mem['weights_bytes']} bytes; arena {mem['arena_bytes']} bytes "
        f"({mem['schedule']}-major).",
        "Float logits = integer logits * out_scale = "
        f"{manifest['out_scale']!r} (see manifest.json).",
    ]
    spec = InputSpec(packed.input_kind, (packed.in_c, packed.in_h, packed.in_w),
                     packed.time_steps)
    defines = [(f"{name}_{suffix}", str(value), comment) for suffix, value, comment in
               header_defines(spec, packed.num_classes, len(packed.layers), mem)]
    comments = [layer_comment(rec, pl) for rec, pl in
                zip(manifest["layers"], packed.layers, strict=True)]
    return render_c(packed, comments, banner, defines)
