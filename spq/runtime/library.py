# SPDX-License-Identifier: MIT
"""Compile runtime_c + a generated model into a host shared library, cached by content hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from spq.errors import SpqError
from spq.paths import runtime_dir

# The warnings-as-errors flags of every spq C build (host library, firmware, tests): a
# warning in an export (an array that does not hold its initialisers, say) stops the build.
WARNING_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
BASE_FLAGS = [*WARNING_FLAGS, "-O2", "-fPIC", "-shared"]
SANITIZE_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=all"]

# Small C shim around the API: the batch loop runs in C, and the model symbol gets a fixed name.
SHIM = """\
#include <stddef.h>
#include "spq.h"

extern const spq_model_t {name}_model;

const spq_model_t *spqh_model(void) {{ return &{name}_model; }}
size_t spqh_ctx_size(void) {{ return sizeof(spq_ctx_t); }}
int spqh_layer_type(unsigned i) {{ return {name}_model.layers[i].type; }}

/* n inputs, in_stride bytes apart: logits (n x classes), spikes and synops (n x layers). */
int spqh_run_batch(spq_ctx_t *ctx, const uint8_t *inputs, size_t n, size_t in_stride,
                   int32_t *logits, uint32_t *spikes, uint32_t *synops)
{{
    size_t k;
    uint16_t l, L = ctx->model->num_layers, C = ctx->model->num_classes;
    for (k = 0; k < n; k++) {{
        spq_status_t st = spq_run(ctx, inputs + k * in_stride, logits + k * C);
        if (st != SPQ_OK) {{
            return (int)st;
        }}
        for (l = 0; l < L; l++) {{
            spikes[k * L + l] = spq_spike_count(ctx, l);
            synops[k * L + l] = spq_synop_count(ctx, l);
        }}
    }}
    return 0;
}}

/* Running totals of a stream: logits (classes), spikes and synops (layers). */
int spqh_totals(const spq_ctx_t *ctx, int32_t *logits, uint32_t *spikes, uint32_t *synops)
{{
    uint16_t l;
    for (l = 0; l < ctx->model->num_layers; l++) {{
        spikes[l] = spq_spike_count(ctx, l);
        synops[l] = spq_synop_count(ctx, l);
    }}
    return (int)spq_get_logits(ctx, logits);
}}
"""


def find_compiler() -> str:
    """The host C compiler: $CC, else cc, gcc or clang on PATH."""
    env = os.environ.get("CC")
    candidates = [env] if env else ["cc", "gcc", "clang"]
    for cand in candidates:
        path = shutil.which(cand)
        if path:
            return path
    raise SpqError(
        f"no C compiler found (looked for {', '.join(candidates)}); install gcc or set CC"
    )


def cache_root() -> Path:
    """Where built libraries are kept: $SPQ_CACHE_DIR, else ~/.cache/spq/build."""
    env = os.environ.get("SPQ_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spq" / "build"


def runtime_sources() -> list[Path]:
    src = runtime_dir() / "src"
    return sorted(src.glob("*.c"))


def _runtime_headers() -> list[Path]:
    return [runtime_dir() / "include" / "spq.h", *sorted((runtime_dir() / "src").glob("*.h"))]


def _hash(parts: list[str], files: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _compile(cmd: list[str], what: str, cc: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["(no output)"]
        first = next((ln for ln in lines if "error:" in ln),
                     next((ln for ln in lines if "error" in ln), lines[0]))
        raise SpqError(f"compiling {what} with {Path(cc).name} failed: {first.strip()}")


def _runtime_objects(cc: str, flags: list[str]) -> list[Path]:
    """runtime_c/src/*.c compiled once per (compiler, flags, sources), cached."""
    obj_flags = [f for f in flags if f != "-shared"]
    sources = runtime_sources()
    key = _hash([cc, " ".join(obj_flags)], [*sources, *_runtime_headers()])
    folder = cache_root() / f"runtime-{key}"
    objects = [folder / (src.stem + ".o") for src in sources]
    if all(obj.is_file() for obj in objects):
        return objects
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for src, obj in zip(sources, objects, strict=True):
            tmp_obj = Path(tmp) / obj.name
            _compile([cc, *obj_flags, "-I", str(runtime_dir() / "include"), "-c", str(src),
                      "-o", str(tmp_obj)], f"runtime_c/src/{src.name}", cc)
            os.replace(tmp_obj, obj)
    return objects


def build_model_library(out_dir: Path, name: str, *, sanitize: bool = False) -> Path:
    """Build (or reuse) the shared library of runtime_c + OUT/NAME.c; return its path."""
    model_c = out_dir / f"{name}.c"
    if not model_c.is_file():
        raise SpqError(f"{model_c} is missing: not a complete spq export")
    cc = find_compiler()
    flags = BASE_FLAGS + (SANITIZE_FLAGS if sanitize else [])
    shim = SHIM.format(name=name)
    objects = _runtime_objects(cc, flags)
    inputs = [*runtime_sources(), *_runtime_headers(), model_c]
    model_h = out_dir / f"{name}.h"
    if model_h.is_file():
        inputs.append(model_h)
    key = _hash([cc, " ".join(flags), shim], inputs)
    lib = cache_root() / key / f"libspq_{name}.so"
    if lib.is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        shim_c = Path(tmp) / "spq_host_shim.c"
        shim_c.write_text(shim)
        tmp_lib = Path(tmp) / lib.name
        _compile([cc, *flags, "-I", str(runtime_dir() / "include"), "-I", str(out_dir),
                  str(model_c), str(shim_c), *map(str, objects), "-o", str(tmp_lib)],
                 model_c.name, cc)
        os.replace(tmp_lib, lib)
    return lib
