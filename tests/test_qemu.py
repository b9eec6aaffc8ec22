# SPDX-License-Identifier: MIT
"""Bit-exactness of the firmware in QEMU against the host runtime on random exported models,
`spq qemu`, and the runner's handling of firmwares that hang or crash."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from spq.errors import SpqError
from spq.export.directory import open_export
from spq.runtime import HostModel
from spq.tools.boards import get_board, qemu_boards
from spq.tools.device import differences, host_reference, run_on_device
from spq.tools.firmware import build_firmware
from spq.tools.protocol import DeviceTimeoutError
from spq.tools.runner import QemuRunner
from tests.support import modelgen  # the hashes recomputed by hand (seal)
from tests.support.firmware import export_random, random_inputs

pytestmark = pytest.mark.qemu

# (seed, random_model options): static and event input, conv and linear-only models
MODELS = [
    (0, {"input_kind": "events"}),
    (1, {"input_kind": "static", "conv": False}),
    (3, {"input_kind": "static", "conv": True, "pool": "avg"}),
]
BOARDS = [b.name for b in qemu_boards()]  # every QEMU machine of the board table


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("qemu-models")
    return {seed: export_random(root, seed, **kw) for seed, kw in MODELS}


@pytest.mark.parametrize("board_name", BOARDS)
def test_bit_exact_against_host(
    board_name: str,
    models: dict[int, Path],
    fw_cache: Path,
) -> None:
    board = get_board(board_name)
    for seed, kw in MODELS:
        out = open_export(models[seed])
        x = random_inputs(seed, 3, **kw)
        run = run_on_device(out, board, x, timeout=30)
        assert run.info.model == out.name
        assert run.info.unit == "instructions"
        host = HostModel(out).run(x)
        for i, res in enumerate(run.results):
            assert res.logits_int == host.logits_int[i].tolist(), (board_name, seed, i)
            assert res.total > 0
        assert differences(run.results, host_reference(out, x), out) == []


def test_differences_reports_a_single_changed_count(
    models: dict[int, Path],
    fw_cache: Path,
) -> None:
    out = open_export(models[1])
    x = random_inputs(1, 2, input_kind="static", conv=False)
    run = run_on_device(out, get_board("mps2-an386"), x, timeout=30)
    host = host_reference(out, x)
    assert differences(run.results, host, out) == []
    host["logits_int"][1, 0] += 1
    problems = differences(run.results, host, out)
    assert len(problems) == 1 and problems[0].startswith("input 1: logits_int")


def spq_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spq", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_qemu_json_matches_spq_run_fields(
    static_model: Path,
    fw_cache: Path,
    tmp_path: Path,
) -> None:
    x = random_inputs(2, 1, input_kind="static", conv=True)[0]
    np.save(tmp_path / "x.npy", x)
    proc = spq_cli("qemu", str(static_model), "--input", str(tmp_path / "x.npy"), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    host = HostModel(static_model).run(x)
    assert got["logits_int"] == host.logits_int.tolist()
    assert got["spike_counts"] == host.spike_counts.tolist()
    assert got["synops"] == host.synops.tolist()
    assert got["pred"] == int(host.pred)
    assert got["logits"] == pytest.approx(host.logits.tolist())
    assert isinstance(got["instructions"], int) and got["instructions"] > 0
    assert got["board"] == "mps2-an386"


def test_cli_qemu_default_samples_and_m55(
    static_model: Path,
    fw_cache: Path,
) -> None:
    proc = spq_cli("qemu", str(static_model), "--board", "mps3-an547")
    assert proc.returncode == 0, proc.stderr
    assert "bit-exact" in proc.stdout


def test_cli_qemu_fails_loudly_on_a_difference(
    static_model: Path,
    fw_cache: Path,
    tmp_path: Path,
) -> None:
    # Tamper with the expected outputs the exporter stored: the device (and host) now
    # disagree with samples.npz, and `spq qemu` must say so with exit code 2.
    out = tmp_path / "tampered"
    out.mkdir()
    for f in static_model.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    with np.load(out / "samples.npz") as npz:
        samples = {k: npz[k] for k in npz.files}
    samples["logits_int"][0, 0] += 1
    np.savez(out / "samples.npz", **samples)
    proc = spq_cli("qemu", str(out))
    assert proc.returncode == 2  # the manifest's sha256 of samples.npz catches the edit
    assert "inconsistent export: samples.npz was changed after spq-export" in proc.stderr
    modelgen.seal(out)  # as if the exporter had written these expected outputs
    proc = spq_cli("qemu", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: mps2-an386 differs from the expected results")
    assert "input 0: logits_int device" in proc.stderr and "!= samples.npz" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_qemu_bad_inputs(static_model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "bad.npy", np.zeros((2, 3), dtype=np.uint8))
    proc = spq_cli("qemu", str(static_model), "--input", str(tmp_path / "bad.npy"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:")
    proc = spq_cli("qemu", str(static_model), "--board", "nucleo-f446re")
    assert proc.returncode == 2 and "no QEMU machine" in proc.stderr
    proc = spq_cli("qemu", str(static_model), "--board", "nope")
    assert proc.returncode == 2 and "known boards: mps2-an385" in proc.stderr
    proc = spq_cli("qemu", str(tmp_path / "missing"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:")


def test_silent_firmware_times_out_quickly(fw_cache: Path) -> None:
    board = get_board("mps2-an386")
    fw = build_firmware(board, variant="silent")
    start = time.monotonic()
    runner = QemuRunner(board, fw.elf, timeout=1.0)
    with pytest.raises(SpqError, match="timed out") as info, runner as r:
        r.hello()
    assert time.monotonic() - start < 6.0
    assert isinstance(info.value.__cause__, DeviceTimeoutError)
    assert "last bytes from the device: (none)" in str(info.value)


def test_crashing_firmware_reports_the_fault(fw_cache: Path) -> None:
    board = get_board("mps2-an386")
    fw = build_firmware(board, variant="crash")
    start = time.monotonic()
    runner = QemuRunner(board, fw.elf, timeout=5.0)
    with pytest.raises(SpqError, match="firmware fault") as info, runner as r:
        r.hello()
    assert time.monotonic() - start < 6.0
    assert "a5 5a" in str(info.value)  # the last bytes seen are quoted


def test_firmware_qemu_cannot_load_is_an_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not-an-elf.elf"
    bogus.write_bytes(b"\x7fELF garbage")
    start = time.monotonic()
    with pytest.raises(SpqError, match="qemu") as info, QemuRunner(
        get_board("mps2-an386"), bogus, timeout=3.0
    ) as r:
        r.hello()
    assert time.monotonic() - start < 10.0
    assert "mps2-an386" in str(info.value)
    with pytest.raises(SpqError, match="does not exist"):
        QemuRunner(get_board("mps2-an386"), tmp_path / "missing.elf")


def test_timer_wraps_are_counted(models: dict[int, Path], fw_cache: Path) -> None:
    # A SysTick period of 128 ticks (5120 instructions) makes every inference wrap the
    # counter several times; a lost or doubled wrap would be off by a whole period.
    board = get_board("mps2-an386")
    out = models[0]
    x = random_inputs(0, 3, input_kind="events")
    runs = []
    for flags in ((), ("-DFW_SYSTICK_RELOAD=0x7Fu",)):
        fw = build_firmware(board, out, extra_cflags=flags)
        with QemuRunner(board, fw.elf, timeout=10) as r:
            runs.append([r.client.infer(xi.tobytes()) for xi in x])
    period = 128 * 40
    for plain, wrapped in zip(*runs, strict=True):
        assert plain.total > 2 * period  # the short period really wraps
        assert abs(plain.total - wrapped.total) < 400  # interrupt overhead only
        for a, b in zip(plain.layers, wrapped.layers, strict=True):
            assert abs(a.time - b.time) < 400


def test_serial_runner_on_a_pty(static_model: Path, fw_cache: Path, tmp_path: Path) -> None:
    # QEMU can put the UART on a pseudo-terminal: the serial-board path (SerialRunner,
    # `spq profile --port`) then runs against the real firmware exactly as with a board.
    board = get_board("mps2-an386")
    fw = build_firmware(board, static_model)
    cmd = QemuRunner(board, fw.elf).command(0)
    cmd[cmd.index("-serial") + 1] = "pty"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        pty = ""
        for _ in range(10):
            line = proc.stdout.readline()
            if "redirected to /dev/pts/" in line:
                pty = line.split("redirected to ")[1].split()[0]
                break
        assert pty.startswith("/dev/pts/")
        res = spq_cli("profile", str(static_model), "--port", pty, "--json", "--limit", "1")
        assert res.returncode == 0, res.stderr
        prof = json.loads(res.stdout)
        assert prof["unit"] == "instructions" and prof["total"] > 0
        assert proc.poll() is None  # no BYE over a serial port: the board keeps running
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_spq_qemu_refuses_an_edited_header(static_model: Path, tmp_path: Path) -> None:
    """NAME.h's NUM_CLASSES edited to 9 (the issue's case): `spq qemu` fails with one line
    naming the macro, where the firmware used to HardFault; with the hashes recomputed too,
    the macro is still compared with the manifest."""
    out = tmp_path / "edited"
    shutil.copytree(static_model, out)
    name = json.loads((out / "manifest.json").read_text())["name"]
    header = out / f"{name}.h"
    text, n = re.subn(rf"#define {name}_NUM_CLASSES \d+", f"#define {name}_NUM_CLASSES 9",
                      header.read_text())
    assert n == 1
    header.write_text(text)
    for what in (f"{name}.h was changed", "NUM_CLASSES"):
        proc = spq_cli("qemu", str(out))
        assert proc.returncode == 2, proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
        assert what in lines[0] and "Traceback" not in proc.stderr
        modelgen.seal(out)


def _state(pid: int) -> str | None:
    """The process state letter from /proc (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_qemu_does_not_outlive_a_killed_parent(fw_cache: Path) -> None:
    """A parent holding a QemuRunner (as `spq qemu` does) killed with SIGKILL: its QEMU goes
    too, instead of spinning on under PID 1."""
    fw = build_firmware(get_board("mps2-an386"), variant="selftest")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from spq.tools.boards import get_board\n"
        "from spq.tools.runner import QemuRunner\n"
        "r = QemuRunner(get_board('mps2-an386'), Path(sys.argv[1]))\n"
        "r.start()\n"
        "r.client.hello()\n"
        "print(r.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(fw.elf)],
                              stdout=subprocess.PIPE, text=True)
    qemu_pid = 0
    try:
        assert parent.stdout is not None
        qemu_pid = int(parent.stdout.readline())
        assert _state(qemu_pid) not in (None, "Z")
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while _state(qemu_pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(qemu_pid) in (None, "Z"), "QEMU outlived its parent"
    finally:
        parent.kill()
        if qemu_pid and _state(qemu_pid) not in (None, "Z"):
            os.kill(qemu_pid, signal.SIGKILL)  # leave no QEMU behind when the test fails
