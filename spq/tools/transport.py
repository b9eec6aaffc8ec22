# SPDX-License-Identifier: MIT
"""One byte transport on pyserial for every target: `socket://127.0.0.1:PORT` for QEMU,
`/dev/ttyACM0` (or any pyserial URL) for a real board."""

from __future__ import annotations

import collections
import contextlib
import time

import serial

from spq.errors import SpqError


class TransportError(SpqError):
    """The port failed (closed by the other side, unplugged, ...)."""


class SerialTransport:
    """A pyserial port with deadline-based reads and a record of the last bytes seen."""

    def __init__(self, url: str, baudrate: int = 115200, tail_bytes: int = 256) -> None:
        self.url = url
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SpqError(f"cannot open serial port {url}: {exc}") from None
        self._tail: collections.deque[int] = collections.deque(maxlen=tail_bytes)

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self.url} failed: {exc}") from None

    def read(self, n: int, deadline: float) -> bytes:
        """Up to n bytes, waiting until `deadline` (time.monotonic()) for at least one.
        Returns b"" on timeout."""
        while True:
            try:
                data = self.port.read(n)
            except (serial.SerialException, OSError) as exc:
                raise TransportError(f"read from {self.url} failed: {exc}") from None
            if data:
                self._tail.extend(data)
                return bytes(data)
            if time.monotonic() >= deadline:
                return b""

    def drain(self, quiet: float = 0.1, limit: float = 2.0) -> bytes:
        """Read and drop whatever arrives until the line is quiet for `quiet` seconds."""
        out = bytearray()
        end = time.monotonic() + limit
        while time.monotonic() < end:
            chunk = self.read(4096, time.monotonic() + quiet)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def last_bytes(self) -> bytes:
        """The last bytes received (for error messages)."""
        return bytes(self._tail)

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()
