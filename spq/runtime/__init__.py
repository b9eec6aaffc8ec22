# SPDX-License-Identifier: MIT
"""The C runtime on the host: runtime_c + a generated model, compiled and loaded with ctypes."""

from __future__ import annotations

from spq.runtime.host import HostModel, HostResult
from spq.runtime.library import build_model_library, find_compiler

__all__ = ["HostModel", "HostResult", "build_model_library", "find_compiler"]
