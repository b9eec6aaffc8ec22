# SPDX-License-Identifier: MIT
"""A small client of the GDB remote serial protocol: enough to load a firmware through any
GDB server (OpenOCD, pyOCD gdbserver, J-Link GDB server, QEMU's -gdb) and start it.

Packets are ``$data#cc`` (cc: the sum of the data bytes modulo 256, two hex digits),
acknowledged with ``+`` until the server accepts ``QStartNoAckMode``. Used here: qSupported
(packet size, memory map, target description), ``m`` (read), ``X`` (binary write; ``M`` when
``X`` is not supported), qXfer:memory-map:read (which regions are flash), vFlashErase /
vFlashWrite / vFlashDone (flash through the server's own algorithms, as GDB's ``load`` does),
qXfer:features:read (register numbers), ``P`` (write one register; ``g``/``G`` otherwise),
``D`` (detach: the target resumes). Every read has a deadline.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from spq.errors import SpqError

_ESCAPE = {ord("#"), ord("$"), ord("}"), ord("*")}


class GdbError(SpqError):
    """The GDB server refused a request or broke the protocol."""


class GdbTimeoutError(GdbError):
    """The GDB server did not answer in time."""


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(data: bytes) -> bytes:
    return b"$" + data + b"#" + f"{checksum(data):02x}".encode()


def escape_binary(data: bytes) -> bytes:
    """Binary data for X and vFlashWrite: '#', '$', '}' and '*' become '}' + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in _ESCAPE:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


def expand_rle(data: bytes) -> bytes:
    """Run-length encoding in replies: 'c*n' repeats c (ord(n) - 29) more times."""
    if b"*" not in data:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == ord("*") and out and i + 1 < len(data):
            out += bytes([out[-1]]) * (data[i + 1] - 29)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


@dataclass(frozen=True)
class Region:
    """One <memory> element of the server's memory map."""

    kind: str  # "ram", "rom" or "flash"
    start: int
    length: int
    blocksize: int = 0  # flash erase unit

    def contains(self, addr: int, size: int) -> bool:
        return self.start <= addr and addr + size <= self.start + self.length


def parse_memory_map(text: str) -> list[Region]:
    regions = []
    try:
        root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", text))
    except ET.ParseError as exc:
        raise GdbError(f"malformed memory map from the GDB server: {exc}") from None
    for mem in root.iter("memory"):
        block = 0
        for prop in mem.iter("property"):
            if prop.get("name") == "blocksize":
                block = int((prop.text or "0").strip(), 0)
        regions.append(Region(mem.get("type", "ram"), int(mem.get("start", "0"), 0),
                              int(mem.get("length", "0"), 0), block))
    return regions


class GdbRemote:
    """One connection to a GDB server. Use as a context manager."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.where = f"{host}:{port}"
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError:
            raise GdbTimeoutError(
                f"the GDB server at {self.where} does not answer (no connection within "
                f"{timeout:g} s)") from None
        except OSError as exc:
            raise GdbError(f"cannot reach a GDB server at {self.where}: "
                           f"{exc.strerror or exc}") from None
        self._buf = bytearray()
        self.ack = True
        self.features: dict[str, str] = {}
        self.packet_size = 4096
        self._regnums: dict[str, int] | None = None

    # ---- packets --------------------------------------------------------------------

    def _read_some(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise GdbTimeoutError(
                f"the GDB server at {self.where} did not answer {what} within "
                f"{self.timeout:g} s")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            chunk = None
        except OSError as exc:
            raise GdbError(f"the connection to the GDB server at {self.where} failed: "
                           f"{exc.strerror or exc}") from None
        if chunk is None:
            raise GdbTimeoutError(
                f"the GDB server at {self.where} did not answer {what} within "
                f"{self.timeout:g} s")
        if not chunk:
            raise GdbError(f"the GDB server at {self.where} closed the connection ({what})")
        self._buf += chunk

    def _send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise GdbError(f"the connection to the GDB server at {self.where} failed: "
                           f"{exc.strerror or exc}") from None

    def _read_packet(self, deadline: float, what: str) -> bytes:
        while True:
            start = self._buf.find(b"$")
            if start >= 0:
                end = self._buf.find(b"#", start)
                if end >= 0 and len(self._buf) >= end + 3:
                    data = bytes(self._buf[start + 1 : end])
                    cc = bytes(self._buf[end + 1 : end + 3])
                    del self._buf[: end + 3]
                    if self.ack:
                        ok = cc.lower() == f"{checksum(data):02x}".encode()
                        self._send_raw(b"+" if ok else b"-")
                        if not ok:
                            continue
                    return expand_rle(data)
            elif self._buf:
                self._buf.clear()  # acks and noise before a packet
            self._read_some(deadline, what)

    def request(self, data: bytes | str, what: str | None = None) -> bytes:
        """Send one packet and return the reply's data."""
        raw = data.encode() if isinstance(data, str) else data
        label = what or f"'{raw[:24].decode(errors='replace')}'"
        deadline = time.monotonic() + self.timeout
        for _ in range(3):
            self._send_raw(frame(raw))
            if not self.ack:
                break
            while True:  # wait for the ack
                plus = self._buf.find(b"+")
                minus = self._buf.find(b"-")
                if plus >= 0 or minus >= 0:
                    first = min(i for i in (plus, minus) if i >= 0)
                    nak = self._buf[first] == ord("-")
                    del self._buf[: first + 1]
                    break
                self._read_some(deadline, label)
            if not nak:
                break
        else:
            raise GdbError(f"the GDB server at {self.where} rejected {label} three times")
        return self._read_packet(deadline, label)

    def expect_ok(self, data: bytes | str, what: str) -> None:
        reply = self.request(data, what)
        if reply != b"OK":
            raise GdbError(f"the GDB server at {self.where} refused {what}: "
                           f"{_describe(reply)}")

    # ---- session --------------------------------------------------------------------

    def handshake(self) -> None:
        reply = self.request("qSupported:multiprocess-;swbreak+;hwbreak+;xmlRegisters=arm",
                             "qSupported").decode(errors="replace")
        for item in reply.split(";"):
            if "=" in item:
                key, value = item.split("=", 1)
                self.features[key] = value
            elif item.endswith(("+", "-")):
                self.features[item[:-1]] = item[-1]
        if "PacketSize" in self.features:
            self.packet_size = max(64, int(self.features["PacketSize"], 16))
        if self.features.get("QStartNoAckMode") == "+" and self.request(
                "QStartNoAckMode") == b"OK":
            self.ack = False
        self.request("?", "the halt reason ('?')")

    def supports(self, feature: str) -> bool:
        return self.features.get(feature) == "+"

    def read_xfer(self, obj: str, annex: str) -> str | None:
        """A qXfer object (None when the server does not have it)."""
        out = bytearray()
        chunk = max(64, self.packet_size - 8)
        while True:
            reply = self.request(f"qXfer:{obj}:read:{annex}:{len(out):x},{chunk:x}",
                                 f"qXfer:{obj}")
            if not reply or reply[:1] == b"E":
                return None if not out else out.decode()
            out += unescape_binary(reply[1:])
            if reply[:1] == b"l":
                return out.decode()

    def memory_map(self) -> list[Region] | None:
        if not self.supports("qXfer:memory-map:read"):
            return None
        text = self.read_xfer("memory-map", "")
        return parse_memory_map(text) if text else None

    # ---- memory ---------------------------------------------------------------------

    def read_memory(self, addr: int, size: int) -> bytes:
        out = bytearray()
        step = max(16, (self.packet_size - 16) // 2)
        while len(out) < size:
            n = min(step, size - len(out))
            a = addr + len(out)
            reply = self.request(f"m{a:x},{n:x}", f"a read of {n} bytes at {a:#010x}")
            if not reply or (reply[:1] == b"E" and len(reply) == 3):
                raise GdbError(f"the GDB server at {self.where} could not read {n} bytes at "
                               f"{a:#010x}: {_describe(reply)}")
            try:
                data = bytes.fromhex(reply.decode())
            except ValueError:
                raise GdbError(f"the GDB server at {self.where} sent a malformed memory "
                               f"reply at {a:#010x}") from None
            if not data:
                raise GdbError(f"the GDB server at {self.where} read nothing at {a:#010x}")
            out += data
        return bytes(out[:size])

    def write_memory(self, addr: int, data: bytes) -> None:
        step = max(16, (self.packet_size - 32) // 2)  # room for escapes / hex
        use_x = self.features.get("X") != "-"
        for off in range(0, len(data), step):
            piece, a = data[off : off + step], addr + off
            what = f"a write of {len(piece)} bytes at {a:#010x}"
            if use_x:
                reply = self.request(f"X{a:x},{len(piece):x}:".encode() + escape_binary(piece),
                                     what)
                if reply == b"":  # X not supported: hex from now on
                    use_x = False
                    self.features["X"] = "-"
                elif reply != b"OK":
                    raise GdbError(f"the GDB server at {self.where} refused {what}: "
                                   f"{_describe(reply)}")
                else:
                    continue
            self.expect_ok(f"M{a:x},{len(piece):x}:{piece.hex()}", what)

    def flash_erase(self, addr: int, size: int) -> None:
        self.expect_ok(f"vFlashErase:{addr:x},{size:x}",
                       f"erasing {size} bytes of flash at {addr:#010x}")

    def flash_write(self, addr: int, data: bytes) -> None:
        step = max(16, (self.packet_size - 32) // 2)
        for off in range(0, len(data), step):
            piece, a = data[off : off + step], addr + off
            self.expect_ok(f"vFlashWrite:{a:x}:".encode() + escape_binary(piece),
                           f"a flash write of {len(piece)} bytes at {a:#010x}")

    def flash_done(self) -> None:
        self.expect_ok("vFlashDone", "the end of flash programming (vFlashDone)")

    # ---- registers ------------------------------------------------------------------

    def register_numbers(self) -> dict[str, int]:
        """Register name -> number, from the target description (the classic ARM numbering
        when the server has none: r0-r15, then xpsr/cpsr at 25)."""
        if self._regnums is None:
            regs: dict[str, int] = {}
            if self.supports("qXfer:features:read"):
                self._collect_regs("target.xml", regs, [0], set())
            if not regs:
                regs = {f"r{i}": i for i in range(13)}
                regs.update({"sp": 13, "lr": 14, "pc": 15, "xpsr": 25, "cpsr": 25})
            self._regnums = regs
        return self._regnums

    def _collect_regs(self, annex: str, regs: dict[str, int], nxt: list[int],
                      seen: set[str]) -> None:
        if annex in seen:
            return
        seen.add(annex)
        text = self.read_xfer("features", annex)
        if not text:
            return
        text = re.sub(r"<!DOCTYPE[^>]*>", "", text)
        text = re.sub(r"<(/?)xi:", r"<\1", text)  # servers often leave xmlns:xi undeclared
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise GdbError(f"the GDB server at {self.where} sent a malformed target "
                           f"description ({annex}: {exc})") from None
        for el in root.iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "include":
                href = el.get("href")
                if href:
                    self._collect_regs(href, regs, nxt, seen)
            elif tag == "reg":
                num = int(el.get("regnum", str(nxt[0])))
                regs.setdefault(el.get("name", "").lower(), num)
                nxt[0] = num + 1

    def write_register(self, name: str, value: int) -> None:
        regs = self.register_numbers()
        alias = {"xpsr": ("xpsr", "cpsr"), "sp": ("sp", "r13", "msp")}.get(name, (name,))
        num = next((regs[a] for a in alias if a in regs), None)
        if num is None:
            raise GdbError(f"the GDB server at {self.where} describes no register {name}")
        what = f"setting {name} to {value:#010x}"
        reply = self.request(f"P{num:x}={value.to_bytes(4, 'little').hex()}", what)
        if reply != b"OK":
            raise GdbError(f"the GDB server at {self.where} refused {what}: "
                           f"{_describe(reply)}")

    def detach(self) -> None:
        """Detach; the target resumes."""
        self.expect_ok("D", "detaching (D)")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> GdbRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(reply: bytes) -> str:
    if not reply:
        return "not supported (empty reply)"
    text = reply.decode(errors="replace")
    if re.fullmatch(r"E[0-9a-fA-F]{2}", text):
        return f"error {text}"
    return repr(text[:60])


def parse_host_port(spec: str) -> tuple[str, int]:
    """HOST:PORT (or :PORT for localhost)."""
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpqError(f"--gdb {spec!r}: expected HOST:PORT, e.g. 127.0.0.1:3333")
    return (host or "127.0.0.1").strip("[]"), int(port)
