# SPDX-License-Identifier: MIT
"""Fuzzing support shared by tests/test_fuzz.py (bounded, in the suite) and bench/fuzz.py
(long runs). No tests here.

* Frames against the real firmware under QEMU (:func:`fuzz_device`): bursts of random
  bytes, valid frames with random payloads and mutated ones (bad CRC, truncated, huge
  length, wrong version, stray sync bytes); after every burst the device must answer HELLO.
* Corrupted model descriptors against spq_init under ASan/UBSan
  (:func:`build_descriptor_fuzzer`, tests/c/fuzz_model.c): generated models (tests/support/
  modelgen.py) with mutated fields and arrays; spq_init refuses them or runs them without
  any out-of-bounds access.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spq.paths import runtime_dir
from spq.runtime.library import WARNING_FLAGS
from spq.tools import protocol as P
from spq.tools.runner import QemuRunner
from tests.support import modelgen

CDIR = Path(__file__).resolve().parent.parent / "c"  # tests/c: fuzz_model.c

SAN_FLAGS = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=all")
SAN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1"}
HELLO_SEQ = 0xEE  # the fuzz frames never use these two: the check's HELLO, and the frame
CUT_SEQ = 0xED  # cut short on purpose (the device must drop it by its inter-byte timeout)


# --------------------------------------------------------------------------- frames
def _random_frame(rng: np.random.Generator, cap: int, input_bytes: int) -> tuple[str, bytes]:
    """One fuzz item: (kind, bytes)."""
    seq = int(rng.integers(0, 256))
    if seq in (HELLO_SEQ, CUT_SEQ):
        seq = 0
    kind = str(rng.choice(["random", "valid", "valid", "bad_crc", "truncated", "huge_length",
                           "bad_version", "sync_garbage", "infer"]))
    if kind == "random":
        return kind, rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    if kind == "sync_garbage":
        n = int(rng.integers(1, 6))
        return kind, b"\xa5\x5a" * n + rng.integers(0, 256, int(rng.integers(0, 4)),
                                                    dtype=np.uint8).tobytes()
    if kind == "huge_length":
        length = int(rng.choice([cap + 1, 1 << 16, 1 << 31, 0xFFFFFFFF]))
        head = bytes([P.VERSION, P.MSG_ECHO, seq]) + length.to_bytes(4, "little")
        return kind, b"\xa5\x5a" + head
    msg = int(rng.choice([P.MSG_HELLO, P.MSG_ECHO, P.MSG_INFER, int(rng.integers(0, 256))]))
    if msg == P.MSG_BYE:
        msg = P.MSG_HELLO  # BYE stops the firmware: the one request the fuzz never sends
    size = input_bytes if kind == "infer" else int(rng.integers(0, cap + 1))
    payload = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    if kind == "infer":
        msg = P.MSG_INFER
    frame = bytearray(P.encode_frame(msg, seq, payload))
    if kind == "bad_crc":
        pos = int(rng.integers(2, len(frame)))
        frame[pos] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncated":
        frame = frame[: int(rng.integers(1, len(frame)))]
    elif kind == "bad_version":
        frame[2] = int(rng.choice([0, 2, 0x5A, 0xFF]))
    return kind, bytes(frame)


def _no_bye(data: bytes) -> bytes:
    """The burst with every header that could read as BYE made an ECHO (a BYE would stop
    the firmware, which is not what is being tested)."""
    return data.replace(b"\xa5\x5a\x01\x04", b"\xa5\x5a\x01\x03")


@dataclass
class FrameFuzzStats:
    bursts: int = 0
    frames: int = 0
    bytes_sent: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    hellos: int = 0
    cut_frames: int = 0
    faults: int = 0

    def summary(self) -> str:
        return (f"{self.frames} frames ({self.bytes_sent} bytes) in {self.bursts} bursts, "
                f"{self.hellos} HELLOs answered, {self.cut_frames} frames cut short and "
                f"dropped, faults: {self.faults}; kinds {dict(sorted(self.kinds.items()))}; "
                f"replies {dict(sorted(self.replies.items()))}")


def _read_until(runner: QemuRunner, stats: FrameFuzzStats, msg_type: int, seq: int,
                timeout: float) -> P.Frame:
    """Read device frames until one of `msg_type` with `seq`; a fault report, or no such
    frame within `timeout` seconds, fails the run."""
    assert runner.transport is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = P.read_frame(runner.transport, deadline)
        except P.DeviceTimeoutError:
            raise AssertionError(f"burst {stats.bursts}: no frame of type {msg_type:#04x} with "
                                 f"seq {seq} from the device in {timeout} s") from None
        if frame.type == P.MSG_ERROR:
            code = frame.payload[0] if frame.payload else -1
            stats.replies[f"error {P.ERROR_NAMES.get(code, code)}"] += 1
            if code == P.ERR_FAULT:
                stats.faults += 1
                raise AssertionError(f"the device faulted: {P.DeviceError(code, 0, frame.seq)}")
        else:
            stats.replies[f"{frame.type:#04x}"] += 1
        if frame.type == msg_type and frame.seq == seq:
            return frame


def fuzz_device(runner: QemuRunner, rng: np.random.Generator, bursts: int,
                frames_per_burst: int = 12, stats: FrameFuzzStats | None = None,
                seconds: float | None = None) -> FrameFuzzStats:
    """Send `bursts` bursts of fuzz frames (or as many as fit in `seconds`); after each the
    device must answer HELLO at the first request. A burst is followed by zero bytes enough
    to complete any frame it left open (they hold no sync pair), so that the HELLO is read
    as a frame. Every fourth burst then also sends a frame cut short (header and part of
    the payload, seq CUT_SEQ): the device must drop it by its inter-byte timeout and say so
    (ERR_TIMEOUT with that seq and the number of bytes it got) before the HELLO."""
    stats = stats or FrameFuzzStats()
    info = runner.client.hello()
    cap, input_bytes = info.max_payload, max(info.input_bytes, 1)
    assert runner.transport is not None
    end = time.monotonic() + seconds if seconds is not None else None
    for _ in range(bursts):
        if end is not None and time.monotonic() > end:
            break
        data = bytearray()
        for _ in range(int(rng.integers(1, frames_per_burst + 1))):
            kind, item = _random_frame(rng, cap, input_bytes)
            stats.kinds[kind] += 1
            stats.frames += 1
            data += item
        burst = _no_bye(bytes(data)) + bytes(cap + P.HEADER_BYTES + 2)
        stats.bytes_sent += len(burst)
        stats.bursts += 1
        runner.transport.write(burst)
        if stats.bursts % 4 == 2:
            length = int(rng.integers(1, cap + 1))
            frame = P.encode_frame(P.MSG_ECHO, CUT_SEQ, bytes(length))
            cut = int(rng.integers(5, len(frame) - 1))  # at least the seq, not the whole
            runner.transport.write(frame[:cut])
            stats.bytes_sent += cut
            got = _read_until(runner, stats, P.MSG_ERROR, CUT_SEQ, timeout=30.0)
            assert got.payload == bytes([P.ERR_TIMEOUT]) + (cut - 2).to_bytes(4, "little"), got
            stats.cut_frames += 1
        runner.transport.write(P.encode_frame(P.MSG_HELLO, HELLO_SEQ))
        _read_until(runner, stats, P.MSG_INFO, HELLO_SEQ, timeout=30.0)
        stats.hellos += 1
    return stats


# --------------------------------------------------------------------------- descriptors
def _compile(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"


def build_descriptor_fuzzer(tmp: Path, models: int, seed: int, cc: str = "gcc") -> Path:
    """tests/c/fuzz_model.c linked under ASan/UBSan with `models` random models from
    tests/support/modelgen.py (seeded by `seed`); returns the executable."""
    tmp.mkdir(parents=True, exist_ok=True)
    rt = runtime_dir()
    includes = ["-I", str(rt / "include"), "-I", str(rt / "src")]
    flags = [*WARNING_FLAGS, *SAN_FLAGS, *includes]
    rng = np.random.default_rng(seed)
    sources = []
    names = []
    for i in range(models):
        ir = modelgen.random_ir(rng, name=f"fz{i}")
        out = modelgen.write_export(ir, tmp / f"fz{i}", schedule=str(rng.choice(["time", "layer"])))
        sources.append(str(out / f"fz{i}.c"))
        flags += ["-I", str(out)]
        names.append(ir.name)
    table = tmp / "fuzz_models.c"
    table.write_text(
        '#include "spq.h"\n'
        + "".join(f"extern const spq_model_t {n}_model;\n" for n in names)
        + "const spq_model_t *const fuzz_models[] = {"
        + ", ".join(f"&{n}_model" for n in names) + "};\n"
        + f"const unsigned fuzz_num_models = {len(names)}u;\n"
    )
    exe = tmp / "fuzz_model"
    runtime = sorted(str(p) for p in (rt / "src").glob("*.c"))
    _compile([cc, *flags, str(CDIR / "fuzz_model.c"), str(table), *sources, *runtime,
              "-o", str(exe)])
    return exe


@dataclass
class DescriptorFuzzStats:
    models: int = 0
    tried: int = 0
    rejected: int = 0
    ran: int = 0
    skipped: int = 0
    crashes: int = 0

    def add(self, line: str) -> None:
        words = line.split()
        counts = dict(zip(words[::2], (int(v) for v in words[1::2]), strict=True))
        self.tried += counts["tried"]
        self.rejected += counts["rejected"]
        self.ran += counts["ran"]
        self.skipped += counts["skipped"]

    def summary(self) -> str:
        return (f"{self.tried} corrupted descriptors of {self.models} models: "
                f"{self.rejected} refused, {self.ran} accepted and run clean, "
                f"{self.skipped} accepted but too big to run; crashes: {self.crashes}")


def run_descriptor_fuzzer(exe: Path, seed: int, iterations: int,
                          stats: DescriptorFuzzStats) -> None:
    """One run of the fuzzer; a sanitizer report or a failed check raises AssertionError."""
    proc = subprocess.run([str(exe), str(seed), str(iterations)], capture_output=True,
                          text=True, check=False, env=SAN_ENV)
    if proc.returncode != 0:
        stats.crashes += 1
        raise AssertionError(f"{exe.name} seed {seed}: exit {proc.returncode}\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    stats.add(proc.stdout.strip().splitlines()[-1])
