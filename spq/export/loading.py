# SPDX-License-Identifier: MIT
"""What the exporter starts from: a checkpoint loaded and checked (:func:`load_model`), folded
into the integer IR (:func:`fold_model`), its pruned channels removed (:func:`prepare`).

Every failure is one :class:`~spq.errors.SpqError` line; nothing here writes a file.
"""

from __future__ import annotations

from pathlib import Path

import spq
from spq.checkpoint import check_finite
from spq.errors import SpqError, SpqFormatError
from spq.export.checks import check_ir
from spq.export.shrink import remove_pruned
from spq.ir import ModelIR
from spq.nn import Sequential, fold


def load_model(path: Path) -> Sequential:
    """spq.load (eval mode) with every failure, NaN or inf included, as one SpqError line."""
    path = Path(path)
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


def fold_model(net: Sequential) -> ModelIR:
    """:func:`spq.nn.fold`, a failure reported as one line (``cannot fold ...``)."""
    try:
        return fold(net)
    except SpqError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AssertionError, RuntimeError) as exc:
        raise SpqError(f"cannot fold the model into integers: {exc}") from None


def prepare(ir_full: ModelIR, name: str) -> ModelIR:
    """Check the folded IR, drop pruned channels, check again; the result is called ``name``."""
    check_ir(ir_full)
    ir = remove_pruned(ir_full)
    ir.name = name
    check_ir(ir)
    return ir
