# SPDX-License-Identifier: MIT
"""Writing a file in one step: a reader sees the old file or the new one, never half of it,
and a failed write leaves the old file as it was."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from spq.errors import SpqError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary name beside ``path`` for the caller to write: when the block ends
    without an error it replaces ``path`` (``os.replace``, atomic on one file system), else
    it is removed. The file is created by the caller, so the umask applies as usual."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def file_head(path: str | os.PathLike[str], n: int, what: str,
              error: type[SpqError] = SpqError) -> bytes:
    """The first ``n`` bytes of ``path``, a file that should hold ``what`` ("a checkpoint");
    a missing path, a directory or an unreadable file is one ``error`` that names it."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if path.is_dir():
        raise error(f"{path}: is a directory, not {what}")
    try:
        with path.open("rb") as f:
            return f.read(n)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
