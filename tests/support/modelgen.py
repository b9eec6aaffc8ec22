# SPDX-License-Identifier: MIT
"""Test support for the C runtime, independent of spq.nn and the exporter.

* ``random_ir(rng)``: a random integer model (spq.ir.ModelIR) drawn directly in integers,
  covering every layer type, weight width, level count, reset, stride/padding, the
  16/32-bit accumulators, static and event input, and edge cases of the fixed point
  (shift 0, large shifts, saturating currents and biases); ``random_ir_where`` the first
  one a test can use, ``prune_randomly`` with channels pruned the way spq.nn.fold leaves
  them. The one random-model generator of the IR-level tests.
* ``reference(ir, x)``: docs/semantics.md written out again in plain numpy (output-centric
  convolution, Python-int floor division), giving logits, spikes and synops per layer.
* ``write_export(ir, out_dir)``: NAME.c / NAME.h / manifest.json in the layout spq.h and
  docs/formats.md describe, packed here by hand, so the runtime can be tested on its own;
  ``seal(out_dir)`` records the files' sha256 in the manifest again after a test edits one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from spq.export import memory, packing, tables
from spq.ir import FORMAT_VERSION, QMAX, LayerIR, ModelIR, NeuronIR, acc_bits

LEVELS = (2, 3, 5, 16, 17, 256)


# --------------------------------------------------------------------------- generation
def _neuron(rng: np.random.Generator, channels: int, acc_std: float) -> NeuronIR:
    levels = int(rng.choice(LEVELS))
    mult = np.zeros(channels, dtype=np.int32)
    shift = np.zeros(channels, dtype=np.int32)
    for c in range(channels):
        m = int(rng.integers(1 << 29, (1 << 31) - 1)) * (1 if rng.random() < 0.8 else -1)
        # one unit of accumulator ~ 1.5 theta / acc_std
        s = round(math.log2(abs(m) * acc_std / (1.5 * 2**16)))
        r = rng.random()
        if r < 0.05:  # S = 0: I = sat(acc * M)
            s, m = 0, int(rng.integers(-(1 << 14), 1 << 14))
        elif r < 0.08:  # saturating current
            s = max(0, s - 16)
        elif r < 0.10:
            s, m = 62, int(rng.integers(-(2**31) + 1, 2**31 - 1))
        elif r < 0.12:
            m = 0
        shift[c] = min(62, max(0, s))
        mult[c] = m
    bias = rng.normal(0, 0.4 * 2**16, channels).round().astype(np.int64)
    edge = rng.random(channels)
    bias[edge < 0.05] = 1 << 29
    bias[(edge >= 0.05) & (edge < 0.08)] = -(1 << 29)
    leak = int(rng.choice([0, 1 << 15, 1 << 16, int(rng.integers(0, (1 << 16) + 1))]))
    # the threshold level D (hi): 1 as in SpQuant, or a finer membrane (imported networks)
    hi = int(rng.integers(2, levels)) if levels > 2 and rng.random() < 0.3 else 1
    if hi > 1:  # currents in units of theta / D: scale them up so that neurons still fire
        mult = np.clip(mult.astype(np.int64) * hi, -(2**31) + 1, 2**31 - 1).astype(np.int32)
    return NeuronIR(
        mult=mult,
        shift=shift,
        bias=bias.astype(np.int32),
        leak=leak,
        levels=levels,
        lo=hi + 1 - levels,
        hi=hi,
        reset="soft" if rng.random() < 0.4 else "hard",
    )


def _weights(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    q = QMAX[bits]
    w = rng.integers(-q, q + 1, size=shape)
    w[rng.random(shape) < rng.uniform(0.0, 0.6)] = 0
    if shape[0] > 1 and rng.random() < 0.3:  # a pruned (all-zero) output channel
        w[int(rng.integers(0, shape[0]))] = 0
    return w.astype(np.int8)


def random_ir(
    rng: np.random.Generator,
    *,
    input_kind: str | None = None,
    max_conv: int = 3,
    max_linear: int = 2,
    name: str = "m",
) -> ModelIR:
    """A random valid integer model (shapes small enough for fast tests)."""
    kind = input_kind or ("static" if rng.random() < 0.5 else "events")
    shape = (int(rng.integers(1, 4)), int(rng.integers(3, 11)), int(rng.integers(3, 11)))
    T = int(rng.integers(1, 7))
    layers: list[LayerIR] = []
    cur: tuple[int, ...] = shape
    in_kind = "u8" if kind == "static" else "spike"
    max_in = 255 if kind == "static" else 1

    def synapse(typ: str, out_ch: int, **kw: int) -> LayerIR:
        nonlocal cur, in_kind, max_in
        bits = int(rng.choice([2, 4, 8]))
        if typ == "conv":
            k, s, p = kw["k"], kw["s"], kw["p"]
            c, h, w = cur
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            out_shape: tuple[int, ...] = (out_ch, oh, ow)
            weight = _weights(rng, (out_ch, c, k, k), bits)
            fan_in = c * k * k
        else:
            feats = int(np.prod(cur))
            out_shape = (out_ch,)
            weight = _weights(rng, (out_ch, feats), bits)
            fan_in = feats
            k, s, p = 1, 1, 0
        bound = fan_in * QMAX[bits] * max_in
        layer = LayerIR(
            type=typ,  # type: ignore[arg-type]
            name=f"{typ}{len(layers)}",
            in_shape=cur if typ == "conv" else (int(np.prod(cur)),),
            out_shape=out_shape,
            weight=weight,
            weight_bits=bits,
            in_kind=in_kind,  # type: ignore[arg-type]
            max_in=max_in,
            kernel=k,
            stride=s,
            padding=p,
            acc_bits=acc_bits(fan_in, bits, max_in),
        )
        if typ == "readout":
            limit = (2**31 - 1) // T - bound - 1
            layer.readout_bias = rng.integers(-min(limit, 5000), min(limit, 5000) + 1,
                                              size=out_ch).astype(np.int32)
        else:
            std = max(1.0, math.sqrt(fan_in * 0.3) * QMAX[bits] * max_in * 0.5)
            layer.neuron = _neuron(rng, out_ch, std)
        layers.append(layer)
        cur, in_kind, max_in = out_shape, "spike", 1
        return layer

    for _ in range(int(rng.integers(0, max_conv + 1))):
        c, h, w = cur
        k = int(rng.choice([1, 2, 3, 5]))
        s = int(rng.choice([1, 1, 2, 3]))
        p = int(rng.integers(0, k))
        if h + 2 * p < k or w + 2 * p < k:
            break
        synapse("conv", int(rng.integers(1, 9)), k=k, s=s, p=p)
        c, h, w = cur
        if rng.random() < 0.5:
            pk = int(rng.choice([2, 3]))
            if h >= pk and w >= pk:
                typ = "maxpool" if rng.random() < 0.5 else "sumpool"
                out = (c, h // pk, w // pk)
                layers.append(LayerIR(type=typ, name=f"{typ}{len(layers)}",  # type: ignore[arg-type]
                                      in_shape=cur, out_shape=out, pool=pk, kernel=pk,
                                      stride=pk, in_kind="spike"))
                cur = out
                if typ == "sumpool":
                    in_kind, max_in = "count", pk * pk
    for _ in range(int(rng.integers(0, max_linear + 1))):
        if int(np.prod(cur)) > 400:
            break
        synapse("linear", int(rng.integers(1, 40)))
    # the readout: summed accumulators, or the spike counts of a last neuron layer
    synapse("spike_readout" if rng.random() < 0.3 else "readout", int(rng.integers(1, 11)))
    return ModelIR(name=name, input_kind=kind, input_shape=shape,  # type: ignore[arg-type]
                   time_steps=T, num_classes=layers[-1].out_shape[0], out_scale=0.125,
                   layers=layers)


def random_ir_where(rng: np.random.Generator, accept: Callable[[ModelIR], bool],
                    **kwargs: Any) -> ModelIR:
    """The first :func:`random_ir` (``kwargs`` passed on) that ``accept`` takes: a test that
    needs, say, a conv first states it instead of building its own generator."""
    for _ in range(1000):
        ir = random_ir(rng, **kwargs)
        if accept(ir):
            return ir
    raise AssertionError("no random model of the kind asked for in 1000 draws")


def prune_randomly(rng: np.random.Generator, ir: ModelIR) -> ModelIR:
    """Prune random channels of ``ir``'s neuron layers as spq.nn.fold leaves them (zero
    weight rows, ``M = S = B = 0``, the survivors in ``kept_channels``; never all of them,
    never a class of a spike readout); ``ir`` itself is changed and returned."""
    for la in ir.layers:
        if la.neuron is None or la.type == "spike_readout" or rng.random() < 0.3:
            continue
        assert la.weight is not None
        c = la.out_shape[0]
        kept = sorted(rng.choice(c, size=int(rng.integers(1, c + 1)), replace=False).tolist())
        drop = [i for i in range(c) if i not in kept]
        la.weight[drop] = 0
        la.neuron.mult[drop] = 0
        la.neuron.shift[drop] = 0
        la.neuron.bias[drop] = 0
        la.kept_channels = kept
    return ir


def random_input(rng: np.random.Generator, ir: ModelIR, n: int) -> np.ndarray:
    """n inputs: uint8 images (n, C, H, W) or 0/1 events (n, T, C, H, W)."""
    if ir.input_kind == "static":
        x = rng.integers(0, 256, size=(n, *ir.input_shape))
        x[rng.random(x.shape) < 0.3] = 0
        return x.astype(np.uint8)
    p = rng.uniform(0.05, 0.6)
    return (rng.random((n, ir.time_steps, *ir.input_shape)) < p).astype(np.uint8)


# --------------------------------------------------------------------------- reference
def _conv(a: np.ndarray, w: np.ndarray, s: int, p: int) -> tuple[np.ndarray, int]:
    """Output-centric convolution; synops counted per output: (co, oy, ox) pairs times
    non-zero inputs under each tap."""
    n_out, _, k, _ = w.shape
    ap = np.pad(a, ((0, 0), (p, p), (p, p)))
    H = (ap.shape[1] - k) // s + 1
    W = (ap.shape[2] - k) // s + 1
    acc = np.zeros((n_out, H, W), dtype=np.int64)
    nz = 0
    for ky in range(k):
        for kx in range(k):
            win = ap[:, ky : ky + s * (H - 1) + 1 : s, kx : kx + s * (W - 1) + 1 : s]
            acc += np.einsum("oc,chw->ohw", w[:, :, ky, kx].astype(np.int64), win)
            nz += int(np.count_nonzero(win))
    return acc, nz * n_out


def _current(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    out = np.empty(acc.shape, dtype=np.int64)
    lim = 1 << 29
    for c in range(acc.shape[0]):
        m, s = int(mult[c]), int(shift[c])
        vals = []
        for a in acc[c].reshape(-1).tolist():
            P = a * m
            i = P if s == 0 else (P + (1 << (s - 1))) // (1 << s)
            vals.append(max(-lim, min(lim, i)))
        out[c] = np.array(vals, dtype=np.int64).reshape(acc[c].shape)
    return out


def reference(ir: ModelIR, x: np.ndarray) -> dict[str, np.ndarray]:
    """One input (static (C,H,W) uint8 or events (T,C,H,W) 0/1) through docs/semantics.md."""
    T = ir.time_steps
    state: dict[int, np.ndarray] = {}
    cache: dict[int, np.ndarray] = {}
    spikes = np.zeros(len(ir.layers), dtype=np.int64)
    synops = np.zeros(len(ir.layers), dtype=np.int64)
    logits = np.zeros(ir.num_classes, dtype=np.int64)
    for t in range(T):
        a = (x if ir.input_kind == "static" else x[t]).astype(np.int64)
        for i, layer in enumerate(ir.layers):
            if layer.type in ("conv", "linear", "readout", "spike_readout"):
                assert layer.weight is not None
                static_layer = layer.in_kind == "u8"
                if static_layer and t > 0:
                    acc = cache[i]
                else:
                    if layer.type == "conv":
                        acc, ops = _conv(a, layer.weight, layer.stride, layer.padding)
                    else:
                        flat = a.reshape(-1)
                        acc = layer.weight.astype(np.int64) @ flat
                        ops = int(np.count_nonzero(flat)) * layer.weight.shape[0]
                    synops[i] += ops
                    cache[i] = acc
                if layer.type == "readout":
                    assert layer.readout_bias is not None
                    logits += acc + layer.readout_bias.astype(np.int64)
                    continue
                n = layer.neuron
                assert n is not None
                acc3 = acc.reshape(acc.shape[0], -1)
                cur = _current(acc3, n.mult, n.shift).reshape(acc.shape)
                u = state.get(i, np.zeros(acc.shape, dtype=np.int64))
                b = n.bias.astype(np.int64).reshape((-1,) + (1,) * (acc.ndim - 1))
                v = n.leak * u + cur + b
                theta = n.hi * (1 << 16)  # the threshold is the top level
                spk = v >= theta
                v = np.where(spk, 0 if n.reset == "hard" else v - theta, v)
                state[i] = np.clip(np.floor_divide(v + (1 << 15), 1 << 16), n.lo, n.hi)
                spikes[i] += int(spk.sum())
                a = spk.astype(np.int64)
                if layer.type == "spike_readout":
                    logits += a
            elif layer.type in ("maxpool", "sumpool"):
                k = layer.pool
                c, h, w = a.shape
                win = a[:, : h // k * k, : w // k * k].reshape(c, h // k, k, w // k, k)
                a = win.max(axis=(2, 4)) if layer.type == "maxpool" else win.sum(axis=(2, 4))
    return {"logits_int": logits, "spikes": spikes, "synops": synops}


# --------------------------------------------------------------------------- C emission
def pack_rows(rows: np.ndarray, bits: int) -> tuple[list[int], int]:
    """Rows (R, out_c) of ints -> packed bytes (spq.h layout), bytes per row."""
    out_c = rows.shape[1]
    per = 8 // bits
    row_bytes = (out_c * bits + 7) // 8
    data: list[int] = []
    for row in rows.tolist():
        vals = [int(v) & ((1 << bits) - 1) for v in row]
        for j in range(row_bytes):
            byte = 0
            for k in range(per):
                idx = j * per + k
                if idx < out_c:
                    byte |= vals[idx] << (k * bits)
            data.append(byte)
    return data, row_bytes


def _arr(ctype: str, name: str, values: list[int] | list[str]) -> str:
    body = ", ".join(str(v) if v != -(2**31) else "(-2147483647 - 1)" for v in values)
    return f"static const {ctype} {name}[{max(1, len(values))}] = {{{body or '0'}}};\n"


def _sizeof(array: str) -> str:
    """A descriptor's size field for `array`: 0 for NULL (spq.h)."""
    return "0" if array == "NULL" else f"sizeof {array}"


def emit_c(ir: ModelIR, schedule: str = "time") -> str:
    """The generated-model C source for `ir` (test version of what spq-export writes)."""
    name = ir.name
    kinds = {"u8": "SPQ_IN_U8", "spike": "SPQ_IN_SPIKE", "count": "SPQ_IN_COUNT"}
    types = {"conv": "SPQ_LAYER_CONV", "linear": "SPQ_LAYER_LINEAR",
             "maxpool": "SPQ_LAYER_MAXPOOL", "sumpool": "SPQ_LAYER_SUMPOOL",
             "readout": "SPQ_LAYER_READOUT", "spike_readout": "SPQ_LAYER_SPIKE_READOUT"}
    src = [f'#include "spq.h"\n#include "{name}.h"\n\n']
    entries = []
    for i, L in enumerate(ir.layers):
        def shp(s: tuple[int, ...]) -> tuple[int, int, int]:
            return (s[0], s[1], s[2]) if len(s) == 3 else (s[0], 1, 1)
        ic, ih, iw = shp(L.in_shape)
        oc, oh, ow = shp(L.out_shape)
        w = b = m = s = "NULL"
        row_bytes = leak = lo = hi = lbits = reset = 0
        if L.weight is not None:
            if L.type == "conv":
                rows = L.weight.transpose(1, 2, 3, 0).reshape(-1, L.weight.shape[0])
            else:
                rows = L.weight.T
            data, row_bytes = pack_rows(rows, L.weight_bits)
            src.append(_arr("uint8_t", f"{name}_w{i}", data))
            w = f"{name}_w{i}"
        if L.neuron is not None:
            n = L.neuron
            src.append(_arr("int32_t", f"{name}_m{i}", n.mult.tolist()))
            src.append(_arr("int8_t", f"{name}_s{i}", n.shift.tolist()))
            src.append(_arr("int32_t", f"{name}_b{i}", n.bias.tolist()))
            m, s, b = f"{name}_m{i}", f"{name}_s{i}", f"{name}_b{i}"
            leak, lo, hi, lbits = n.leak, n.lo, n.hi, max(1, (n.hi - n.lo).bit_length())
            reset = 1 if n.reset == "soft" else 0
        if L.readout_bias is not None:
            src.append(_arr("int32_t", f"{name}_b{i}", L.readout_bias.tolist()))
            b = f"{name}_b{i}"
        tab = "NULL, NULL, 0, 0, {0, 0}, NULL, NULL, NULL"
        tab_arrays = ["NULL"] * 5  # outcome, outcome_base, lut, weights_x, breaks
        if L.neuron is not None:  # the exporter's kernel tables (spq_init checks them)
            pl = tables.add_tables(packing.pack_layer(L))
            o = ob = lut = "NULL"
            if pl.outcome is not None:
                src.append(_arr("uint8_t", f"{name}_o{i}", pl.outcome.tolist()))
                o = f"{name}_o{i}"
            if pl.outcome_base is not None:
                src.append(_arr("int32_t", f"{name}_ob{i}", pl.outcome_base.tolist()))
                ob = f"{name}_ob{i}"
            if pl.lut is not None:
                src.append(_arr("uint32_t", f"{name}_lut{i}", [f"{v}u" for v in
                                                              pl.lut.tolist()]))
                lut = f"{name}_lut{i}"
            wx = "NULL"
            if pl.weights_x is not None:
                src.append(_arr("uint32_t", f"{name}_wx{i}", [f"{v}u" for v in
                                                             pl.weights_x.tolist()]))
                wx = f"{name}_wx{i}"
            br = "NULL"
            if pl.breaks is not None:
                src.append(_arr("int32_t", f"{name}_br{i}", pl.breaks.tolist()))
                br = f"{name}_br{i}"
            tab = f"{o}, {ob}, {pl.outcome_bits}, {pl.lut_bits}, {{0, 0}}, {lut}, {wx}, {br}"
            tab_arrays = [o, ob, lut, wx, br]
        elif L.type == "readout":  # a summed readout's offset-binary rows (spq_init checks)
            pl = tables.add_tables(packing.pack_layer(L))
            if pl.weights_x is not None:
                src.append(_arr("uint32_t", f"{name}_wx{i}", [f"{v}u" for v in
                                                             pl.weights_x.tolist()]))
                wx = f"{name}_wx{i}"
                tab = f"NULL, NULL, 0, 0, {{0, 0}}, NULL, {wx}, NULL"
                tab_arrays = ["NULL", "NULL", "NULL", wx, "NULL"]
        k = L.pool if L.type in ("maxpool", "sumpool") else L.kernel
        st = L.pool if L.type in ("maxpool", "sumpool") else L.stride
        entries.append(
            f"    {{{types[L.type]}, {kinds[L.in_kind]}, {L.weight_bits}, {L.acc_bits}, "
            f"{ic}, {ih}, {iw}, {oc}, {oh}, {ow}, {k}, {st}, {L.padding}, {reset}, "
            f"{L.max_in}, {row_bytes}, {w}, {m}, {s}, {b}, "
            + ", ".join(_sizeof(a) for a in (w, m, s, b))
            + f", {leak}, {lo}, {hi}, {lbits}, {{0, 0, 0}}, {tab}, "
            + ", ".join(_sizeof(a) for a in tab_arrays) + "},\n"
        )
    src.append(f"static const spq_layer_t {name}_layers[{len(entries)}] = {{\n")
    src.extend(entries)
    src.append("};\n\n")
    c, h, w_ = ir.input_shape
    sched = 0 if schedule == "time" else 1
    kind = 0 if ir.input_kind == "static" else 1
    src.append(
        f"const spq_model_t {name}_model = {{SPQ_FORMAT_VERSION, \"{name}\", {kind}, {sched}, "
        f"{ir.time_steps}, {c}, {h}, {w_}, {ir.num_classes}, {len(entries)}, {name}_layers, "
        f"{memory.arena_bytes(ir, schedule)}u}};\n"
    )
    return "".join(src)


def write_export(ir: ModelIR, out_dir: Path, schedule: str = "time",
                 firmware: bool = False) -> Path:
    """NAME.c, NAME.h and a manifest.json for `ir` in out_dir (the layout HostModel reads);
    with `firmware` NAME.h also has the macros the firmware harness is sized by."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = ir.name
    in_bytes = int(np.prod(ir.input_shape)) * (ir.time_steps if ir.input_kind == "events" else 1)
    (out_dir / f"{name}.c").write_text(emit_c(ir, schedule))
    guard = f"{name.upper()}_H"
    (out_dir / f"{name}.h").write_text(
        f"#ifndef {guard}\n#define {guard}\n#include \"spq.h\"\n"
        f"#define {name.upper()}_ARENA_SIZE {memory.arena_bytes(ir, schedule)}u\n"
        f"#define {name.upper()}_NUM_CLASSES {ir.num_classes}\n"
        + (f"#define {name.upper()}_NUM_LAYERS {len(ir.layers)}\n"
           f"#define {name.upper()}_INPUT_BYTES {in_bytes}u\n" if firmware else "")
        + f"extern const spq_model_t {name}_model;\n#endif\n"
    )
    manifest = {
        "format": "spq-export",
        "manifest_version": 2,
        "name": name,
        "format_version": FORMAT_VERSION,
        "input": {"kind": ir.input_kind, "shape": list(ir.input_shape)},
        "time_steps": ir.time_steps,
        "num_classes": ir.num_classes,
        "out_scale": ir.out_scale,
        "schedule": schedule,
        "layers": [{"name": L.name, "type": L.type,
                    "levels": L.neuron.levels if L.neuron is not None else None,
                    "weight_bits": L.weight_bits if L.weight is not None else None}
                   for L in ir.layers],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return seal(out_dir)


def seal(out_dir: Path) -> Path:
    """Record the sha256 of NAME.h, NAME.c and samples.npz (when there) in out_dir's
    manifest.json and its checksum, as docs/formats.md defines them (written here from the
    document, not with spq.export.directory)."""
    path = out_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    name = manifest["name"]
    files = {}
    for fname in (f"{name}.h", f"{name}.c", "samples.npz"):
        f = out_dir / fname
        files[fname] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else "0" * 64
    manifest["files"] = files
    manifest["checksum"] = manifest_checksum(manifest)
    path.write_text(json.dumps(manifest, indent=2))
    return out_dir


def manifest_checksum(manifest: dict[str, object]) -> str:
    """sha256 of the manifest without "checksum", keys sorted, no spaces (docs/formats.md)."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
