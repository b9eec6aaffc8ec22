# SPDX-License-Identifier: MIT
"""Where the C sources live (a source checkout keeps them beside the package)."""

from __future__ import annotations

from pathlib import Path

from spq.errors import SpqError

_ROOT = Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """Return the top-level folder `name` (runtime_c, firmware) of the spq source tree."""
    for base in (_ROOT, Path(__file__).resolve().parent / "_data"):
        path = base / name
        if path.is_dir():
            return path
    raise SpqError(f"cannot find the spq {name}/ sources (install spq from a source checkout)")


def runtime_dir() -> Path:
    return project_dir("runtime_c")


def firmware_dir() -> Path:
    return project_dir("firmware")
