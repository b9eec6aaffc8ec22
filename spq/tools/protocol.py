# SPDX-License-Identifier: MIT
"""Host side of the spq serial protocol (device side: firmware/protocol.c).

Frame layout (little endian)::

    0xA5 0x5A | version u8 | type u8 | seq u8 | length u32 | payload | crc u16

``crc`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over
version, type, seq, length and payload. Every request gets exactly one reply with the same
``seq``, or an ERROR frame. The payloads are documented in docs/boards.md.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Protocol

from spq.errors import SpqError

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER_BYTES = 9

MSG_HELLO = 0x01
MSG_INFER = 0x02
MSG_ECHO = 0x03
MSG_BYE = 0x04
MSG_INFO = 0x81
MSG_RESULT = 0x82
MSG_ECHO_REPLY = 0x83
MSG_BYE_ACK = 0x84
MSG_ERROR = 0xFF

ERR_CRC = 1
ERR_LENGTH = 2
ERR_VERSION = 3
ERR_TYPE = 4
ERR_INPUT_SIZE = 5
ERR_RUNTIME = 6
ERR_FAULT = 7
ERR_NO_MODEL = 8
ERR_MODEL_HEADER = 9
ERR_TIMEOUT = 10

ERROR_NAMES = {
    ERR_CRC: "bad CRC",
    ERR_LENGTH: "payload too long",
    ERR_VERSION: "unsupported protocol version",
    ERR_TYPE: "unknown message type",
    ERR_INPUT_SIZE: "wrong input size",
    ERR_RUNTIME: "runtime error",
    ERR_FAULT: "firmware fault",
    ERR_NO_MODEL: "firmware has no model",
    ERR_MODEL_HEADER: "model header mismatch",
    ERR_TIMEOUT: "frame cut short",
}
# ERR_MODEL_HEADER: the NAME.h macro (top 4 bits of the detail) that disagrees with NAME.c
MODEL_HEADER_MACROS = {1: "NUM_CLASSES", 2: "NUM_LAYERS", 3: "INPUT_BYTES", 4: "ARENA_SIZE"}

# spq_status_t (runtime_c/include/spq.h)
SPQ_STATUS = {
    -1: "SPQ_ERR_NULL",
    -2: "SPQ_ERR_ARENA_SMALL",
    -3: "SPQ_ERR_ARENA_ALIGN",
    -4: "SPQ_ERR_MODEL",
    -5: "SPQ_ERR_STATE",
    -6: "SPQ_ERR_SCHEDULE",
}
FAULT_KINDS = {1: "HardFault", 2: "unexpected interrupt"}

UNITS = {0: "instructions", 1: "cycles"}
TIMER_SOURCES = {0: "dwt", 1: "systick"}

# the largest reply the host accepts (a result frame is a few KiB)
MAX_REPLY_BYTES = 1 << 20


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE; crc16_ccitt_false(b"123456789") == 0x29B1."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes
    version: int = VERSION


def encode_frame(
    msg_type: int, seq: int, payload: bytes = b"", *, version: int = VERSION
) -> bytes:
    """Serialize one frame."""
    if not 0 <= seq <= 0xFF or not 0 <= msg_type <= 0xFF:
        raise ValueError("type and seq are bytes")
    body = struct.pack("<BBBI", version, msg_type, seq, len(payload)) + payload
    return SYNC + body + struct.pack("<H", crc16_ccitt_false(body))


class ProtocolError(SpqError):
    """A reply that cannot be trusted: bad CRC, bad version, truncated, or oversized."""


class DeviceTimeoutError(SpqError):
    """The device did not answer in time."""


class DeviceError(SpqError):
    """The device answered with an ERROR frame."""

    def __init__(self, code: int, detail: int, seq: int) -> None:
        self.code = code
        self.detail = detail
        self.seq = seq
        name = ERROR_NAMES.get(code, f"error {code}")
        if code == ERR_RUNTIME:
            status = detail - (1 << 32) if detail & 0x80000000 else detail
            what = f"{name} {SPQ_STATUS.get(status, 'status')} ({status})"
        elif code == ERR_FAULT:
            kind = FAULT_KINDS.get(detail >> 28, f"kind {detail >> 28}")
            what = f"{name}: {kind}, CFSR {detail & 0x0FFFFFFF:#010x}"
        elif code == ERR_MODEL_HEADER:
            macro = MODEL_HEADER_MACROS.get(detail >> 28, f"macro {detail >> 28}")
            what = (f"{name}: the firmware's NAME.h has a NAME_{macro} other than its model "
                    f"descriptor's {detail & 0x0FFFFFFF} (NAME.c); the export was edited or "
                    "mixed up: export it again")
        elif code == ERR_TIMEOUT:
            what = (f"{name}: the device received {detail} bytes of the frame, then nothing "
                    "for its inter-byte timeout, and dropped it")
        else:
            what = f"{name} (code {code}, detail {detail:#x})"
        super().__init__(f"device reported {what}")


def decode_frame(data: bytes) -> tuple[Frame, int]:
    """Decode the first frame in `data` (which must start with the sync bytes).

    Returns the frame and the number of bytes consumed. Raises ProtocolError on a bad
    version, CRC or truncation."""
    if data[:2] != SYNC:
        raise ProtocolError("frame does not start with the sync bytes")
    if len(data) < 2 + HEADER_BYTES - 2:
        raise ProtocolError("truncated frame header")
    version, msg_type, seq, length = struct.unpack_from("<BBBI", data, 2)
    if version != VERSION:
        raise ProtocolError(f"unsupported protocol version {version} (host speaks {VERSION})")
    end = HEADER_BYTES + length
    if len(data) < end + 2:
        raise ProtocolError("truncated frame")
    (crc,) = struct.unpack_from("<H", data, end)
    want = crc16_ccitt_false(data[2:end])
    if crc != want:
        raise ProtocolError(f"bad CRC {crc:#06x} (expected {want:#06x})")
    return Frame(msg_type, seq, bytes(data[HEADER_BYTES:end]), version), end + 2


class ByteStream(Protocol):
    """What the protocol needs from a transport (spq.tools.transport.SerialTransport)."""

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, deadline: float) -> bytes: ...


def read_frame(stream: ByteStream, deadline: float, what: str = "reply") -> Frame:
    """Read one frame: hunt for the sync bytes, then header, payload and CRC, all before
    `deadline` (time.monotonic()). Raises DeviceTimeoutError or ProtocolError."""

    def read_exact(n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = stream.read(n - len(out), deadline)
            # a line that never goes quiet (noise, a wrong baud rate) must not hold us either
            if not chunk or time.monotonic() > deadline:
                raise DeviceTimeoutError(f"timed out waiting for the device's {what}")
            out += chunk
        return bytes(out)

    prev = b""
    while True:
        b = read_exact(1)
        if prev == SYNC[:1] and b == SYNC[1:]:
            break
        prev = b
    head = read_exact(HEADER_BYTES - 2)
    version, _msg_type, _seq, length = struct.unpack("<BBBI", head)
    if version != VERSION:
        raise ProtocolError(f"reply has protocol version {version} (host speaks {VERSION})")
    if length > MAX_REPLY_BYTES:
        raise ProtocolError(f"reply length {length} is implausible")
    rest = read_exact(length + 2)
    frame, _ = decode_frame(SYNC + head + rest)
    return frame


# ---- payloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    protocol_version: int
    unit: str
    timer_source: str
    has_model: bool
    arena_bytes: int
    input_bytes: int
    num_classes: int
    num_layers: int
    time_steps: int
    stack_bytes: int
    max_payload: int
    clock_hz: int
    board: str
    model: str

    @classmethod
    def decode(cls, payload: bytes) -> DeviceInfo:
        fmt = "<BBBBIIHHHIIIB"
        try:
            fields = struct.unpack_from(fmt, payload)
            off = struct.calcsize(fmt)
            board = payload[off : off + fields[-1]].decode()
            off += fields[-1]
            model_len = payload[off]
            model = payload[off + 1 : off + 1 + model_len].decode()
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"malformed INFO payload: {exc}") from None
        return cls(
            protocol_version=fields[0],
            unit=UNITS.get(fields[1], f"unit{fields[1]}"),
            timer_source=TIMER_SOURCES.get(fields[2], f"timer{fields[2]}"),
            has_model=bool(fields[3] & 1),
            arena_bytes=fields[4],
            input_bytes=fields[5],
            num_classes=fields[6],
            num_layers=fields[7],
            time_steps=fields[8],
            stack_bytes=fields[9],
            max_payload=fields[10],
            clock_hz=fields[11],
            board=board,
            model=model,
        )


@dataclass(frozen=True)
class LayerStats:
    spikes: int
    synops: int
    time: int  # in the result's unit


@dataclass(frozen=True)
class InferResult:
    status: int
    unit: str
    total: int
    stack_peak_bytes: int
    logits_int: list[int]
    layers: list[LayerStats] = field(default_factory=list)

    @property
    def spike_counts(self) -> list[int]:
        return [layer.spikes for layer in self.layers]

    @property
    def synops(self) -> list[int]:
        return [layer.synops for layer in self.layers]

    @classmethod
    def decode(cls, payload: bytes) -> InferResult:
        head = "<iBBHHHQI"
        try:
            status, unit, _r, ncls, nlay, _r2, total, stack = struct.unpack_from(head, payload)
            off = struct.calcsize(head)
            logits = list(struct.unpack_from(f"<{ncls}i", payload, off))
            off += 4 * ncls
            layers = []
            for _ in range(nlay):
                spikes, synops, t = struct.unpack_from("<IIQ", payload, off)
                off += 16
                layers.append(LayerStats(spikes, synops, t))
        except struct.error as exc:
            raise ProtocolError(f"malformed RESULT payload: {exc}") from None
        if off != len(payload):
            raise ProtocolError(f"RESULT payload has {len(payload) - off} stray bytes")
        return cls(status, UNITS.get(unit, f"unit{unit}"), total, stack, logits, layers)


class Client:
    """Request/reply over a byte stream: one outstanding request at a time, replies matched
    by seq. Frames with another seq are skipped: stale replies to earlier requests, and
    ERROR frames about bytes this client did not send (seq 0 when the device could not read
    a seq: leftover sync bytes, line noise), which are counted in `foreign_errors` and
    named if the request then times out. An ERROR frame with this seq, or reporting a fault
    (the device has stopped), raises DeviceError."""

    def __init__(self, stream: ByteStream, timeout: float = 10.0) -> None:
        self.stream = stream
        self.timeout = timeout
        self._seq = 0
        self.foreign_errors = 0
        self.last_foreign_error: DeviceError | None = None

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF or 1  # 0 is what the device uses when unsure
        return self._seq

    def request(
        self, msg_type: int, payload: bytes = b"", timeout: float | None = None
    ) -> Frame:
        seq = self._next_seq()
        self.stream.write(encode_frame(msg_type, seq, payload))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        foreign = self.foreign_errors
        while True:
            try:
                frame = read_frame(self.stream, deadline)
            except DeviceTimeoutError as exc:
                err = self.last_foreign_error
                if self.foreign_errors > foreign and err is not None:
                    raise DeviceTimeoutError(
                        f"{exc} (meanwhile the device answered bytes this host did not send, "
                        f"seq {err.seq}: {err})"
                    ) from None
                raise
            if frame.type == MSG_ERROR:
                code, detail = _decode_error(frame.payload)
                if frame.seq == seq or code == ERR_FAULT:
                    raise DeviceError(code, detail, frame.seq)
                self.foreign_errors += 1
                self.last_foreign_error = DeviceError(code, detail, frame.seq)
                continue
            if frame.seq != seq:
                continue  # a stale reply
            return frame

    def expect(self, frame: Frame, msg_type: int) -> bytes:
        if frame.type != msg_type:
            raise ProtocolError(f"expected reply type {msg_type:#04x}, got {frame.type:#04x}")
        return frame.payload

    def hello(self) -> DeviceInfo:
        return DeviceInfo.decode(self.expect(self.request(MSG_HELLO), MSG_INFO))

    def echo(self, data: bytes) -> bytes:
        return self.expect(self.request(MSG_ECHO, data), MSG_ECHO_REPLY)

    def infer(self, data: bytes, timeout: float | None = None) -> InferResult:
        return InferResult.decode(
            self.expect(self.request(MSG_INFER, data, timeout=timeout), MSG_RESULT)
        )

    def bye(self) -> None:
        self.expect(self.request(MSG_BYE, timeout=2.0), MSG_BYE_ACK)


def _decode_error(payload: bytes) -> tuple[int, int]:
    if len(payload) != 5:
        raise ProtocolError("malformed ERROR payload")
    code, detail = struct.unpack("<BI", payload)
    return code, detail
