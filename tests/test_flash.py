# SPDX-License-Identifier: MIT
"""`spq flash` and the one way to run on a target, without hardware: QEMU started the way a
board behind a debug probe looks (halted, memory empty, a gdbstub, the UART on a TCP port),
loaded with spq's own GDB remote-protocol client, then `spq run --board --port` and `spq
profile --port` against it. The error paths; the vFlash path against a strict fake flash
server; the pyOCD and OpenOCD paths up to the probe (the real pyOCD and OpenOCD, with a fake
only where a probe would answer)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spq.errors import SpqError
from spq.runtime import HostModel
from spq.tools import flash as fl
from spq.tools.boards import BOARDS, get_board
from spq.tools.firmware import build_firmware
from spq.tools.gdbremote import (
    GdbRemote,
    checksum,
    escape_binary,
    expand_rle,
    frame,
    parse_host_port,
    unescape_binary,
)
from spq.tools.runner import QemuProbe
from tests.support.firmware import random_inputs

pytestmark = pytest.mark.qemu


def spq_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spq", *args], capture_output=True,
                          text=True, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# ---- end to end against QEMU behind a gdbstub ------------------------------------------


@pytest.mark.parametrize("board_name", ["mps2-an386", "microbit"])
def test_flash_then_run_and_profile_over_the_port(
    board_name: str, static_model: Path, fw_cache: Path, tmp_path: Path,
) -> None:
    x = random_inputs(2, 3, input_kind="static", conv=True)
    np.save(tmp_path / "x.npy", x)
    with QemuProbe(get_board(board_name)) as qemu:
        # memory is empty before the load: the vector table reads as zeros
        with GdbRemote("127.0.0.1", qemu.gdb_port, timeout=10) as gdb:
            gdb.handshake()
            flash_origin = get_board(board_name).flash_origin
            assert gdb.read_memory(flash_origin, 8) == bytes(8)
        proc = spq_cli("flash", str(static_model), "--board", board_name,
                       "--gdb", f"127.0.0.1:{qemu.gdb_port}", "--port", qemu.uart_url, "--json")
        assert proc.returncode == 0, proc.stderr
        rec = json.loads(proc.stdout)
        assert rec["verified"] == "read back" and rec["bytes"] > 1000
        assert rec["answering"]["board"] == board_name
        assert rec["answering"]["model"] == json.loads(
            (static_model / "manifest.json").read_text())["name"]

        proc = spq_cli("run", str(static_model), "--board", board_name, "--port",
                       qemu.uart_url, "--input", str(tmp_path / "x.npy"), "--json")
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout)
        host = HostModel(static_model).run(x)
        assert got["logits_int"] == host.logits_int.tolist()
        assert got["spike_counts"] == host.spike_counts.tolist()
        assert got["port"] == qemu.uart_url

        js = tmp_path / "p.json"
        proc = spq_cli("profile", str(static_model), "--board", board_name, "--port",
                       qemu.uart_url, "--input", str(tmp_path / "x.npy"), "-o", str(js))
        assert proc.returncode == 0, proc.stderr
        flashed = json.loads(js.read_text())
        assert qemu.proc is not None and qemu.proc.poll() is None  # still running
    js2 = tmp_path / "q.json"
    proc = spq_cli("profile", str(static_model), "--board", board_name,
                   "--input", str(tmp_path / "x.npy"), "-o", str(js2))
    assert proc.returncode == 0, proc.stderr
    own = json.loads(js2.read_text())
    # the same firmware, loaded by a probe or by QEMU's -kernel: the same instruction counts
    assert flashed["total_per_input"] == own["total_per_input"]
    assert [la["instructions"] for la in flashed["layers"]] == [
        la["instructions"] for la in own["layers"]]
    assert flashed["logits_int"] == own["logits_int"] == host.logits_int.tolist()
    assert flashed["port"] == qemu.uart_url and own["port"] is None


def test_spq_run_board_under_qemu_and_the_alias(static_model: Path, fw_cache: Path,
                                                tmp_path: Path) -> None:
    x = random_inputs(2, 1, input_kind="static", conv=True)[0]
    np.save(tmp_path / "x.npy", x)
    proc = spq_cli("run", str(static_model), "--board", "microbit", "--input",
                   str(tmp_path / "x.npy"), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    host = HostModel(static_model).run(x)
    assert got["logits_int"] == host.logits_int.tolist() and got["board"] == "microbit"
    assert got["clock_hz"] == 16_000_000 and got["instructions"] > 0
    help_text = spq_cli("qemu", "--help").stdout
    assert "Alias of" in help_text and "spq run" in help_text
    one = one_error_line(spq_cli("run", str(static_model), "--board", "nucleo-f446re"))
    assert "no QEMU machine" in one and "--port" in one
    one = one_error_line(spq_cli("run", str(static_model), "--port", "/dev/null"))
    assert "--port needs --board" in one


# ---- errors ------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(timeout=2)
    for c in conns:
        c.close()
    srv.close()


def test_a_gdb_server_that_does_not_answer(static_model: Path, fw_cache: Path,
                                          silent_server: int) -> None:
    start = time.monotonic()
    line = one_error_line(spq_cli("flash", str(static_model), "--board", "mps2-an386", "--gdb",
                                  f"127.0.0.1:{silent_server}", "--timeout", "2"))
    assert "did not answer qSupported within 2 s" in line
    assert time.monotonic() - start < 60
    from spq.tools.runner import free_port

    line = one_error_line(spq_cli("flash", str(static_model), "--board", "mps2-an386", "--gdb",
                                  f"127.0.0.1:{free_port()}"))
    assert "cannot reach a GDB server" in line and "refused" in line
    line = one_error_line(spq_cli("flash", str(static_model), "--board", "mps2-an386",
                                  "--gdb", "nonsense"))
    assert "HOST:PORT" in line


def test_a_target_silent_after_flashing(static_model: Path, fw_cache: Path,
                                        silent_server: int) -> None:
    """Flashed and started, but nothing answers on the port given."""
    with QemuProbe(get_board("mps2-an386")) as qemu:
        line = one_error_line(spq_cli(
            "flash", str(static_model), "--board", "mps2-an386", "--gdb",
            f"127.0.0.1:{qemu.gdb_port}", "--port", f"socket://127.0.0.1:{silent_server}",
            "--timeout", "2"))
    assert "flashed and started, but the firmware is silent" in line
    assert "115200" in line


def test_a_firmware_that_does_not_fit_is_refused_before_anything_is_written(
    fw_cache: Path, tmp_path: Path,
) -> None:
    # the 600 KB model of test_firmware (constants beyond the AN547's 512 KiB of ITCM)
    from tests.test_firmware import write_huge_model

    out = write_huge_model(tmp_path)
    board = get_board("mps3-an547")
    with QemuProbe(board) as qemu:
        line = one_error_line(spq_cli("flash", str(out), "--board", board.name,
                                      "--gdb", f"127.0.0.1:{qemu.gdb_port}"))
        assert "does not fit mps3-an547" in line
        with GdbRemote("127.0.0.1", qemu.gdb_port, timeout=10) as gdb:
            gdb.handshake()
            assert gdb.read_memory(0, 256) == bytes(256)  # nothing was written
    # and an image that lies outside the board's flash (built for another board)
    elf = build_firmware(get_board("mps2-an505"), variant="selftest").elf
    with pytest.raises(SpqError, match=r"lie outside its flash.*nothing was written"):
        fl.load_image(elf, get_board("mps2-an386"))


def test_no_probe_found(static_model: Path, fw_cache: Path) -> None:
    """No probe on this machine: each path says what it looked for."""
    line = one_error_line(spq_cli("flash", str(static_model), "--board", "nucleo-f446re"))
    assert "no debug probe found for nucleo-f446re" in line
    assert "pyOCD found no CMSIS-DAP, ST-LINK and J-Link probes" in line
    assert "OpenOCD looked for the adapter of interface/stlink.cfg" in line
    line = one_error_line(spq_cli("flash", str(static_model), "--board", "rpi-pico",
                                  "--probe", "pyocd", "--uid", "E6614C311B1234"))
    assert "no debug probe found: pyOCD looked for" in line and "E6614C311B1234" in line
    line = one_error_line(spq_cli("flash", str(static_model), "--board", "mps2-an386"))
    assert "QEMU machine" in line and "--gdb" in line


# ---- the GDB remote protocol -------------------------------------------------------------


def test_packet_helpers() -> None:
    assert frame(b"qSupported") == b"$qSupported#37"
    assert checksum(b"OK") == 0x9A
    data = bytes(range(256))
    assert unescape_binary(escape_binary(data)) == data
    assert b"#" not in escape_binary(data) and b"$" not in escape_binary(data)
    assert expand_rle(b"0* ") == b"0000"  # ' ' is 32: three more
    assert parse_host_port("localhost:3333") == ("localhost", 3333)
    assert parse_host_port(":1234") == ("127.0.0.1", 1234)
    with pytest.raises(SpqError):
        parse_host_port("127.0.0.1:99999")


class FakeFlashServer:
    """A strict GDB server for a flash part, as OpenOCD or pyOCD present one: a memory map
    with a flash region (1 KiB erase blocks) and a RAM region, acks, vFlash* only, X writes
    refused in flash, flash bits only cleared by a write (an unerased block keeps garbage
    ANDed in), registers through P. `corrupt` flips a byte on read-back."""

    def __init__(self, board: Any, corrupt: bool = False) -> None:
        self.board = board
        self.corrupt = corrupt
        self.flash = bytearray(b"\x5a" * 0x10000)  # not erased
        self.ram = bytearray(0x1000)
        self.erased: list[tuple[int, int]] = []
        self.regs: dict[int, int] = {}
        self.detached = False
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _mem_map(self) -> bytes:
        f, r = self.board.flash_origin, self.board.ram_origin
        return (f'<memory-map><memory type="flash" start="{f:#x}" length="0x10000">'
                '<property name="blocksize">0x400</property></memory>'
                f'<memory type="ram" start="{r:#x}" length="0x1000"/></memory-map>').encode()

    def _serve(self) -> None:
        conn, _ = self.srv.accept()
        buf = b""
        with conn:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"#" in buf and b"$" in buf:
                    start = buf.index(b"$")
                    end = buf.index(b"#", start)
                    if len(buf) < end + 3:
                        break
                    data, buf = buf[start + 1 : end], buf[end + 3 :]
                    conn.sendall(b"+" + frame(self._reply(data)))

    def _where(self, addr: int, n: int) -> tuple[bytearray, int] | None:
        for mem, base in ((self.flash, self.board.flash_origin),
                          (self.ram, self.board.ram_origin)):
            if base <= addr and addr + n <= base + len(mem):
                return mem, addr - base
        return None

    def _reply(self, data: bytes) -> bytes:
        fo = self.board.flash_origin
        if data.startswith(b"qSupported"):
            return b"PacketSize=400;qXfer:memory-map:read+;QStartNoAckMode-"
        if data == b"?":
            return b"S05"
        if data.startswith(b"qXfer:memory-map:read::"):
            off, length = (int(v, 16) for v in data.split(b"::")[1].split(b","))
            body = self._mem_map()[off : off + length]
            return (b"l" if off + length >= len(self._mem_map()) else b"m") + body
        if data.startswith(b"vFlashErase:"):
            addr, n = (int(v, 16) for v in data[12:].split(b","))
            if (addr - fo) % 0x400 or n % 0x400:
                return b"E01"
            self.flash[addr - fo : addr - fo + n] = b"\xff" * n
            self.erased.append((addr, n))
            return b"OK"
        if data.startswith(b"vFlashWrite:"):
            head, payload = data[12:].split(b":", 1)
            addr, raw = int(head, 16), unescape_binary(payload)
            for i, b in enumerate(raw):
                self.flash[addr - fo + i] &= b  # programming only clears bits
            return b"OK"
        if data == b"vFlashDone":
            return b"OK"
        if data[:1] == b"X":
            head, payload = data[1:].split(b":", 1)
            addr, n = (int(v, 16) for v in head.split(b","))
            where = self._where(addr, n)
            if where is None or where[0] is self.flash:
                return b"E0E"
            where[0][where[1] : where[1] + n] = unescape_binary(payload)
            return b"OK"
        if data[:1] == b"m":
            addr, n = (int(v, 16) for v in data[1:].split(b","))
            where = self._where(addr, n)
            if where is None:
                return b"E14"
            out = bytearray(where[0][where[1] : where[1] + n])
            if self.corrupt and where[0] is self.flash and addr <= fo + 0x100 < addr + n:
                out[fo + 0x100 - addr] ^= 0x01
            return out.hex().encode()
        if data[:1] == b"P":
            num, val = data[1:].split(b"=")
            self.regs[int(num, 16)] = int.from_bytes(bytes.fromhex(val.decode()), "little")
            return b"OK"
        if data == b"D":
            self.detached = True
            return b"OK"
        return b""

    def close(self) -> None:
        self.srv.close()


def test_flash_regions_go_through_vflash(fw_cache: Path) -> None:
    board = get_board("nucleo-f446re")
    image = fl.load_image(build_firmware(board, variant="selftest").elf, board)
    assert image.size < 0x10000
    server = FakeFlashServer(board)
    try:
        res = fl.flash_gdb(image, "127.0.0.1", server.port, timeout=5)
    finally:
        server.close()
    fo = board.flash_origin
    for s in image.segments:
        assert bytes(server.flash[s.addr - fo : s.addr - fo + len(s.data)]) == s.data
    assert all(a % 0x400 == 0 and n % 0x400 == 0 for a, n in server.erased)
    # the classic ARM numbering (no target description): sp 13, pc 15, xpsr 25
    assert server.regs == {13: image.initial_sp, 15: image.reset_handler & ~1, 25: 1 << 24}
    assert server.detached and res.verified == "read back"
    assert "vFlash" in res.log[0]


def test_a_verify_mismatch_is_reported(fw_cache: Path) -> None:
    board = get_board("nucleo-f446re")
    image = fl.load_image(build_firmware(board, variant="selftest").elf, board)
    server = FakeFlashServer(board, corrupt=True)
    try:
        with pytest.raises(SpqError, match=r"verify failed .* at 0x08000100 wrote") as info:
            fl.flash_gdb(image, "127.0.0.1", server.port, timeout=5)
    finally:
        server.close()
    assert not server.detached  # never started
    assert "read back" in str(info.value)


# ---- pyOCD and OpenOCD, up to the probe ---------------------------------------------------


def test_pyocd_target_names_are_pyocds_own() -> None:
    from pyocd.target import TARGET

    for b in BOARDS.values():
        if b.pyocd_target is None:
            assert b.is_qemu, b.name  # every hardware board can be flashed with pyOCD
            continue
        # built into pyOCD, or named with the CMSIS pack part that provides it
        assert (b.pyocd_target in TARGET) != (b.pyocd_pack is not None), b.name


class FakeProbe:
    def __init__(self, uid: str) -> None:
        self.unique_id = uid


class FakeTarget:
    def __init__(self, memory: dict[int, bytes]) -> None:
        self.memory = memory
        self.resets = 0

    def read_memory_block8(self, addr: int, size: int) -> list[int]:
        for base, data in self.memory.items():
            if base <= addr and addr + size <= base + len(data):
                return list(data[addr - base : addr - base + size])
        return [0xFF] * size

    def reset(self) -> None:
        self.resets += 1


class FakeSession:
    def __init__(self, target: FakeTarget) -> None:
        self.target = target
        self.open = False

    def __enter__(self) -> FakeSession:
        self.open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.open = False


def fake_pyocd(probes: list[str], memory: dict[int, bytes], calls: list[Any]) -> Any:
    """(ConnectHelper, FileProgrammer) with pyOCD's call signatures; the programmer writes
    the ELF's segments into the fake target's memory as pyOCD's flash loader would."""
    target = FakeTarget(memory)

    class Helper:
        @staticmethod
        def get_all_connected_probes(blocking: bool = True, unique_id: str | None = None,
                                     print_wait_message: bool = True) -> list[FakeProbe]:
            calls.append(("probes", blocking, unique_id))
            return [FakeProbe(p) for p in probes if unique_id is None or unique_id in p]

        @staticmethod
        def session_with_chosen_probe(**kwargs: Any) -> FakeSession:
            calls.append(("session", kwargs))
            return FakeSession(target)

    class Programmer:
        def __init__(self, session: FakeSession) -> None:
            assert session.open
            self.session = session

        def program(self, path: str, file_format: str | None = None) -> None:
            calls.append(("program", path, file_format))
            board = get_board("rpi-pico")
            for s in fl.load_image(Path(path), board).segments:
                memory[s.addr] = s.data

    return Helper, Programmer, target


def test_pyocd_path_up_to_the_probe(fw_cache: Path) -> None:
    board = get_board("rpi-pico")
    image = fl.load_image(build_firmware(board, variant="selftest").elf, board)
    calls: list[Any] = []
    memory: dict[int, bytes] = {}
    helper, programmer, target = fake_pyocd(["E6614C311B5A7C2D"], memory, calls)
    res = fl.flash_pyocd(image, uid=None, api=(helper, programmer))
    assert calls[0] == ("probes", False, None)
    kind, kwargs = calls[1]
    assert kind == "session" and kwargs["unique_id"] == "E6614C311B5A7C2D"
    assert kwargs["target_override"] == "rp2040" and kwargs["blocking"] is False
    assert calls[2] == ("program", str(image.elf), "elf")
    assert target.resets == 1 and res.verified == "read back"
    # a flash that did not take: the read-back catches it, and nothing is started
    memory.clear()
    helper, _programmer, target = fake_pyocd(["E6614C311B5A7C2D"], memory, [])

    class Lazy:
        def __init__(self, session: FakeSession) -> None:
            pass

        def program(self, path: str, file_format: str | None = None) -> None:
            pass

    with pytest.raises(SpqError, match="verify failed"):
        fl.flash_pyocd(image, api=(helper, Lazy))
    assert target.resets == 0
    # two probes and no --uid: the user must choose
    helper, programmer, _t = fake_pyocd(["A1", "B2"], {}, [])
    with pytest.raises(SpqError, match=r"2 debug probes found \(A1, B2\): choose one with --uid"):
        fl.flash_pyocd(image, api=(helper, programmer))
    # the real pyOCD, no probe attached to this machine
    with pytest.raises(fl.NoProbeError, match="pyOCD looked for CMSIS-DAP, ST-LINK and J-Link"):
        fl.flash_pyocd(image)


def test_openocd_commands_and_its_configs(fw_cache: Path) -> None:
    scripts = Path("/usr/share/openocd/scripts")
    assert shutil.which("openocd") and scripts.is_dir()  # setup installs it
    for b in BOARDS.values():
        if b.is_qemu:
            continue
        image = fl.load_image(build_firmware(b, variant="selftest").elf, b)
        if b.openocd_target is None:
            with pytest.raises(SpqError, match="no OpenOCD configuration"):
                fl.openocd_command(image)
            continue
        assert (scripts / b.openocd_interface).is_file(), b.name
        assert (scripts / b.openocd_target).is_file(), b.name
        cmd = fl.openocd_command(image, uid="066DFF")
        assert cmd == ["openocd", "-f", b.openocd_interface, "-c", "adapter serial 066DFF",
                       "-f", b.openocd_target, "-c",
                       f"program {{{image.elf}}} verify reset exit"]
    # the real OpenOCD reads both configurations, then finds no adapter
    b = get_board("nucleo-f446re")
    image = fl.load_image(build_firmware(b, variant="selftest").elf, b)
    with pytest.raises(fl.NoProbeError, match=r"OpenOCD looked for the adapter of "
                       "interface/stlink.cfg"):
        fl.flash_openocd(image, timeout=60)

    def verified(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 0, "", "** Programming Finished **\n"
                                           "** Verify Started **\n** Verified OK **\n")

    assert fl.flash_openocd(image, run=verified).verified.startswith("OpenOCD verify")

    def mismatch(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "** Verify Started **\n"
                                           "Error: checksum mismatch - attempting binary "
                                           "compare\n** Verify Failed **\n")

    with pytest.raises(SpqError, match="OpenOCD's verify failed"):
        fl.flash_openocd(image, run=mismatch)
