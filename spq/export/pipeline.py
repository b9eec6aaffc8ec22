# SPDX-License-Identifier: MIT
"""``spq-export``: checkpoint -> IR -> pruned, packed integer C + manifest, verified.

:func:`export` does everything in memory first (load, fold, prune, pack, plan memory, check
the board, verify against eval-mode spq.nn, render) and only then writes its four files into
``OUT`` (:mod:`spq.export.directory`: temporary names, renamed into place at the end), so a
failure at any step leaves ``OUT`` as it was, and nothing in ``OUT`` but an earlier export's
own files is ever replaced.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import spq
from spq.errors import SpqError, SpqFormatError
from spq.export.checks import check_ir
from spq.export.directory import MANIFEST, plan_write, seal, sha256_file, write_export
from spq.export.packing import PackedModel, pack_model
from spq.export.prune import remove_pruned
from spq.export.reference import ReferenceResult, reach
from spq.export.reference import run as reference_run
from spq.export.render import check_name, default_name, render_c
from spq.ir import FORMAT_VERSION, LayerIR, ModelIR, align4

SCHEDULE_CHOICES = ("auto", "time", "layer")
DEFAULT_VERIFY = 16
DEFAULT_SEED = 0
# Rough flash of the code that runs a model: the runtime's kernels plus a minimal harness
# (docs/formats.md, "Board check"). The constant tables are counted exactly on top of it.
CODE_BYTES_ESTIMATE = 40 * 1024
# RAM kept free for the stack when the board table gives none.
STACK_RESERVE = 4 * 1024
# sizeof(spq_layer_t) and sizeof(spq_model_t) on a 32-bit target
LAYER_DESC_BYTES = 68
MODEL_DESC_BYTES = 32
VERIFY_CHUNK = 4

Progress = Callable[[int, int], None]


@dataclass
class ExportResult:
    out_dir: Path
    name: str
    manifest: dict[str, Any]
    ir: ModelIR  # pruned
    packed: PackedModel
    board: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what happened to an earlier export's files


# ---------------------------------------------------------------- small helpers


def load_model(path: Path) -> Any:
    """spq.load with every failure turned into one SpqError line."""
    if not path.exists():
        raise SpqError(f"model file not found: {path}")
    if not path.is_file():
        raise SpqError(f"model path is not a file: {path}")
    try:
        net = spq.load(path)
    except SpqError:
        raise
    except Exception as exc:  # torch raises many types for a corrupt or hostile file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpqFormatError(f"{path} is not a readable spq checkpoint ({first[:200]})") from None
    try:
        check_finite(net)
    except SpqError as exc:
        raise SpqError(f"{path}: {exc}") from None
    return net


def check_finite(net: Any) -> None:
    """Refuse NaN or inf in any parameter or buffer."""
    import torch

    for key, tensor in net.state_dict().items():
        floating = torch.is_tensor(tensor) and tensor.is_floating_point()
        if floating and not bool(torch.isfinite(tensor).all()):
            raise SpqError(f"tensor {key!r} holds NaN or inf")
    from spq import checkpoint

    if hasattr(checkpoint, "check_finite"):  # also the neurons' constants (beta)
        checkpoint.check_finite(net)


def fold_model(net: Any) -> ModelIR:
    from spq.nn import fold

    try:
        return fold(net)
    except SpqError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AssertionError, RuntimeError) as exc:
        raise SpqError(f"cannot fold the model into integers: {exc}") from None


def sample_inputs(ir: ModelIR, n: int, seed: int) -> np.ndarray:
    """``n`` seeded random inputs in spq_run's format (uint8)."""
    rng = np.random.default_rng(seed)
    c, h, w = (int(d) for d in ir.input_shape)
    if ir.input_kind == "static":
        return rng.integers(0, 256, size=(n, c, h, w), dtype=np.uint8)
    density = rng.uniform(0.05, 0.5, size=(n, 1, 1, 1, 1))
    return (rng.random((n, ir.time_steps, c, h, w)) < density).astype(np.uint8)


def _memory_module() -> Any:
    try:
        from spq.export import memory
    except ImportError as exc:  # pragma: no cover - only while the planner is missing
        raise SpqError(f"the memory planner (spq.export.memory) is not available: {exc}") from None
    return memory


def plan_memory(ir: ModelIR, schedule: str) -> dict[str, Any]:
    if schedule not in SCHEDULE_CHOICES:
        raise SpqError(f"--schedule {schedule!r} is not one of auto, time, layer")
    memory = _memory_module()
    by = {s: int(memory.arena_bytes(ir, s)) for s in ("time", "layer")}
    chosen = schedule if schedule != "auto" else min(("time", "layer"), key=lambda s: by[s])
    return {
        "arena_bytes": by[chosen],
        "membrane_bytes": int(memory.membrane_bytes(ir)),
        "schedule": chosen,
        "arena_bytes_time": by["time"],
        "arena_bytes_layer": by["layer"],
    }


def const_bytes(packed: PackedModel) -> int:
    """Flash of the generated tables (weights, per-channel constants, descriptors, name).

    An upper bound on their ``.rodata`` for a 32-bit Arm target: each array and the name
    string are rounded up to 4 bytes (the alignment padding the linker may insert)."""
    total = MODEL_DESC_BYTES + LAYER_DESC_BYTES * len(packed.layers)
    total += align4(len(packed.name) + 1)
    for la in packed.layers:
        for arr in (la.weights, la.mult, la.shift, la.bias):
            if arr is not None:
                total += align4(int(arr.nbytes))
    return total


def check_board(board_name: str, packed: PackedModel, arena: int) -> dict[str, Any]:
    """Flash and RAM budget of ``packed`` on ``board_name``; refuse a model that cannot fit."""
    from spq.tools.boards import get_board

    board = get_board(board_name)
    flash_total = int(getattr(board, "flash_bytes", 0) or board.flash_size)
    ram_total = int(getattr(board, "ram_bytes", 0) or board.ram_size)
    stack = int(getattr(board, "stack_size", 0) or STACK_RESERVE)
    flash = const_bytes(packed) + CODE_BYTES_ESTIMATE
    ram = arena + packed.input_bytes + stack
    info = {
        "name": board_name, "flash_bytes": flash_total, "ram_bytes": ram_total,
        "flash_needed": flash, "ram_needed": ram, "code_estimate": CODE_BYTES_ESTIMATE,
        "stack_reserve": stack,
    }
    problems = []
    if flash > flash_total:
        problems.append(
            f"flash: needs {flash} bytes (tables {flash - CODE_BYTES_ESTIMATE} + code estimate "
            f"{CODE_BYTES_ESTIMATE}), has {flash_total}: {flash - flash_total} bytes over"
        )
    if ram > ram_total:
        problems.append(
            f"RAM: needs {ram} bytes (arena {arena} + input {packed.input_bytes} + stack "
            f"{stack}), has {ram_total}: {ram - ram_total} bytes over"
        )
    if problems:
        raise SpqError(f"the model does not fit {board_name}: " + "; ".join(problems))
    return info


# ---------------------------------------------------------------- verification


def _nn_run(net: Any, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Eval-mode spq.nn on a uint8 batch: (logits_int, spike trains per neuron layer)."""
    import torch

    try:
        with torch.no_grad():
            out = net.run_int(torch.from_numpy(np.ascontiguousarray(x)))
    except SpqError:
        raise
    except Exception as exc:  # a bug in spq.nn: report it without a traceback
        raise SpqError(
            f"eval-mode spq.nn failed on the verification inputs: {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(out, dict):
        logits, spikes = out["logits_int"], out["spikes"]
    elif hasattr(out, "logits_int"):
        logits, spikes = out.logits_int, out.spikes
    else:
        logits, spikes = out[0], out[1]

    def arr(t: Any) -> np.ndarray:
        return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)

    return arr(logits).astype(np.int64), [arr(s) for s in spikes]


def compare(ir: ModelIR, ref: ReferenceResult, logits: np.ndarray,
            spikes: list[np.ndarray], offset: int = 0) -> str | None:
    """None if identical, else a message naming the first differing layer and time step."""
    neuron_layers = [(i, la) for i, la in enumerate(ir.layers) if la.neuron is not None]
    if len(spikes) != len(neuron_layers):
        return f"spq.nn reports {len(spikes)} spiking layers, the export has {len(neuron_layers)}"
    first: tuple[int, int, int, str] | None = None  # (step, layer, sample, what)
    for (i, la), got_nn, got_ref in zip(neuron_layers, spikes, ref.spikes, strict=True):
        kept = la.kept_channels if la.kept_channels is not None else list(range(la.out_shape[0]))
        n, T = got_ref.shape[:2]
        full_c = got_nn.shape[2] if got_nn.ndim >= 3 else -1
        if got_nn.shape[:2] != (n, T) or got_nn.shape[3:] != got_ref.shape[3:]:
            return (f"layer {i} ({la.name}): spq.nn spike shape {tuple(got_nn.shape)} does "
                    f"not match the export's {tuple(got_ref.shape)}")
        full = np.zeros((n, T, full_c, *got_ref.shape[3:]), dtype=np.uint8)
        full[:, :, kept] = got_ref
        diff = (full != (got_nn != 0)).reshape(n, T, -1).any(axis=2)  # (n, T)
        if diff.any():
            samples, steps = np.nonzero(diff)
            k = int(np.argmin(steps))
            cand = (int(steps[k]), i, int(samples[k]), la.name)
            if first is None or cand[:2] < first[:2]:
                first = cand
    if first is not None:
        t, i, s, lname = first
        return (f"spikes differ first at layer {i} ({lname}), time step {t}, "
                f"sample {s + offset}")
    if logits.shape != ref.logits_int.shape or not np.array_equal(logits, ref.logits_int):
        bad = np.nonzero((logits != ref.logits_int).any(axis=1))[0] if (
            logits.shape == ref.logits_int.shape) else np.array([0])
        return f"integer logits differ (readout layer {len(ir.layers) - 1}), sample " \
               f"{int(bad[0]) + offset}"
    return None


def verify(net: Any, ir: ModelIR, packed: PackedModel, inputs: np.ndarray,
           progress: Progress | None = None) -> ReferenceResult:
    """Run reference and spq.nn on ``inputs``; raise SpqError on the first difference."""
    n = inputs.shape[0]
    parts: list[ReferenceResult] = []
    if progress:
        progress(0, n)
    for start in range(0, n, VERIFY_CHUNK):
        x = inputs[start:start + VERIFY_CHUNK]
        ref = reference_run(packed, x)
        logits, spikes = _nn_run(net, x)
        msg = compare(ir, ref, logits, spikes, offset=start)
        if msg is not None:
            raise SpqError(f"verification failed: the exported integers differ from spq.nn: {msg}")
        parts.append(ref)
        if progress:
            progress(min(start + VERIFY_CHUNK, n), n)
    if not parts:
        return reference_run(packed, inputs)
    return ReferenceResult(
        logits_int=np.concatenate([p.logits_int for p in parts]),
        spikes=[np.concatenate(s) for s in zip(*(p.spikes for p in parts), strict=True)],
        spike_counts=np.concatenate([p.spike_counts for p in parts]),
        synops=np.concatenate([p.synops for p in parts]),
    )


# ---------------------------------------------------------------- reporting


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


def layer_records(ir_full: ModelIR, ir: ModelIR, packed: PackedModel) -> list[dict[str, Any]]:
    records = []
    for i, (full, la, pl) in enumerate(zip(ir_full.layers, ir.layers, packed.layers,
                                           strict=True)):
        n = la.neuron
        rec: dict[str, Any] = {
            "name": la.name,
            "type": la.type,
            "in_shape": [int(d) for d in la.in_shape],
            "out_shape": [int(d) for d in la.out_shape],
            "in_kind": la.in_kind,
            "max_in": int(la.max_in),
            "weight_bits": int(la.weight_bits) if la.weight is not None else None,
            "levels": int(n.levels) if n else None,
            "lo": int(n.lo) if n else None,
            "hi": int(n.hi) if n else None,
            "reset": n.reset if n else None,
            "leak": int(n.leak) if n else None,
            "acc_bits": int(la.acc_bits) if la.weight is not None else None,
            "kernel": int(la.kernel) if la.type == "conv" else (la.pool or None),
            "stride": int(la.stride) if la.type == "conv" else (la.pool or None),
            "padding": int(la.padding) if la.type == "conv" else None,
            "params": int(la.weight.size) if la.weight is not None else 0,
            "weight_bytes": int(pl.weights.size) if pl.weights is not None else 0,
            "synops_per_spike": synops_per_spike(la),
            "kept_channels": list(la.kept_channels) if la.kept_channels is not None else None,
            "pruned": (int(full.out_shape[0]) - int(la.out_shape[0])) if n else 0,
            "index": i,
        }
        records.append(rec)
    return records


def build_manifest(ir_full: ModelIR, ir: ModelIR, packed: PackedModel, model_path: Path,
                   sha: str, mem: dict[str, Any], n_verified: int,
                   bit_exact: bool | None, board: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": packed.name,
        "format_version": FORMAT_VERSION,
        "generator": f"spq {spq.__version__}",
        "source": {"file": model_path.name, "sha256": sha},
        "input": {"kind": ir.input_kind, "shape": list(packed.input_shape), "dtype": "uint8"},
        "time_steps": int(ir.time_steps),
        "num_classes": int(ir.num_classes),
        "out_scale": float(ir.out_scale),
        "layers": layer_records(ir_full, ir, packed),
        "memory": {
            "weights_bytes": packed.weights_bytes,
            "const_bytes": const_bytes(packed),
            **mem,
        },
        "board": board,
        "verified": {"inputs": int(n_verified), "bit_exact": bit_exact},
    }


def _layer_comment(rec: dict[str, Any], pl: Any) -> list[str]:
    shape = f"{tuple(rec['in_shape'])} -> {tuple(rec['out_shape'])}"
    head = f"layer {rec['index']}: {rec['type']} '{rec['name']}', {shape}"
    lines = [head]
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
    name = packed.name
    src = manifest["source"]
    banner = [
        f"{name}: generated by {manifest['generator']} (spq-export). Do not edit.",
        f"Model: {src['file']}",
        f"sha256: {src['sha256']}",
        f"Input: {manifest['input']['kind']} uint8 {tuple(manifest['input']['shape'])}, "
        f"{manifest['time_steps']} time steps, {manifest['num_classes']} classes.",
        f"Weights {manifest['memory']['weights_bytes']} bytes; arena "
        f"{manifest['memory']['arena_bytes']} bytes ({manifest['memory']['schedule']}-major).",
        "Float logits = integer logits * out_scale = "
        f"{manifest['out_scale']!r} (see manifest.json).",
    ]
    kinds = {"static": "0 /* SPQ_INPUT_STATIC */", "events": "1 /* SPQ_INPUT_EVENTS */"}
    mem = manifest["memory"]
    defines = [
        (f"{name}_ARENA_SIZE", str(packed.arena_bytes),
         f"Arena bytes for the default ({mem['schedule']}-major) schedule"),
        (f"{name}_ARENA_SIZE_TIME", str(mem["arena_bytes_time"]),
         "Arena bytes for the time-major schedule"),
        (f"{name}_ARENA_SIZE_LAYER", str(mem["arena_bytes_layer"]),
         "Arena bytes for the layer-major schedule"),
        (f"{name}_TIME_STEPS", str(packed.time_steps), "Time steps per inference"),
        (f"{name}_NUM_CLASSES", str(packed.num_classes), "Integer logits spq_run writes"),
        (f"{name}_INPUT_C", str(packed.in_c), "Input channels"),
        (f"{name}_INPUT_H", str(packed.in_h), "Input height"),
        (f"{name}_INPUT_W", str(packed.in_w), "Input width"),
        (f"{name}_INPUT_BYTES", str(packed.input_bytes),
         "Bytes spq_run reads: C*H*W pixels (static) or T*C*H*W 0/1 bytes (events)"),
        (f"{name}_INPUT_KIND", kinds[packed.input_kind], "::spq_input_kind_t of the input"),
        (f"{name}_NUM_LAYERS", str(len(packed.layers)), "Entries in the layer table"),
        (f"{name}_WEIGHTS_BYTES", str(packed.weights_bytes), "Packed weight bytes (flash)"),
    ]
    comments = [_layer_comment(rec, pl) for rec, pl in
                zip(manifest["layers"], packed.layers, strict=True)]
    return render_c(packed, comments, banner, defines)


# ---------------------------------------------------------------- writing


def samples_bytes(packed: PackedModel, inputs: np.ndarray, ref: ReferenceResult) -> bytes:
    synapses = [i for i, la in enumerate(packed.layers) if la.weights is not None]
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        inputs=inputs.astype(np.uint8),
        logits_int=ref.logits_int.astype(np.int64),
        spike_counts=ref.spike_counts.astype(np.int64),
        synops=ref.synops[:, synapses].astype(np.int64),
    )
    return buf.getvalue()


# ---------------------------------------------------------------- the command


def prepare(ir_full: ModelIR, name: str) -> ModelIR:
    """Check the folded IR, drop pruned channels, check again."""
    check_ir(ir_full)
    ir = remove_pruned(ir_full)
    ir.name = name
    check_ir(ir)
    return ir


def export(
    model_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    name: str | None = None,
    board: str | None = None,
    schedule: str = "auto",
    verify_n: int = DEFAULT_VERIFY,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``model_path`` to ``out_dir`` (see the module docstring and docs/formats.md)."""
    path = Path(model_path)
    out = Path(out_dir)
    if verify_n < 0:
        raise SpqError("--verify must be 0 or more")
    if schedule not in SCHEDULE_CHOICES:
        raise SpqError(f"--schedule {schedule!r} is not one of auto, time, layer")
    cname = check_name(name) if name is not None else default_name(path)
    plan_write(out, cname, keep=[path])  # fail before the slow part; checked again to write

    net = load_model(path)
    sha = sha256_file(path)
    with contextlib.suppress(AttributeError):
        net.eval()
    ir_full = fold_model(net)
    ir = prepare(ir_full, cname)
    mem = plan_memory(ir, schedule)
    packed = pack_model(ir, mem["schedule"], mem["arena_bytes"])
    board_info = check_board(board, packed, mem["arena_bytes"]) if board else None

    inputs = sample_inputs(ir, verify_n, seed)
    ref = verify(net, ir, packed, inputs, progress) if verify_n else reference_run(packed, inputs)
    manifest = build_manifest(ir_full, ir, packed, path, sha, mem, verify_n,
                              True if verify_n else None, board_info)
    manifest["verified"]["seed"] = seed
    header, source = render_files(manifest, packed)
    files = {
        f"{cname}.h": header.encode(),
        f"{cname}.c": source.encode(),
        "samples.npz": samples_bytes(packed, inputs, ref),
    }
    manifest = seal(manifest, files)
    files[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode()
    report = write_export(out, cname, files, keep=[path])
    return ExportResult(out_dir=out, name=cname, manifest=manifest, ir=ir, packed=packed,
                        board=board_info, files=report.written, notes=report.notes)


__all__ = [
    "CODE_BYTES_ESTIMATE",
    "ExportResult",
    "check_board",
    "compare",
    "export",
    "plan_memory",
    "prepare",
    "sample_inputs",
    "verify",
]
