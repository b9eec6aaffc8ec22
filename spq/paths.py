# SPDX-License-Identifier: MIT
"""Where the C sources live (a source checkout keeps them beside the package)."""

from __future__ import annotations

from pathlib import Path

from spq.errors import SpqError

_ROOT = Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """Return the top-level folder `name` (runtime_c, firmware) of the spq source tree."""
    path = _ROOT / name
    if not path.is_dir():
        raise SpqError(f"cannot find the spq {name}/ sources at {path} "
                       "(install spq from a source checkout: pip install -e .)")
    return path


def runtime_dir() -> Path:
    return project_dir("runtime_c")


def firmware_dir() -> Path:
    return project_dir("firmware")
