# SPDX-License-Identifier: MIT
"""Setup's capability probe (spq.tools.toolchain): the same probe `make setup` runs, and its
answers when a capability is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from spq.tools import toolchain
from spq.tools.boards import BOARDS


def probe_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spq.tools.toolchain", *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_every_capability_works_here() -> None:
    """What setup checks is what the tests need: every probe passes on this machine."""
    proc = probe_cli("-v")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("ok", "FAIL"))]
    assert len(lines) == len(toolchain.default_probes())
    assert all(ln.startswith("ok") for ln in lines)


def test_probes_cover_compilers_sanitizers_and_every_board() -> None:
    names = [p.name for p in toolchain.default_probes()]
    for cc in ("gcc", "clang"):
        assert cc in names and f"{cc} + asan/ubsan" in names
    assert "openocd" in names  # the flashing tests run it up to the missing probe
    for board in BOARDS.values():
        what = f"qemu {board.qemu_machine}" if board.qemu_machine else f"link {board.name}"
        assert f"{what} ({board.core})" in names


def _shim(tmp: Path, name: str, body: str) -> dict[str, str]:
    """A PATH where ``name`` is a script with ``body`` (ahead of the real one)."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / name
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


def test_missing_sanitizer_runtime_is_named(tmp_path: Path) -> None:
    """clang that compiles but cannot link its sanitizer runtime (the fresh-machine failure):
    the probe fails only the sanitizer capability and names the runtime package."""
    real = shutil.which("clang")
    assert real is not None
    env = _shim(tmp_path, "clang", f"""case "$*" in
  *-fsanitize=*) echo "/usr/bin/ld: cannot find libclang_rt.asan_static-x86_64.a" >&2; exit 1;;
esac
exec {real} "$@"
""")
    proc = probe_cli(env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: missing clang + asan/ubsan")
    assert "libclang_rt.asan_static" in lines[0]
    assert "apt-get install libclang-rt-" in lines[0]
    assert "error: missing clang:" not in lines[0]  # plain clang still works


def test_broken_qemu_is_named(tmp_path: Path) -> None:
    env = _shim(tmp_path, "qemu-system-arm", 'echo "qemu: could not load kernel" >&2; exit 1\n')
    proc = probe_cli(env=env)
    assert proc.returncode == 2
    assert "qemu mps2-an386 (cortex-m4): qemu-system-arm exited with 1" in proc.stderr
    assert "qemu-system-arm" in proc.stderr.rsplit("apt-get install", 1)[1]


def test_install_round_follows_what_each_package_reveals(tmp_path: Path) -> None:
    """ensure(install=True) installs what the failing probes name, probes again, and keeps
    going while new packages are named (clang first, then the runtime its version names);
    it stops when an install cannot run."""
    installed: list[str] = []

    def probe(name: str, needs: str, pkg: str) -> toolchain.Probe:
        def run(_tmp: Path) -> str | None:
            return None if needs in installed else f"{needs} missing"
        return toolchain.Probe(name, run, lambda: [pkg])

    def b_packages() -> list[str]:  # "b" names pkg-a first (as clang+asan names clang)
        return ["pkg-b"] if "pkg-a" in installed else ["pkg-a"]

    probes = [probe("a", "pkg-a", "pkg-a"),
              toolchain.Probe("b", probe("b", "pkg-b", "").run, b_packages)]

    def installer(pkgs: Sequence[str], log: object) -> str | None:
        installed.extend(pkgs)
        return None

    outcomes, why = toolchain.ensure(True, probes, log=lambda _m: None, installer=installer)
    assert why is None and all(o.ok for o in outcomes)
    assert installed == ["pkg-a", "pkg-b"]

    def refusing(pkgs: Sequence[str], log: object) -> str | None:
        return "not root"
    installed.clear()
    outcomes, why = toolchain.ensure(True, probes, log=lambda _m: None, installer=refusing)
    assert why == "not root" and not any(o.ok for o in outcomes)
