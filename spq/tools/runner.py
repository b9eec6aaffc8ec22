# SPDX-License-Identifier: MIT
"""Runners: one interface to talk to the harness firmware, whether it runs under QEMU or on a
board attached over a serial port.

    with open_runner(board, elf) as runner:
        info = runner.hello()
        result = runner.infer(input_bytes)

`runner.client` is the bare protocol client (its errors carry no board context).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from spq.errors import SpqError
from spq.tools.boards import QEMU_ICOUNT_SHIFT, Board
from spq.tools.protocol import (
    Client,
    DeviceError,
    DeviceInfo,
    DeviceTimeoutError,
    InferResult,
    ProtocolError,
)
from spq.tools.transport import SerialTransport, TransportError

QEMU = "qemu-system-arm"
# lines QEMU always prints that say nothing about a failure
_QEMU_NOISE = ("QEMU waiting for connection", "has no peer")


class Runner(ABC):
    """A started firmware with a protocol client. Use as a context manager."""

    board: Board
    transport: SerialTransport | None = None
    client: Client

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def describe_failure(self) -> str:
        """What was seen last (for error messages)."""
        if self.transport is None:
            return ""
        tail = self.transport.last_bytes()
        return f"last bytes from the device: {tail[-64:].hex(' ') or '(none)'}"

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn timeouts, device errors and transport failures into SpqErrors that name the
        board and say what was seen last."""
        try:
            yield
        except (DeviceTimeoutError, DeviceError, ProtocolError, TransportError) as exc:
            raise SpqError(f"{self.board.name}: {exc}; {self.describe_failure()}") from exc

    def hello(self) -> DeviceInfo:
        with self.guard():
            return self.client.hello()

    def echo(self, data: bytes) -> bytes:
        with self.guard():
            return self.client.echo(data)

    def infer(self, data: bytes) -> InferResult:
        with self.guard():
            return self.client.infer(data)

    def bye(self) -> None:
        with self.guard():
            self.client.bye()

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child die (SIGKILL) when its parent does, on Linux
    (prctl PR_SET_PDEATHSIG; None elsewhere). A killed `spq qemu` then never leaves QEMU
    spinning at full CPU. The signal follows the parent *thread* that started the child:
    start and stop a runner on the same thread."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 2 s; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=2.0)


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, without connecting (a connection to
    QEMU's gdbstub counts as a debugger attaching). Linux: /proc/net/tcp; elsewhere a
    connection."""
    table = Path("/proc/net/tcp")
    if table.is_file():
        want = f"0100007F:{port:04X}"
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[1] == want and fields[3] == "0A":  # LISTEN
                return True
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def qemu_machine_command(board: Board) -> list[str]:
    """qemu-system-arm for `board`'s machine: no display, monitor or default devices,
    deterministic virtual time (-icount), semihosting; the caller adds -serial and what to
    run."""
    if board.qemu_machine is None:
        raise SpqError(f"board {board.name} has no QEMU machine")
    return [QEMU, "-M", board.qemu_machine, "-display", "none", "-monitor", "none",
            "-nodefaults", "-icount", f"shift={QEMU_ICOUNT_SHIFT}", "-semihosting-config",
            "enable=on,target=native"]


class QemuProbe:
    """QEMU as a board behind a debug probe: halted (-S), memory empty (no -kernel), a GDB
    server on `gdb_port` and the UART on `uart_port` (socket://127.0.0.1:PORT), both on free
    local ports. `spq flash OUT --board B --gdb 127.0.0.1:GDB` loads it like a probe would;
    `spq run OUT --board B --port socket://127.0.0.1:UART` then talks to it. Use as a context
    manager; QEMU dies with its parent."""

    def __init__(self, board: Board) -> None:
        if shutil.which(QEMU) is None:
            raise SpqError(f"{QEMU} not found: install qemu-system-arm (make toolchain)")
        self.board = board
        self.gdb_port = 0
        self.uart_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [*qemu_machine_command(self.board), "-S",
                "-gdb", f"tcp:127.0.0.1:{self.gdb_port}",
                "-serial", f"tcp:127.0.0.1:{self.uart_port},server=on,wait=off"]

    @property
    def uart_url(self) -> str:
        return f"socket://127.0.0.1:{self.uart_port}"

    def start(self) -> None:
        for _attempt in range(5):  # a port picked as free may be taken before QEMU binds it
            self.gdb_port, self.uart_port = free_port(), free_port()
            if self.gdb_port == self.uart_port:
                continue
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         preexec_fn=die_with_parent())
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and self.proc.poll() is None:
                # the gdbstub listens once the machine is built (after the UART's socket)
                if _listening(self.gdb_port):
                    return
                time.sleep(0.02)
            self.stop()
        raise SpqError(f"could not start {QEMU} -M {self.board.qemu_machine} as a probe target")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def __enter__(self) -> QemuProbe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class QemuRunner(Runner):
    """qemu-system-arm with the firmware's UART0 on a local TCP socket.

    QEMU runs with `-icount shift=0` (deterministic virtual time: SysTick ticks become exact
    instruction counts) and semihosting (the firmware can exit). QEMU waits for the host to
    connect before the guest starts, so no byte is lost."""

    def __init__(self, board: Board, elf: Path, timeout: float = 20.0) -> None:
        if board.qemu_machine is None:
            raise SpqError(f"board {board.name} has no QEMU machine; use a serial port")
        if shutil.which(QEMU) is None:
            raise SpqError(f"{QEMU} not found: install qemu-system-arm (make toolchain)")
        self.board = board
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise SpqError(f"firmware {self.elf} does not exist")
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.port = 0

    def command(self, port: int) -> list[str]:
        return [
            *qemu_machine_command(self.board),
            "-serial",
            f"tcp:127.0.0.1:{port},server=on,wait=on",
            "-kernel",
            str(self.elf),
        ]

    def qemu_output(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").splitlines()
        keep = [ln for ln in lines if ln.strip() and not any(n in ln for n in _QEMU_NOISE)]
        if len(keep) > 8:  # a fatal error comes first, then a register dump
            keep = [*keep[:8], f"... ({len(keep) - 8} more lines)"]
        return "\n".join(keep)[-2000:]

    def describe_failure(self) -> str:
        parts = [super().describe_failure()]
        if self.proc is not None and self.proc.poll() is not None:
            parts.append(f"qemu exited with code {self.proc.returncode}")
        out = self.qemu_output()
        if out:
            parts.append(f"qemu output: {out}")
        return "; ".join(p for p in parts if p)

    def start(self) -> None:
        last_error = ""
        for _attempt in range(5):  # a port picked as free may be taken before QEMU binds it
            self.port = free_port()
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
            self.proc = subprocess.Popen(
                self.command(self.port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )
            transport = self._connect()
            if transport is not None:
                self.transport = transport
                self.client = Client(transport, timeout=self.timeout)
                return
            last_error = self.qemu_output()
            self.stop()
        raise SpqError(f"could not start {QEMU} for {self.board.name}: {last_error}")

    def _connect(self) -> SerialTransport | None:
        assert self.proc is not None
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None
            try:
                # QEMU starts the guest when this connection is accepted; the firmware only
                # speaks when spoken to, so nothing can be lost before it.
                return SerialTransport(f"socket://127.0.0.1:{self.port}")
            except SpqError:
                time.sleep(0.02)
        return None

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


class SerialRunner(Runner):
    """A board already flashed with the harness firmware, on a serial port (e.g.
    /dev/ttyACM0 for a Nucleo's ST-LINK virtual COM port, or socket://HOST:PORT), flashed
    with `spq flash` (spq.tools.flash)."""

    def __init__(
        self, board: Board, port: str, baudrate: int = 115200, timeout: float = 20.0
    ) -> None:
        self.board = board
        self.url = port
        self.baudrate = baudrate
        self.timeout = timeout

    def start(self) -> None:
        self.transport = SerialTransport(self.url, baudrate=self.baudrate)
        self.transport.drain(quiet=0.05, limit=0.5)
        self.client = Client(self.transport, timeout=self.timeout)

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


def open_runner(
    board: Board, elf: Path, port: str | None = None, timeout: float = 20.0
) -> Runner:
    """QEMU for a QEMU board unless a serial `port` is given."""
    if port is not None:
        return SerialRunner(board, port, timeout=timeout)
    return QemuRunner(board, elf, timeout=timeout)
