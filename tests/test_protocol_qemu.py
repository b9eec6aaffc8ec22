# SPDX-License-Identifier: MIT
"""The protocol against the real firmware in QEMU: corrupt frames get error frames, the
device resynchronises (after garbage, leftover sync bytes, or a frame cut short), the model
harness checks input sizes and its header against the model descriptor."""

from __future__ import annotations

import json
import re
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from spq.export.directory import open_export
from spq.tools import protocol as P
from spq.tools.boards import get_board
from spq.tools.firmware import build_firmware
from spq.tools.runner import QemuRunner

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def selftest(fw_cache: Path) -> Iterator[QemuRunner]:
    board = get_board("mps2-an386")
    fw = build_firmware(board, variant="selftest")
    with QemuRunner(board, fw.elf, timeout=5) as runner:
        yield runner


def raw_reply(runner: QemuRunner, data: bytes, timeout: float = 5.0) -> P.Frame:
    assert runner.transport is not None
    runner.transport.write(data)
    return P.read_frame(runner.transport, time.monotonic() + timeout)


def error_of(frame: P.Frame) -> tuple[int, int]:
    assert frame.type == P.MSG_ERROR
    code, detail = struct.unpack("<BI", frame.payload)
    return code, detail


def test_hello_reports_the_selftest_firmware(selftest: QemuRunner) -> None:
    info = selftest.client.hello()
    assert info.protocol_version == P.VERSION
    assert info.board == "mps2-an386"
    assert not info.has_model and info.model == ""
    assert info.unit == "instructions" and info.timer_source == "systick"
    assert info.max_payload == 256 and info.clock_hz == 25_000_000
    assert info.stack_bytes == get_board("mps2-an386").stack_size


def test_echo_round_trips(selftest: QemuRunner) -> None:
    rng = np.random.default_rng(5)
    for n in (0, 1, 37, 256):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert selftest.client.echo(data) == data
    # sync bytes inside a payload do not confuse the device
    assert selftest.client.echo(b"\xa5\x5a" * 20) == b"\xa5\x5a" * 20


def test_bad_crc_gets_crc_error_then_device_recovers(selftest: QemuRunner) -> None:
    frame = bytearray(P.encode_frame(P.MSG_ECHO, 42, b"hello"))
    frame[-1] ^= 0xFF
    reply = raw_reply(selftest, bytes(frame))
    assert reply.seq == 42
    code, detail = error_of(reply)
    good_crc = P.crc16_ccitt_false(bytes(frame[2:-2]))
    assert code == P.ERR_CRC and detail == good_crc  # the device reports the CRC it computed
    frame = bytearray(P.encode_frame(P.MSG_ECHO, 43, b"hello"))
    frame[12] ^= 0x01  # a payload bit
    assert error_of(raw_reply(selftest, bytes(frame)))[0] == P.ERR_CRC
    assert selftest.client.echo(b"still alive") == b"still alive"


def test_bad_length_gets_length_error(selftest: QemuRunner) -> None:
    header = b"\xa5\x5a" + struct.pack("<BBBI", P.VERSION, P.MSG_ECHO, 7, 10_000)
    reply = raw_reply(selftest, header)
    assert reply.seq == 7
    assert error_of(reply) == (P.ERR_LENGTH, 256)
    assert selftest.client.echo(b"after") == b"after"


def test_bad_version_gets_version_error(selftest: QemuRunner) -> None:
    reply = raw_reply(selftest, P.encode_frame(P.MSG_HELLO, 9, b"", version=2))
    assert error_of(reply) == (P.ERR_VERSION, P.VERSION)
    selftest.transport.drain(quiet=0.1)  # type: ignore[union-attr]
    assert selftest.client.hello().board == "mps2-an386"


def test_unknown_type_and_no_model(selftest: QemuRunner) -> None:
    assert error_of(raw_reply(selftest, P.encode_frame(0x55, 3, b""))) == (P.ERR_TYPE, 0x55)
    with pytest.raises(P.DeviceError) as info:
        selftest.client.infer(b"\x00" * 16)
    assert info.value.code == P.ERR_NO_MODEL


def test_garbage_between_frames_is_skipped(selftest: QemuRunner) -> None:
    garbage = bytes(range(0, 250, 7))  # contains 0xA5 but never 0xA5 0x5A
    reply = raw_reply(selftest, garbage + P.encode_frame(P.MSG_ECHO, 11, b"ok"))
    assert (reply.type, reply.seq, reply.payload) == (P.MSG_ECHO_REPLY, 11, b"ok")


def test_model_harness_checks_input_size_and_crc(static_model: Path) -> None:
    board = get_board("mps2-an386")
    fw = build_firmware(board, static_model)
    with QemuRunner(board, fw.elf, timeout=10) as runner:
        info = runner.client.hello()
        assert info.has_model and info.input_bytes > 0
        with pytest.raises(P.DeviceError) as err:
            runner.client.infer(b"\x01" * (info.input_bytes - 1))
        assert err.value.code == P.ERR_INPUT_SIZE and err.value.detail == info.input_bytes
        frame = bytearray(P.encode_frame(P.MSG_INFER, 77, b"\x03" * info.input_bytes))
        frame[20] ^= 0x10
        reply = raw_reply(runner, bytes(frame))
        assert reply.seq == 77 and error_of(reply)[0] == P.ERR_CRC
        res = runner.client.infer(b"\x03" * info.input_bytes)
        assert res.status == 0 and len(res.logits_int) == info.num_classes


# ------------------------------------------------------------------ frames cut short
def test_half_an_infer_is_dropped_after_the_inter_byte_timeout(static_model: Path) -> None:
    """A host that dies mid-frame: the device drops the frame once no byte has come for
    FW_RX_GAP_MS of its timer, says so for that seq, and answers the next HELLO."""
    board = get_board("mps2-an386")
    fw = build_firmware(board, static_model)
    with QemuRunner(board, fw.elf, timeout=10) as runner:
        info = runner.client.hello()
        frame = P.encode_frame(P.MSG_INFER, 90, b"\x01" * info.input_bytes)
        half = len(frame) // 2
        start = time.monotonic()
        reply = raw_reply(runner, frame[:half], timeout=30)
        assert (reply.seq, error_of(reply)) == (90, (P.ERR_TIMEOUT, half - 2))
        assert time.monotonic() - start < 30
        assert runner.client.hello().board == "mps2-an386"
        # the same without reading the device's notice: the host's HELLO is answered, the
        # notice (about a seq this client did not send) is skipped and counted
        runner.transport.write(frame[:half])  # type: ignore[union-attr]
        port = runner.transport.port  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while not port.in_waiting and time.monotonic() < deadline:
            time.sleep(0.05)  # wait for the notice: then the device is hunting again
        foreign = runner.client.foreign_errors
        assert runner.client.hello().model == info.model
        assert runner.client.foreign_errors == foreign + 1
        res = runner.client.infer(b"\x01" * info.input_bytes)
        assert res.status == 0 and len(res.logits_int) == info.num_classes


def test_a_header_cut_short_is_dropped_silently(selftest: QemuRunner) -> None:
    """Cut before its seq, a frame has nobody to answer: the device drops it and resumes."""
    runner = selftest
    runner.transport.write(b"\xa5\x5a\x01\x03")  # type: ignore[union-attr]
    time.sleep(5.0)  # 20 virtual ms take about 0.7 s of real time (docs/boards.md)
    assert runner.transport.drain(quiet=0.3) == b""  # type: ignore[union-attr]
    assert runner.client.echo(b"after a cut header") == b"after a cut header"


def test_leftover_sync_bytes_do_not_swallow_or_fail_the_next_request(
    selftest: QemuRunner,
) -> None:
    """Sync bytes left on the line before a request (a host that died after two bytes): the
    device starts over at the request's own sync pair and answers it; an error about
    garbage (seq 0) is not blamed on the request."""
    runner = selftest
    runner.transport.write(b"\xa5\x5a")  # type: ignore[union-attr]
    assert runner.client.hello().board == "mps2-an386"
    runner.transport.write(b"\xa5\x5a\xa5\x5a\xa5")  # type: ignore[union-attr]
    assert runner.client.echo(b"x") == b"x"
    foreign = runner.client.foreign_errors
    runner.transport.write(b"\xa5\x5a\x07")  # type: ignore[union-attr] (a bad version byte)
    assert runner.client.echo(b"y") == b"y"
    assert runner.client.foreign_errors == foreign + 1
    err = runner.client.last_foreign_error
    assert err is not None and (err.seq, err.code) == (0, P.ERR_VERSION)


# ------------------------------------------------------------------ NAME.h vs NAME.c
@pytest.mark.parametrize("macro", ["NUM_CLASSES", "NUM_LAYERS", "INPUT_BYTES", "ARENA_SIZE"])
def test_firmware_refuses_a_header_that_disagrees_with_the_descriptor(
    static_model: Path,
    tmp_path: Path,
    macro: str,
) -> None:
    """NAME.h edited (its macros size the harness's buffers): the firmware answers every
    request, HELLO included, with ERR_MODEL_HEADER naming the macro, instead of running the
    model into a HardFault or reading past its buffers. spq's own readers refuse such an
    export before building (tests/test_export_dir.py); this is the second line, for a user
    whose own build picks up an edited header: the export is opened (checked) first and
    edited after."""
    out = tmp_path / "edited"
    shutil.copytree(static_model, out)
    export = open_export(out)
    name = json.loads((out / "manifest.json").read_text())["name"]
    header = (out / f"{name}.h").read_text()
    m = re.search(rf"#define {name}_{macro} (\d+)", header)
    assert m is not None
    value = int(m.group(1))
    wrong = value - 1 if macro == "NUM_CLASSES" else value + 4
    (out / f"{name}.h").write_text(header.replace(m.group(0), f"#define {name}_{macro} {wrong}"))
    board = get_board("mps2-an386")
    fw = build_firmware(board, export)
    with QemuRunner(board, fw.elf, timeout=10) as runner:
        for request in (runner.client.hello, lambda: runner.client.infer(b"\x00" * 8)):
            with pytest.raises(P.DeviceError) as err:
                request()
            assert err.value.code == P.ERR_MODEL_HEADER
            assert P.MODEL_HEADER_MACROS[err.value.detail >> 28] == macro
            assert err.value.detail & 0x0FFFFFFF == value  # the descriptor's value
            assert f"NAME_{macro}" in str(err.value)
