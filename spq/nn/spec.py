# SPDX-License-Identifier: MIT
"""Build a :class:`spq.nn.Sequential` from its JSON architecture spec."""

from __future__ import annotations

import json
from typing import Any

from spq.errors import SpqError
from spq.nn.layers import build_layer
from spq.nn.sequential import Sequential


def build(spec: dict[str, Any] | str) -> Sequential:
    """``Sequential`` from ``net.spec()`` (a dict, or its JSON string). Parameters are fresh."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise SpqError(f"architecture spec is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise SpqError("architecture spec must be a JSON object")
    try:
        layer_specs = spec["layers"]
        time_steps = spec["time_steps"]
        input_kind = spec["input_kind"]
        input_shape = spec["input_shape"]
    except KeyError as exc:
        raise SpqError(f"architecture spec lacks {exc}") from None
    if not isinstance(layer_specs, list) or not all(isinstance(s, dict) for s in layer_specs):
        raise SpqError("architecture spec: 'layers' must be a list of objects")
    layers = [build_layer(s) for s in layer_specs]
    try:
        return Sequential(
            *layers, time_steps=time_steps, input_kind=input_kind, input_shape=input_shape
        )
    except (TypeError, ValueError) as exc:
        raise SpqError(f"bad architecture spec: {exc}") from None
