# SPDX-License-Identifier: MIT
"""What this machine can do, found out by trying it, and what to install when it cannot.

Each :class:`Probe` does one thing the tests and commands rely on: compile and run a C
program with gcc or clang (plain and under AddressSanitizer + UndefinedBehaviorSanitizer),
link a Cortex-M program with newlib-nano for every board in the board table, start every
QEMU machine of that table and run a program to its semihosting exit, configure a CMake
project, run OpenOCD with every board's configuration files present. A probe that fails
names the Debian packages that provide the capability; setup (``python -m
spq.tools.toolchain --install``, run by ``make setup``) installs them with apt-get as root,
probes again, and otherwise stops with one ``error:`` line. Package names are never trusted
on their own: a package can be installed and the capability still missing (clang without its
sanitizer runtime), or the other way round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from spq.tools.boards import BOARDS, Board

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer", "-g")
ARM_CC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
PROBE_TIMEOUT = 60.0

HOST_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    int buf[8];
    memset(buf, 0, sizeof buf);
    buf[argc & 7] = argc + 41; /* argc is 1: buf[1] = 42 */
    (void)argv;
    printf("spq-probe %d\n", buf[1]);
    return buf[1] == 42 ? 0 : 1;
}
"""

# A bare Cortex-M program: a vector table, a reset handler that calls newlib-nano's memset
# and leaves through the semihosting SYS_EXIT call (QEMU exits with status 0).
ARM_PROGRAM = r"""
#include <stdint.h>
#include <string.h>
extern uint32_t __stack_top[];
void Reset_Handler(void);
__attribute__((section(".vectors"), used)) const uintptr_t probe_vectors[2] = {
    (uintptr_t)__stack_top, (uintptr_t)&Reset_Handler};
static volatile uint8_t probe_buf[16];
void Reset_Handler(void)
{
    memset((void *)probe_buf, 1, sizeof probe_buf);
    register uint32_t r0 __asm__("r0") = 0x18u;    /* SYS_EXIT */
    register uint32_t r1 __asm__("r1") = 0x20026u; /* ADP_Stopped_ApplicationExit */
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}
"""

CMAKE_PROJECT = "cmake_minimum_required(VERSION 3.13)\nproject(spq_probe C)\n"


@dataclass(frozen=True)
class Probe:
    """One capability: ``run(workdir)`` returns None when it works, else why not."""

    name: str
    run: Callable[[Path], str | None]
    packages: Callable[[], list[str]]  # Debian packages that provide it


@dataclass(frozen=True)
class Outcome:
    probe: Probe
    problem: str | None  # None: works
    seconds: float

    @property
    def ok(self) -> bool:
        return self.problem is None


def _run(cmd: Sequence[str], cwd: Path, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if ``cmd`` exits 0, else its last line of output (or why it did not start)."""
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        return f"{cmd[0]} not found"
    except subprocess.TimeoutExpired:
        return f"{Path(cmd[0]).name} did not finish within {timeout:.0f} s"
    if proc.returncode == 0:
        return None
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    tail = lines[-1].strip() if lines else "no output"
    return f"{Path(cmd[0]).name} exited with {proc.returncode}: {tail[:300]}"


def _major_version(cc: str, fallback: str) -> str:
    try:
        out = subprocess.run([cc, "-dumpversion"], capture_output=True, text=True, timeout=10,
                             check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return fallback
    return out.split(".")[0] if out[:1].isdigit() else fallback


def host_probe(cc: str, sanitize: bool) -> Probe:
    """Compile HOST_PROGRAM with ``cc`` (C99, warnings as errors), run it, read its line."""

    def run(tmp: Path) -> str | None:
        src = tmp / "probe.c"
        src.write_text(HOST_PROGRAM)
        exe = tmp / "probe"
        flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                 *(SANITIZE if sanitize else ("-O2",))]
        problem = _run([cc, *flags, str(src), "-o", str(exe)], tmp)
        if problem:
            return problem
        try:
            proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"the compiled program did not run: {exc}"
        if proc.returncode != 0 or "spq-probe 42" not in proc.stdout:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"the compiled program failed ({proc.returncode}): {tail[0][:300]}"
        return None

    def packages() -> list[str]:
        if cc == "gcc":
            return [f"libgcc-{_major_version('gcc', '12')}-dev"] if sanitize else ["gcc"]
        if sanitize and shutil.which("clang"):  # its version names the runtime package
            return [f"libclang-rt-{_major_version('clang', '14')}-dev"]
        return ["clang"]

    label = f"{cc} + asan/ubsan" if sanitize else cc
    return Probe(label, run, packages)


def _arm_link(board: Board, tmp: Path) -> tuple[Path, str | None]:
    from spq.tools.firmware import linker_script

    src = tmp / "probe.c"
    src.write_text(ARM_PROGRAM)
    ld = tmp / "link.ld"
    ld.write_text(linker_script(board))
    elf = tmp / "probe.elf"
    cmd = [ARM_CC, "-mthumb", *board.cpu_flags, "-O2", "-std=c99", "-Wall", "-Wextra",
           "-Werror", "-ffreestanding", str(src), f"-T{ld}", "-nostartfiles",
           "--specs=nano.specs", "-Wl,--gc-sections", "-o", str(elf), "-lgcc"]
    return elf, _run(cmd, tmp)


def arm_probe(board: Board) -> Probe:
    """Link a Cortex-M program with newlib-nano for ``board`` (its CPU flags and memory map)
    and, for a QEMU board, run it on the board's machine to its semihosting exit."""

    def run(tmp: Path) -> str | None:
        elf, problem = _arm_link(board, tmp)
        if problem or board.qemu_machine is None:
            return problem
        return _run([QEMU, "-M", board.qemu_machine, "-display", "none", "-monitor", "none",
                     "-nodefaults", "-semihosting-config", "enable=on,target=native",
                     "-kernel", str(elf)], tmp, timeout=20)

    def packages() -> list[str]:
        pkgs = ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi"]
        return [*pkgs, "qemu-system-arm"] if board.qemu_machine else pkgs

    what = f"qemu {board.qemu_machine}" if board.qemu_machine else f"link {board.name}"
    return Probe(f"{what} ({board.core})", run, packages)


def cmake_probe() -> Probe:
    def run(tmp: Path) -> str | None:
        (tmp / "CMakeLists.txt").write_text(CMAKE_PROJECT)
        return _run(["cmake", "-S", str(tmp), "-B", str(tmp / "build")], tmp)

    return Probe("cmake", run, lambda: ["cmake"])


def openocd_probe() -> Probe:
    """OpenOCD runs and has the interface and target configuration of every board of the
    table that names one (the flashing tests run it up to the missing probe)."""

    def run(tmp: Path) -> str | None:
        problem = _run(["openocd", "--version"], tmp)
        if problem:
            return problem
        scripts = Path("/usr/share/openocd/scripts")
        for b in BOARDS.values():
            for cfg in (b.openocd_interface, b.openocd_target):
                if cfg and not (scripts / cfg).is_file():
                    return f"OpenOCD has no {cfg} (board {b.name}) under {scripts}"
        return None

    return Probe("openocd", run, lambda: ["openocd"])


def default_probes() -> list[Probe]:
    """Everything `make test` needs: the host compilers with and without the sanitizers,
    CMake, OpenOCD, and every board of the board table (linked; run when it has a QEMU
    machine)."""
    probes = [host_probe(cc, san) for cc in ("gcc", "clang") for san in (False, True)]
    probes.append(cmake_probe())
    probes.append(openocd_probe())
    probes += [arm_probe(b) for b in BOARDS.values()]
    return probes


def run_probes(probes: Sequence[Probe], jobs: int = 4) -> list[Outcome]:
    """Run every probe (in parallel, each in a directory of its own)."""

    def one(probe: Probe) -> Outcome:
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="spq-probe-") as tmp:
            try:
                problem = probe.run(Path(tmp))
            except OSError as exc:
                problem = str(exc)
        return Outcome(probe, problem, time.monotonic() - start)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, probes))


def missing_packages(outcomes: Sequence[Outcome]) -> list[str]:
    pkgs: list[str] = []
    for o in outcomes:
        if not o.ok:
            pkgs += [p for p in o.probe.packages() if p not in pkgs]
    return pkgs


def apt_install(packages: Sequence[str], log: Callable[[str], None]) -> str | None:
    """Install ``packages`` with apt-get (root only); None on success, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("apt-get") is None:
        return "apt-get not found"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"setup: installing Debian packages: {' '.join(packages)}")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"{' '.join(cmd[:2])} failed: {tail[0]}"
    return None


def summary(outcomes: Sequence[Outcome]) -> str:
    bad = [o for o in outcomes if not o.ok]
    if not bad:
        return f"{len(outcomes)} capabilities work"
    return "; ".join(f"{o.probe.name}: {o.problem}" for o in bad)


Installer = Callable[[Sequence[str], Callable[[str], None]], "str | None"]


def ensure(install: bool, probes: Sequence[Probe] | None = None,
           log: Callable[[str], None] = print,
           installer: Installer = apt_install) -> tuple[list[Outcome], str | None]:
    """Probe; when ``install``, install what failing probes need and probe again (a package
    can reveal the next one: clang's version names its sanitizer runtime). Returns the last
    outcomes and, when an install was needed and could not run, why not."""
    probes = list(probes) if probes is not None else default_probes()
    outcomes = run_probes(probes)
    tried: set[str] = set()
    while install and not all(o.ok for o in outcomes):
        pkgs = [p for p in missing_packages(outcomes) if p not in tried]
        if not pkgs:
            return outcomes, None
        tried.update(pkgs)
        why = installer(pkgs, log)
        if why is not None:
            return outcomes, why
        outcomes = run_probes(probes)
    return outcomes, None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spq.tools.toolchain",
        description="Check, by trying them, the compilers, sanitizers, Cortex-M linker and "
                    "QEMU machines spq needs; --install installs what is missing.")
    parser.add_argument("--install", action="store_true",
                        help="install missing Debian packages with apt-get (as root)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per probe")
    args = parser.parse_args(argv)
    start = time.monotonic()
    outcomes, why = ensure(args.install)
    if args.verbose:
        for o in outcomes:
            print(f"{'ok  ' if o.ok else 'FAIL'} {o.probe.name:32} {o.seconds:5.2f} s"
                  + (f"  {o.problem}" if o.problem else ""))
    bad = [o for o in outcomes if not o.ok]
    if bad:
        pkgs = " ".join(missing_packages(bad))
        hint = f"could not install: {why}; " if why else ""
        print(f"error: missing {summary(bad)} ({hint}as root: apt-get install {pkgs})",
              file=sys.stderr)
        return 2
    if args.verbose:
        print(f"toolchain: {summary(outcomes)} ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
