# SPDX-License-Identifier: MIT
"""The serial protocol on the host side: CRC, framing, payload decoding, stream reading
(over pyserial's real loop:// port)."""

from __future__ import annotations

import binascii
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spq.tools import protocol as P
from spq.tools.transport import SerialTransport


def test_crc16_ccitt_false_check_value() -> None:
    # the catalogue check value of CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740)
    assert P.crc16_ccitt_false(b"123456789") == 0x29B1
    assert P.crc16_ccitt_false(b"") == 0xFFFF
    assert P.crc16_ccitt_false(b"A") == 0xB915


@given(st.binary(max_size=300))
def test_crc16_matches_binascii(data: bytes) -> None:
    # binascii.crc_hqx is the same polynomial, unreflected; with init 0xFFFF it is CCITT-FALSE
    assert P.crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)


def test_frame_layout_by_hand() -> None:
    frame = P.encode_frame(P.MSG_ECHO, 7, b"\x01\x02")
    body = bytes([1, P.MSG_ECHO, 7, 2, 0, 0, 0, 1, 2])
    assert frame == b"\xa5\x5a" + body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_round_trip(msg_type: int, seq: int, payload: bytes) -> None:
    data = P.encode_frame(msg_type, seq, payload)
    frame, used = P.decode_frame(data + b"trailing")
    assert used == len(data)
    assert (frame.type, frame.seq, frame.payload) == (msg_type, seq, payload)


@settings(max_examples=50)
@given(st.binary(min_size=1, max_size=40), st.data())
def test_any_single_bit_flip_is_detected(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(P.encode_frame(P.MSG_ECHO, 1, payload))
    # flip one bit anywhere after the sync bytes: version, header, payload or CRC
    pos = data.draw(st.integers(2, len(frame) - 1))
    frame[pos] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(P.ProtocolError):
        P.decode_frame(bytes(frame))


def test_decode_rejects_bad_version_and_truncation() -> None:
    good = P.encode_frame(P.MSG_HELLO, 3, b"abc")
    with pytest.raises(P.ProtocolError, match="version"):
        P.decode_frame(P.encode_frame(P.MSG_HELLO, 3, b"abc", version=2))
    with pytest.raises(P.ProtocolError, match="truncated"):
        P.decode_frame(good[:-1])
    with pytest.raises(P.ProtocolError, match="sync"):
        P.decode_frame(b"\x00" + good)


def loop() -> SerialTransport:
    return SerialTransport("loop://")


def test_read_frame_skips_garbage_before_sync() -> None:
    t = loop()
    t.write(b"\x00\xa5\x11\x5a" + P.encode_frame(P.MSG_INFO, 9, b"xyz"))
    frame = P.read_frame(t, time.monotonic() + 2)
    assert (frame.type, frame.seq, frame.payload) == (P.MSG_INFO, 9, b"xyz")


def test_read_frame_times_out_quickly_on_silence_and_truncation() -> None:
    t = loop()
    start = time.monotonic()
    with pytest.raises(P.DeviceTimeoutError):
        P.read_frame(t, time.monotonic() + 0.3)
    t.write(P.encode_frame(P.MSG_INFO, 1, b"0123456789")[:-3])  # the line dies mid-frame
    with pytest.raises(P.DeviceTimeoutError):
        P.read_frame(t, time.monotonic() + 0.3)
    assert time.monotonic() - start < 2.0


def test_read_frame_rejects_corrupt_reply() -> None:
    t = loop()
    frame = bytearray(P.encode_frame(P.MSG_INFO, 1, b"payload"))
    frame[12] ^= 0x40
    t.write(bytes(frame))
    with pytest.raises(P.ProtocolError, match="CRC"):
        P.read_frame(t, time.monotonic() + 2)
    t.write(P.encode_frame(P.MSG_INFO, 1, b"", version=9))
    with pytest.raises(P.ProtocolError, match="version"):
        P.read_frame(t, time.monotonic() + 2)
    # a length no device could send is refused before waiting for it
    t.write(b"\xa5\x5a" + struct.pack("<BBBI", 1, P.MSG_INFO, 1, P.MAX_REPLY_BYTES + 1))
    with pytest.raises(P.ProtocolError, match="implausible"):
        P.read_frame(t, time.monotonic() + 2)


def result_payload(logits: list[int], layers: list[tuple[int, int, int]]) -> bytes:
    head = struct.pack("<iBBHHHQI", 0, 0, 0, len(logits), len(layers), 0, 12345, 640)
    body = struct.pack(f"<{len(logits)}i", *logits)
    for spikes, synops, t in layers:
        body += struct.pack("<IIQ", spikes, synops, t)
    return head + body


def test_result_decoding() -> None:
    res = P.InferResult.decode(result_payload([-5, 7, 2**31 - 1], [(3, 40, 1000), (0, 9, 80)]))
    assert res.unit == "instructions"
    assert res.total == 12345 and res.stack_peak_bytes == 640
    assert res.logits_int == [-5, 7, 2**31 - 1]
    assert res.spike_counts == [3, 0] and res.synops == [40, 9]
    assert [layer.time for layer in res.layers] == [1000, 80]
    with pytest.raises(P.ProtocolError):
        P.InferResult.decode(result_payload([1], [(1, 1, 1)])[:-1])
    with pytest.raises(P.ProtocolError, match="stray"):
        P.InferResult.decode(result_payload([1], []) + b"\x00")


def test_info_decoding() -> None:
    head = struct.pack("<BBBBIIHHHIIIB", 1, 1, 0, 1, 4096, 784, 10, 5, 8, 16384, 784, 64_000_000, 3)
    info = P.DeviceInfo.decode(head + b"brd" + bytes([4]) + b"mnet")
    assert info.unit == "cycles" and info.timer_source == "dwt" and info.has_model
    assert (info.arena_bytes, info.input_bytes, info.num_classes) == (4096, 784, 10)
    assert (info.board, info.model, info.clock_hz) == ("brd", "mnet", 64_000_000)
    with pytest.raises(P.ProtocolError):
        P.DeviceInfo.decode(head + b"br")


class Replayer:
    """A loop:// port that answers every request with canned frames (written on request)."""

    def __init__(self, replies: list[bytes]) -> None:
        self.t = loop()
        self.replies = replies
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sent.append(data)
        for reply in self.replies:
            self.t.write(reply)
        self.replies = []

    def read(self, n: int, deadline: float) -> bytes:
        return self.t.read(n, deadline)


def test_client_skips_stale_replies_and_raises_device_errors() -> None:
    stale = P.encode_frame(P.MSG_ECHO_REPLY, 200, b"old")
    err_other = P.encode_frame(P.MSG_ERROR, 201, struct.pack("<BI", P.ERR_CRC, 0))
    fresh = P.encode_frame(P.MSG_ECHO_REPLY, 1, b"new")
    client = P.Client(Replayer([stale, err_other, fresh]), timeout=2)
    assert client.echo(b"new") == b"new"

    err = P.encode_frame(P.MSG_ERROR, 1, struct.pack("<BI", P.ERR_LENGTH, 256))
    client = P.Client(Replayer([err]), timeout=2)
    with pytest.raises(P.DeviceError) as info:
        client.echo(b"x" * 300)
    assert info.value.code == P.ERR_LENGTH and info.value.detail == 256
    assert "payload too long" in str(info.value)


def test_client_times_out_without_reply() -> None:
    client = P.Client(Replayer([]), timeout=0.3)
    start = time.monotonic()
    with pytest.raises(P.DeviceTimeoutError):
        client.hello()
    assert time.monotonic() - start < 1.5


def test_device_error_messages_name_the_status_and_fault() -> None:
    err = P.DeviceError(P.ERR_RUNTIME, (-4) & 0xFFFFFFFF, 1)
    assert "SPQ_ERR_MODEL (-4)" in str(err)
    err = P.DeviceError(P.ERR_FAULT, (1 << 28) | 0x20000, 0)
    assert "HardFault" in str(err) and "0x00020000" in str(err)
    assert "bad CRC" in str(P.DeviceError(P.ERR_CRC, 0x1234, 5))


class Noise:
    """A line that never goes quiet and never carries a sync pair."""

    def write(self, data: bytes) -> None:
        pass

    def read(self, n: int, deadline: float) -> bytes:
        return bytes([0x11, 0xA5, 0x00])[: max(1, min(n, 3))]


def test_endless_noise_does_not_hang_the_reader() -> None:
    start = time.monotonic()
    with pytest.raises(P.DeviceTimeoutError):
        P.read_frame(Noise(), time.monotonic() + 0.3)
    with pytest.raises(P.DeviceTimeoutError):
        P.Client(Noise(), timeout=0.3).hello()
    assert time.monotonic() - start < 2.0


def test_client_skips_errors_about_bytes_it_did_not_send() -> None:
    """Leftover bytes before a request make the device answer seq 0 (it could not read a
    seq): that error is not the request's. The request's own reply is returned; without one,
    the timeout names what the device said about the foreign bytes."""
    garbage_err = P.encode_frame(P.MSG_ERROR, 0, struct.pack("<BI", P.ERR_VERSION, 1))
    old_err = P.encode_frame(P.MSG_ERROR, 77, struct.pack("<BI", P.ERR_TIMEOUT, 12))
    fresh = P.encode_frame(P.MSG_ECHO_REPLY, 1, b"ok")
    client = P.Client(Replayer([garbage_err, old_err, fresh]), timeout=2)
    assert client.echo(b"ok") == b"ok"
    assert client.foreign_errors == 2
    assert client.last_foreign_error is not None and client.last_foreign_error.seq == 77
    client = P.Client(Replayer([garbage_err]), timeout=0.3)
    with pytest.raises(P.DeviceTimeoutError, match=r"did not send, seq 0: .*protocol version"):
        client.echo(b"lost")
    # a fault stops the device: reported whatever its seq
    fault = P.encode_frame(P.MSG_ERROR, 0, struct.pack("<BI", P.ERR_FAULT, 1 << 28))
    with pytest.raises(P.DeviceError, match="HardFault"):
        P.Client(Replayer([fault]), timeout=2).hello()


def test_header_mismatch_and_cut_frame_messages() -> None:
    err = P.DeviceError(P.ERR_MODEL_HEADER, (1 << 28) | 10, 3)
    assert "NAME_NUM_CLASSES" in str(err) and "descriptor's 10" in str(err)
    assert "NAME_ARENA_SIZE" in str(P.DeviceError(P.ERR_MODEL_HEADER, (4 << 28) | 4096, 3))
    assert "received 57 bytes" in str(P.DeviceError(P.ERR_TIMEOUT, 57, 9))


def test_host_constants_match_the_firmware_header() -> None:
    """Message types, error codes and header-mismatch macros: firmware/protocol.h and
    spq.tools.protocol give each the same number."""
    import re
    from pathlib import Path

    header = (Path(__file__).resolve().parent.parent / "firmware" / "protocol.h").read_text()
    defines = {k: int(v, 0) for k, v in re.findall(r"#define (\w+) (0x[0-9A-F]+|\d+)u", header)}
    errs = {k: v for k, v in defines.items() if k.startswith("ERR_")}
    msgs = {k: v for k, v in defines.items() if k.startswith("MSG_")}
    assert len(errs) == 10 and len(msgs) == 9
    for k, v in [*errs.items(), *msgs.items()]:
        assert getattr(P, k) == v, k
    assert set(P.ERROR_NAMES) == set(errs.values())
    macros = {v: k.removeprefix("MODEL_HEADER_") for k, v in defines.items()
              if k.startswith("MODEL_HEADER_")}
    assert macros == P.MODEL_HEADER_MACROS
    assert defines["PROTO_VERSION"] == P.VERSION
