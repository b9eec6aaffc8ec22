# SPDX-License-Identifier: MIT
"""Safe checkpoints: ``spq.save(net, path)`` / ``spq.load(path)``.

A checkpoint is a ``torch.save`` of a plain dict::

    {"spq_checkpoint": "spq.nn.Sequential",   # marker
     "format_version": 1,                      # int, refused if newer than this spq
     "spec": "<JSON architecture spec>",       # spq.nn.build(spec) rebuilds the module
     "state_dict": {name: tensor, ...}}

It loads with ``torch.load(path, weights_only=True)``: a pickle that carries code is refused,
never run. :func:`load` turns every problem into one :class:`spq.SpqFormatError`.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from spq.errors import SpqError, SpqFormatError
from spq.files import atomic_path, file_head

FORMAT_VERSION = 1
MARKER_KEY = "spq_checkpoint"
MARKER = "spq.nn.Sequential"


def save(net: Any, path: str | os.PathLike[str]) -> None:
    """Write ``net`` (a :class:`spq.nn.Sequential`) to ``path`` atomically."""
    from spq.nn.sequential import Sequential

    if not isinstance(net, Sequential):
        raise SpqError(f"spq.save needs an spq.nn.Sequential, got {type(net).__name__}")
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    payload = {
        MARKER_KEY: MARKER,
        "format_version": FORMAT_VERSION,
        "spec": json.dumps(net.spec(), sort_keys=True),
        "state_dict": state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read(path: Path) -> Any:
    head = file_head(path, 4, "a checkpoint", SpqFormatError)
    if not head:
        raise SpqFormatError(f"{path}: empty file, not a checkpoint")
    is_zip = head == b"PK\x03\x04"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        looks_pickled = head[:1] in (b"\x80", b"c", b"(", b"}", b"]")
        if "Unsupported operand" in text and not looks_pickled:  # no pickle at all
            raise SpqFormatError(f"{path}: not a torch checkpoint file") from None
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise SpqFormatError(
                f"{path}: refused: the file holds pickled code or objects other than tensors "
                "(not written by spq.save; nothing in it was run)"
            ) from None
        raise SpqFormatError(f"{path}: not an spq checkpoint (unreadable pickle)") from None
    except Exception as exc:  # every other loader failure is a bad file too
        if is_zip and not zipfile.is_zipfile(path):
            raise SpqFormatError(f"{path}: truncated or corrupt checkpoint") from None
        if is_zip:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SpqFormatError(f"{path}: corrupt checkpoint ({text})") from None
        raise SpqFormatError(f"{path}: not a torch checkpoint file") from None


def load(path: str | os.PathLike[str]) -> Any:
    """Load a checkpoint written by :func:`save`; returns a ``Sequential`` in eval mode."""
    path = Path(path)
    obj = _read(path)
    if not isinstance(obj, dict) or obj.get(MARKER_KEY) != MARKER:
        raise SpqFormatError(f"{path}: a torch file, but not an spq checkpoint (no spq marker)")
    version = obj.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpqFormatError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise SpqFormatError(
            f"{path}: checkpoint format_version {version} is newer than this spq supports "
            f"({FORMAT_VERSION}); upgrade spq"
        )
    if version < 1:
        raise SpqFormatError(f"{path}: bad format_version {version}")
    spec = obj.get("spec")
    state = obj.get("state_dict")
    if not isinstance(spec, str) or not isinstance(state, dict):
        raise SpqFormatError(f"{path}: checkpoint lacks its spec or state_dict")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise SpqFormatError(f"{path}: state_dict holds something other than tensors")
    # The spec is checked against the tensors on the meta device (no memory) first, so that
    # a spec that declares a huge layer is refused before anything of its size is allocated.
    with torch.device("meta"):
        skeleton = _build(path, spec)
    _check_tensors(path, skeleton.state_dict(), state)
    net = _build(path, spec)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise SpqFormatError(
            f"{path}: parameters do not match the architecture: {detail}"
        ) from None
    for name, t in net.named_buffers():
        if name.endswith("out_mask") and not bool(((t == 0) | (t == 1)).all()):
            raise SpqFormatError(f"{path}: {name} must hold only 0 and 1")
    _check_batchnorm(path, net)
    net.eval()
    return net


def _build(path: Path, spec: str) -> Any:
    from spq.nn.spec import build

    try:
        return build(spec)
    except SpqError as exc:
        raise SpqFormatError(f"{path}: {exc}") from None
    except Exception as exc:  # a spec that the layers reject in some other way
        raise SpqFormatError(f"{path}: bad architecture spec ({exc})") from None


def _check_tensors(path: Path, want: dict[str, torch.Tensor],
                   state: dict[str, torch.Tensor]) -> None:
    """Every tensor of the architecture present, of its shape and a real dtype, none more."""
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
        raise SpqFormatError(f"{path}: parameters do not match the architecture: "
                             + "; ".join(parts))
    for key, w in want.items():
        t = state[key]
        if t.is_complex():
            raise SpqFormatError(f"{path}: tensor {key} is complex ({t.dtype}); spq takes "
                                 "real tensors only")
        if w.is_floating_point() and not t.is_floating_point():
            raise SpqFormatError(f"{path}: tensor {key} has dtype {t.dtype}, expected a "
                                 "floating-point tensor")
        if tuple(t.shape) != tuple(w.shape):
            raise SpqFormatError(
                f"{path}: tensor {key} has shape {tuple(t.shape)}, but the architecture spec "
                f"declares {tuple(w.shape)}: spec and weights do not match"
            )


def _check_batchnorm(path: Path, net: Any) -> None:
    """BatchNorm statistics a variance can have: running_var >= 0 and var + eps > 0."""
    for name, m in net.named_modules():
        if not isinstance(m, torch.nn.modules.batchnorm._BatchNorm) or m.running_var is None:
            continue
        var = m.running_var.detach().double()
        for bad, what in ((var < 0, "is negative"),
                          (var + m.eps <= 0, f"and eps {m.eps:g} add up to <= 0")):
            if bool(bad.any()):
                i = int(torch.nonzero(bad)[0, 0])
                raise SpqFormatError(
                    f"{path}: layer {name} ({type(m).__name__}): running_var[{i}] = "
                    f"{float(var[i]):g} {what}; not a valid variance"
                )


def check_finite(net: Any) -> None:
    """Raise SpqError naming the first parameter or buffer that holds NaN or inf."""
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        if torch.is_floating_point(t) and not bool(torch.isfinite(t).all()):
            raise SpqError(f"parameter {name} contains NaN or inf")
    for m in getattr(net, "neurons", []):
        if not math.isfinite(m.beta):
            raise SpqError("a neuron has a non-finite beta")
