# SPDX-License-Identifier: MIT
"""spq: SpQuant-SNN from PyTorch training to bit-exact integer inference on Cortex-M."""

from __future__ import annotations

from typing import Any

from spq.errors import SpqError, SpqFormatError

__version__ = "0.1.0"
__all__ = ["SpqError", "SpqFormatError", "__version__", "load", "save"]


def __getattr__(name: str) -> Any:
    # torch-dependent parts load on first use so that `import spq` stays light.
    if name in ("save", "load"):
        from spq import checkpoint

        return getattr(checkpoint, name)
    if name == "nn":
        import importlib

        return importlib.import_module("spq.nn")
    raise AttributeError(f"module 'spq' has no attribute {name!r}")
