# SPDX-License-Identifier: MIT
"""The C runtime on its own: C unit tests (gcc and clang, plain and under ASan/UBSan), whole
generated models under the sanitizers, warnings-as-errors builds for Cortex-M, CMake."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support import modelgen

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime_c"
CDIR = Path(__file__).resolve().parent / "c"

WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SAN = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
       "-fno-sanitize-recover=all"]
SOURCES = sorted(str(p) for p in (RUNTIME / "src").glob("*.c"))
INCLUDES = ["-I", str(RUNTIME / "include"), "-I", str(RUNTIME / "src")]
SAN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1"}


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_c_unit_tests(cc: str, sanitize: bool, tmp_path: Path) -> None:
    exe = tmp_path / "test_runtime"
    flags = WARN + (SAN if sanitize else ["-O2"])
    _run([cc, *flags, *INCLUDES, str(CDIR / "test_runtime.c"), *SOURCES, "-o", str(exe)])
    proc = _run([str(exe)], env=SAN_ENV)
    last = proc.stdout.strip().splitlines()[-1]
    checks, failures = int(last.split()[0]), int(last.split()[2])
    assert failures == 0 and checks > 20000, proc.stdout


def _driver_inputs(tmp: Path, x: np.ndarray, logits: np.ndarray, spikes: np.ndarray) -> list[str]:
    (tmp / "in.bin").write_bytes(np.ascontiguousarray(x, dtype=np.uint8).tobytes())
    (tmp / "logits.bin").write_bytes(np.ascontiguousarray(logits, dtype="<i4").tobytes())
    (tmp / "spikes.bin").write_bytes(np.ascontiguousarray(spikes, dtype="<i4").tobytes())
    return [str(tmp / "in.bin"), str(tmp / "logits.bin"), str(tmp / "spikes.bin"), str(len(x))]


def _sanitized_objects(tmp: Path, defines: tuple[str, ...] = ()) -> list[str]:
    objs = []
    for src in SOURCES:
        obj = tmp / (Path(src).stem + ".o")
        _run(["gcc", *WARN, *SAN, *INCLUDES, *defines, "-c", src, "-o", str(obj)])
        objs.append(str(obj))
    return objs


def _run_driver(objs: list[str], out: Path, name: str, args: list[str]) -> str:
    exe = out / "run_model"
    _run(["gcc", *WARN, *SAN, *INCLUDES, "-I", str(out), f"-DSPQ_MODEL={name}_model",
          str(CDIR / "run_model.c"), str(out / f"{name}.c"), *objs, "-o", str(exe)])
    proc = _run([str(exe), *args], env=SAN_ENV)
    assert "0 failures" in proc.stdout, proc.stdout
    return proc.stdout


def test_random_models_under_sanitizers(tmp_path: Path) -> None:
    """Whole models (every layer kind, both schedules, streaming) are ASan/UBSan clean and
    give the independent reference's logits and spike counts."""
    objs = _sanitized_objects(tmp_path)
    kinds: set[str] = set()
    for seed in range(8):
        rng = np.random.default_rng(1020 + seed)
        ir = modelgen.random_ir(rng, name=f"san{seed}",
                                input_kind="static" if seed % 2 else "events")
        kinds.update(layer.type for layer in ir.layers)
        out = modelgen.write_export(ir, tmp_path / f"m{seed}")
        x = modelgen.random_input(rng, ir, 3)
        refs = [modelgen.reference(ir, xi) for xi in x]
        neuron = [i for i, layer in enumerate(ir.layers) if layer.neuron is not None]
        logits = np.stack([r["logits_int"] for r in refs])
        spikes = np.stack([r["spikes"][neuron] for r in refs]).reshape(len(x), len(neuron))
        _run_driver(objs, out, ir.name, _driver_inputs(out, x, logits, spikes))
    assert kinds == {"conv", "linear", "maxpool", "sumpool", "readout", "spike_readout"}


def test_exported_model_under_sanitizers(tmp_path: Path) -> None:
    """A model written by spq-export, run under the sanitizers on its samples.npz."""
    import spq
    from spq.export import export
    from spq.nn.testing import random_model

    objs = _sanitized_objects(tmp_path)
    for seed, kind in ((3, "static"), (4, "events")):
        net = random_model(seed, input_kind=kind, pool="avg", prune=True)
        spq.save(net, tmp_path / f"m{seed}.pt")
        out = tmp_path / f"out{seed}"
        export(tmp_path / f"m{seed}.pt", out, name=f"exp{seed}", verify_n=6)
        samples = np.load(out / "samples.npz")
        args = _driver_inputs(out, samples["inputs"], samples["logits_int"],
                              samples["spike_counts"])
        stdout = _run_driver(objs, out, f"exp{seed}", args)
        assert stdout.splitlines()[-1].startswith("6 inputs")


ALLOWED_EXTERNALS = {"memset", "memcpy"}


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0", "cortex-m55"])
def test_builds_for_cortex_m_without_libc(cpu: str, tmp_path: Path) -> None:
    """-Werror build for Cortex-M; the only external symbols are memset/memcpy and libgcc's
    integer helpers (no float helpers, no other libc)."""
    undefined: set[str] = set()
    for src in SOURCES:
        obj = tmp_path / (Path(src).stem + ".o")
        _run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-O2", *WARN, *INCLUDES, "-c",
              src, "-o", str(obj)])
        nm = _run(["arm-none-eabi-nm", "-u", str(obj)]).stdout.split()
        undefined.update(s for s in nm if s != "U")
    defined = set()
    for obj in tmp_path.glob("*.o"):
        defined.update(line.split()[-1] for line in
                       _run(["arm-none-eabi-nm", "--defined-only", str(obj)]).stdout.splitlines())
    external = undefined - defined
    libgcc_int = {s for s in external if s.startswith("__") and not any(
        f in s for f in ("fadd", "fmul", "fdiv", "dadd", "dmul", "ddiv", "f2", "d2", "i2f",
                         "i2d", "fcmp", "dcmp", "float"))}
    assert external - libgcc_int <= ALLOWED_EXTERNALS, external


def test_cmake_builds_the_library(tmp_path: Path) -> None:
    cmake = shutil.which("cmake")
    assert cmake, "cmake is needed to check runtime_c/CMakeLists.txt"
    build = tmp_path / "build"
    _run([cmake, "-S", str(RUNTIME), "-B", str(build), "-DCMAKE_C_COMPILER=gcc"])
    _run([cmake, "--build", str(build)])
    assert list(build.glob("libspq.a"))
