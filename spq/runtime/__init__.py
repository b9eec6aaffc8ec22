# SPDX-License-Identifier: MIT
"""The C runtime on the host: runtime_c + a generated model, compiled and loaded with ctypes."""

from __future__ import annotations

from spq.runtime.build import build_model_library, find_compiler
from spq.runtime.host import HostModel, RunResult, read_manifest

__all__ = ["HostModel", "RunResult", "build_model_library", "find_compiler", "read_manifest"]
