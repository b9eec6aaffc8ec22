# SPDX-License-Identifier: MIT
"""Render a :class:`~spq.export.packing.PackedModel` as ``NAME.h`` / ``NAME.c``.

Python computes and formats every number here; the jinja2 templates in ``templates/`` only
lay the strings out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from spq.errors import SpqError
from spq.export import tables
from spq.export.packing import (
    IN_KINDS,
    INPUT_KINDS,
    LAYER_TYPES,
    RESETS,
    SCHEDULES,
    PackedLayer,
    PackedModel,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"

_KW = """auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch
    typedef union unsigned void volatile while _Bool _Complex _Imaginary"""
C_KEYWORDS = frozenset(_KW.split())
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_NAME = 48


def check_name(name: str) -> str:
    """Return ``name`` if it can prefix the generated C symbols, else raise SpqError."""
    if not _IDENT.match(name):
        raise SpqError(
            f"--name {name!r} is not a C identifier (letters, digits, _; no digit first)"
        )
    if name in C_KEYWORDS:
        raise SpqError(f"--name {name!r} is a C keyword")
    if name.startswith("_") or name.lower().startswith("spq_"):
        raise SpqError(f"--name {name!r}: names starting with '_' or 'spq_' are reserved")
    if len(name) > MAX_NAME:
        raise SpqError(f"--name {name!r} is longer than {MAX_NAME} characters")
    return name


def default_name(model_path: Path) -> str:
    """The model file's stem made into a C identifier (``my-net.v2.pt`` -> ``my_net``)."""
    stem = model_path.name.split(".")[0] if model_path.name else ""
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem).strip("_")
    name = re.sub(r"_+", "_", name)[:MAX_NAME] or "model"
    if name[0].isdigit() or name in C_KEYWORDS or name.lower().startswith("spq_"):
        name = f"model_{name}"[:MAX_NAME]
    return check_name(name)


# where spq_conv_w4.c checks the nibble sums (SPQ_HAVE_MVE or a host build) or may read them
NIBBLE_SUMS_IF = "!defined(__arm__) || defined(__ARM_FEATURE_MVE)"


def c_int_list(values: np.ndarray, per_line: int, fmt: str = "{}") -> list[str]:
    """Lines of comma-separated C integer literals."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = []
    for start in range(0, len(flat), per_line):
        chunk = flat[start:start + per_line]
        lines.append(", ".join(fmt.format(v) for v in chunk) + ",")
    return lines


@dataclass
class LayerView:
    """What the templates print for one layer (all strings or plain ints)."""

    index: int
    comment: list[str]
    fields: list[tuple[str, str]]
    # (c type, symbol, length, lines, tail): a tail of `tail_length` values compiled only
    # where `condition` holds, (condition, tail lines, tail length), or None
    arrays: list[tuple[str, str, int, list[str], tuple[str, list[str], int] | None]]


def _sizes(sym: dict[str, str], keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """The descriptor's ``KEY_bytes`` fields: ``sizeof`` each array as compiled, 0 for NULL."""
    return [(f"{key}_bytes", "0" if sym[key] == "NULL" else f"sizeof {sym[key]}") for key in keys]


def _layer_view(name: str, i: int, layer: PackedLayer, comment: list[str]) -> LayerView:
    arrays: list[tuple[str, str, int, list[str], tuple[str, list[str], int] | None]] = []
    sym = {"weights": "NULL", "mult": "NULL", "shift": "NULL", "bias": "NULL",
           "outcome": "NULL", "outcome_base": "NULL", "lut": "NULL",
           "weights_x": "NULL", "breaks": "NULL"}
    if layer.weights is not None:
        s = f"{name}_l{i}_weights"
        arrays.append(("uint8_t", s, int(layer.weights.size),
                       c_int_list(layer.weights, 12, "0x{:02x}"), None))
        sym["weights"] = s
    per_array = (("mult", "int32_t", 6), ("shift", "int8_t", 16), ("bias", "int32_t", 6),
                 ("outcome", "uint8_t", 16), ("outcome_base", "int32_t", 6),
                 ("lut", "uint32_t", 6), ("weights_x", "uint32_t", 6),
                 ("breaks", "int32_t", 6))
    for key, ctype, per in per_array:
        arr = getattr(layer, key)
        if arr is not None:
            s = f"{name}_l{i}_{key}"
            head, tail = int(arr.size), None
            if key == "weights_x" and tables.nibble_sums_apply(layer):
                # the nibble sums only where a kernel reads them (Helium) and on the host,
                # whose spq_init checks them: not 18 KiB of flash on the other cores
                head = layer.in_c * layer.kernel * layer.kernel * layer.out_c // 4
                tail = (NIBBLE_SUMS_IF, c_int_list(arr[head:], per), int(arr.size) - head)
            arrays.append((ctype, s, head, c_int_list(arr[:head], per), tail))
            sym[key] = s
    type_names = {v: k for k, v in LAYER_TYPES.items()}
    enum_type = "SPQ_LAYER_" + type_names[LAYER_TYPES[layer.type]].upper()
    fields = [
        ("type", enum_type),
        ("in_kind", "SPQ_IN_" + layer.in_kind.upper()),
        ("weight_bits", str(layer.weight_bits)),
        ("acc_bits", str(layer.acc_bits)),
        ("in_c", str(layer.in_c)), ("in_h", str(layer.in_h)), ("in_w", str(layer.in_w)),
        ("out_c", str(layer.out_c)), ("out_h", str(layer.out_h)), ("out_w", str(layer.out_w)),
        ("kernel", str(layer.kernel)), ("stride", str(layer.stride)),
        ("padding", str(layer.padding)),
        ("reset", "SPQ_RESET_" + layer.reset.upper()),
        ("max_in", str(layer.max_in)),
        ("weight_row_bytes", str(layer.weight_row_bytes)),
        ("weights", sym["weights"]), ("mult", sym["mult"]), ("shift", sym["shift"]),
        ("bias", sym["bias"]),
        # each array's size as compiled: spq_init checks it against the shapes
        *_sizes(sym, ("weights", "mult", "shift", "bias")),
        ("leak", str(layer.leak)), ("lo", str(layer.lo)), ("hi", str(layer.hi)),
        ("level_bits", str(layer.level_bits)),
        ("reserved", "{0, 0, 0}"),
        ("outcome", sym["outcome"]), ("outcome_base", sym["outcome_base"]),
        ("outcome_bits", str(layer.outcome_bits)),
        ("lut_bits", str(layer.lut_bits)),
        ("reserved2", "{0, 0}"),
        ("lut", sym["lut"]),
        ("weights_x", sym["weights_x"]),
        ("breaks", sym["breaks"]),
        *_sizes(sym, ("outcome", "outcome_base", "lut", "weights_x", "breaks")),
    ]
    assert layer.type in LAYER_TYPES and layer.in_kind in IN_KINDS and layer.reset in RESETS
    return LayerView(index=i, comment=comment, fields=fields, arrays=arrays)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_c(
    model: PackedModel,
    layer_comments: list[list[str]],
    banner: list[str],
    defines: list[tuple[str, str, str]],
) -> tuple[str, str]:
    """Return the text of ``NAME.h`` and ``NAME.c``.

    ``banner``: header comment lines; ``defines``: (macro, value, comment) triples;
    ``layer_comments``: comment lines per layer.
    """
    name = model.name
    layers = [
        _layer_view(name, i, la, layer_comments[i]) for i, la in enumerate(model.layers)
    ]
    model_fields = [
        ("format_version", f"{model.format_version}u"),
        ("name", f'"{name}"'),
        ("input_kind", "SPQ_INPUT_" + model.input_kind.upper()),
        ("schedule", "SPQ_SCHEDULE_" + model.schedule.upper()),
        ("time_steps", str(model.time_steps)),
        ("in_c", str(model.in_c)), ("in_h", str(model.in_h)), ("in_w", str(model.in_w)),
        ("num_classes", str(model.num_classes)),
        ("num_layers", str(len(model.layers))),
        ("layers", f"{name}_layers"),
        ("arena_bytes", f"{model.arena_bytes}u"),
    ]
    assert model.input_kind in INPUT_KINDS and model.schedule in SCHEDULES
    ctx = {
        "name": name,
        "guard": f"SPQ_MODEL_{name.upper()}_H",
        "banner": banner,
        "defines": defines,
        "layers": layers,
        "model_fields": model_fields,
        "format_version": model.format_version,
        "num_layers": len(model.layers),
    }
    env = _env()
    return env.get_template("model.h.j2").render(ctx), env.get_template("model.c.j2").render(ctx)
