# SPDX-License-Identifier: MIT
"""The ctypes binding and `spq run`: input handling, build cache, sanitizer build, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import spq
from spq.runtime import HostModel
from tests.support import modelgen

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("spq-build")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPQ_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> dict[str, Path]:
    """One static and one event model written by the real exporter."""
    from spq.export import export
    from spq.nn.testing import random_model

    tmp = tmp_path_factory.mktemp("exports")
    outs = {}
    for kind, seed in (("static", 41), ("events", 42)):
        net = random_model(seed, input_kind=kind)
        spq.save(net, tmp / f"{kind}.pt")
        export(tmp / f"{kind}.pt", tmp / kind, name=f"{kind}_net", verify_n=4)
        outs[kind] = tmp / kind
    return outs


def _spq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spq", *args], capture_output=True,
                          text=True, check=False, env={**os.environ, **(env or {})})


def _assert_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- inputs
def test_input_shapes_and_dtypes(exports: dict[str, Path]) -> None:
    static, events = HostModel(exports["static"]), HostModel(exports["events"])
    samples = np.load(exports["events"] / "samples.npz")
    x = samples["inputs"]
    r_u8 = events.run(x)
    np.testing.assert_array_equal(r_u8.logits_int, samples["logits_int"])
    np.testing.assert_array_equal(r_u8.spike_counts, samples["spike_counts"])
    np.testing.assert_array_equal(r_u8.synops, samples["synops"])
    for dtype in (np.bool_, np.int64, np.float32):  # 0/1 in any numeric dtype
        np.testing.assert_array_equal(events.run(x.astype(dtype)).logits_int, r_u8.logits_int)
    assert events.run(x[:0]).logits_int.shape == (0, events.num_classes)
    bad = x.copy()
    bad[0, 0, 0, 0, 0] = 2
    with pytest.raises(spq.SpqError, match="only 0 and 1"):
        events.run(bad)
    with pytest.raises(spq.SpqError, match="shape"):
        events.run(x[:, :-1])
    with pytest.raises(spq.SpqError, match="shape"):
        static.run(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(spq.SpqError, match="dtype"):
        static.run(np.zeros(static.input_shape, dtype=np.int64))
    with pytest.raises(spq.SpqError, match="NaN"):
        static.run(np.full(static.input_shape, np.nan, dtype=np.float32))
    with pytest.raises(spq.SpqError, match="schedule"):
        static.run(np.zeros(static.input_shape, dtype=np.uint8), schedule="fast")
    with pytest.raises(spq.SpqError, match="frame"):
        events.step(x[0])  # a whole input is not one frame


def test_library_is_cached_and_rebuilt_when_sources_change(tmp_path: Path, cache: Path) -> None:
    ir = modelgen.random_ir(np.random.default_rng(5), name="cached")
    out = modelgen.write_export(ir, tmp_path / "o")
    first = HostModel(out).library_path
    stamp = first.stat().st_mtime_ns
    assert HostModel(out).library_path == first and first.stat().st_mtime_ns == stamp
    # a changed model source gives a new library with the new numbers
    src = (out / "cached.c").read_text()
    bias = ir.layers[-1].readout_bias
    assert bias is not None
    bias[0] += 1000
    modelgen.write_export(ir, out)
    assert (out / "cached.c").read_text() != src
    second = HostModel(out)
    assert second.library_path != first
    x = modelgen.random_input(np.random.default_rng(0), ir, 1)
    assert second.run(x).logits_int[0, 0] == modelgen.reference(ir, x[0])["logits_int"][0]


def test_sanitizer_build_runs_clean(exports: dict[str, Path], cache: Path) -> None:
    """sanitize=True: the library built with ASan+UBSan, loaded into a Python with libasan
    preloaded, runs both schedules on the samples with the recorded logits."""
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    libubsan = subprocess.run(["gcc", "-print-file-name=libubsan.so"], capture_output=True,
                              text=True, check=True).stdout.strip()
    code = (
        "import sys, numpy as np\n"
        "from spq.runtime import HostModel\n"
        "out = sys.argv[1]\n"
        "m = HostModel(out, sanitize=True)\n"
        "d = np.load(out + '/samples.npz')\n"
        "for s in ('time', 'layer'):\n"
        "    assert (m.run(d['inputs'], schedule=s).logits_int == d['logits_int']).all()\n"
        "print('clean', m.library_path)\n"
    )
    for kind in ("static", "events"):
        env = {**os.environ, "LD_PRELOAD": f"{libasan}:{libubsan}",
               "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "halt_on_error=1"}
        proc = subprocess.run([sys.executable, "-c", code, str(exports[kind])],
                              capture_output=True, text=True, check=False, env=env)
        assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr[-2000:]


# ----------------------------------------------------------------------------- spq run
def test_spq_run_json_single_and_batch(exports: dict[str, Path], tmp_path: Path,
                                       cache: Path) -> None:
    out = exports["static"]
    samples = np.load(out / "samples.npz")
    np.save(tmp_path / "one.npy", samples["inputs"][0])
    np.save(tmp_path / "batch.npy", samples["inputs"])
    one = _spq("run", str(out), "--input", str(tmp_path / "one.npy"), "--json")
    assert one.returncode == 0, one.stderr
    data = json.loads(one.stdout)
    assert data["logits_int"] == samples["logits_int"][0].tolist()
    assert data["pred"] == int(np.argmax(samples["logits_int"][0]))
    assert data["spike_counts"] == samples["spike_counts"][0].tolist()
    scale = json.loads((out / "manifest.json").read_text())["out_scale"]
    assert data["logits"] == [v * scale for v in data["logits_int"]]
    batch = _spq("run", str(out), "--input", str(tmp_path / "batch.npy"), "--json",
                 "--schedule", "layer")
    assert batch.returncode == 0, batch.stderr
    bdata = json.loads(batch.stdout)
    assert bdata["logits_int"] == samples["logits_int"].tolist()
    assert len(bdata["pred"]) == len(samples["inputs"])
    # float pixels in [0, 1] are quantized like spq.nn: q/255 gives q back
    np.save(tmp_path / "float.npy", samples["inputs"].astype(np.float32) / 255.0)
    fl = _spq("run", str(out), "--input", str(tmp_path / "float.npy"), "--json")
    assert json.loads(fl.stdout)["logits_int"] == samples["logits_int"].tolist()


def test_spq_run_without_input_checks_samples(exports: dict[str, Path], cache: Path) -> None:
    proc = _spq("run", str(exports["events"]))
    assert proc.returncode == 0, proc.stderr
    assert "identical to samples.npz" in proc.stdout
    assert proc.stdout.count("pred ") == len(np.load(exports["events"] / "samples.npz")["inputs"])


def test_spq_run_errors(exports: dict[str, Path], tmp_path: Path, cache: Path) -> None:
    out = exports["events"]
    x = np.load(out / "samples.npz")["inputs"]
    np.save(tmp_path / "twos.npy", x * 2)
    _assert_error(_spq("run", str(out), "--input", str(tmp_path / "twos.npy")), "0 and 1")
    np.save(tmp_path / "shape.npy", x[:, :, :, :-1])
    _assert_error(_spq("run", str(out), "--input", str(tmp_path / "shape.npy")), "shape")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _assert_error(_spq("run", str(out), "--input", str(tmp_path / "obj.npy")),
                  "holds Python objects")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    _assert_error(_spq("run", str(out), "--input", str(tmp_path / "junk.npy")),
                  "is not a .npy file (no NumPy header)")
    _assert_error(_spq("run", str(out), "--input", str(tmp_path / "nope.npy")), "no such file")
    np.save(tmp_path / "static_int.npy", np.zeros((1, 2, 3), dtype=np.int64))
    _assert_error(_spq("run", str(exports["static"]), "--input",
                       str(tmp_path / "static_int.npy")), "shape")
    _assert_error(_spq("run", str(tmp_path / "missing")), "not a directory")
    (tmp_path / "empty").mkdir()
    _assert_error(_spq("run", str(tmp_path / "empty")), "no manifest.json")
    # corrupted export folders
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ not json")
    _assert_error(_spq("run", str(broken)), "corrupted")
    (broken / "manifest.json").write_text(json.dumps({"name": "x"}))
    _assert_error(_spq("run", str(broken)), "not an spq-export manifest")
    manifest = json.loads((out / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps(manifest))
    name = manifest["name"]
    (broken / f"{name}.h").write_bytes((out / f"{name}.h").read_bytes())
    _assert_error(_spq("run", str(broken)), f"incomplete export: {name}.c is missing")
    (broken / f"{name}.c").write_text("this is not C\n")
    _assert_error(_spq("run", str(broken)), f"{name}.c was changed after spq-export")
    _assert_error(_spq("run", str(out), "--schedule", "fast"), "schedule")
    _assert_error(_spq("run", str(out), env={"CC": "/nonexistent/cc"}), "no C compiler")


def test_manifest_and_model_must_agree(exports: dict[str, Path], tmp_path: Path,
                                       cache: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exports["events"], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["num_classes"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(spq.SpqFormatError, match=r"manifest\.json was changed after spq-export"):
        HostModel(copy)
    # checksums recomputed over the edit: NAME.h's macros still disagree with it
    k = manifest["num_classes"]
    with pytest.raises(spq.SpqFormatError, match=f"says events_net_NUM_CLASSES {k - 1}, "
                       f"manifest.json {k}"):
        HostModel(modelgen.seal(copy))
    # a header without those macros: the C model descriptor disagrees
    ir = modelgen.random_ir(np.random.default_rng(12), name="agree")
    out = modelgen.write_export(ir, tmp_path / "agree")
    good = json.loads((out / "manifest.json").read_text())
    for edit, message in (
        (lambda m: m["layers"].append(m["layers"][-1]), "number of layers"),
        (lambda m: m["layers"][-1].update(type="linear"), "type of layer"),
        (lambda m: m.update(time_steps=m["time_steps"] + 1), "time_steps"),
    ):
        manifest = json.loads(json.dumps(good))
        edit(manifest)
        (out / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(spq.SpqFormatError, match=f"agree.c and manifest.json disagree on "
                           f"(the )?{message}"):
            HostModel(modelgen.seal(out))


def test_runtime_refuses_an_export_with_a_wrong_arena_size(tmp_path: Path, cache: Path) -> None:
    """spq_init checks the exporter's arena size against its own: a mismatch is an error."""
    ir = modelgen.random_ir(np.random.default_rng(11), name="arena")
    out = modelgen.write_export(ir, tmp_path / "o")
    src = (out / "arena.c").read_text()
    size = modelgen.memory.arena_bytes(ir, "time")
    assert f"{size}u}};" in src
    (out / "arena.c").write_text(src.replace(f"{size}u}};", f"{size + 4}u}};"))
    with pytest.raises(spq.SpqFormatError, match=r"arena\.c was changed after spq-export"):
        HostModel(out)
    model = HostModel(modelgen.seal(out))  # as if the exporter had written the wrong size
    with pytest.raises(spq.SpqFormatError, match="arena size disagree"):
        model.run(modelgen.random_input(np.random.default_rng(0), ir, 1))


# ----------------------------------------------------------------------------- edited exports
def _edited(export_dir: Path, tmp_path: Path, edit: Callable[[str, str], str]) -> Path:
    """A copy of an export whose NAME.c went through edit(source, name), its hashes
    recomputed (modelgen.seal): the checks behind the hash check are what is tested."""
    name = json.loads((export_dir / "manifest.json").read_text())["name"]
    copy = tmp_path / "edited"
    shutil.copytree(export_dir, copy)
    src = copy / f"{name}.c"
    src.write_text(edit(src.read_text(), name))
    return modelgen.seal(copy)


def _largest_weights(source: str, array: str = "weights") -> re.Match[str]:
    """The largest `array` (weights, or a kernel table: outcome, lut, weights_x, breaks...)
    of a generated NAME.c, with its size check if it has one."""
    arrays = list(re.finditer(rf"static const (u?int(?:8|32)_t) (\w+_l\d+_{array})\[\d*\] = "
                              r"\{\n(.*?)\n\};\n"
                              r"(typedef char \2_must_have_\d+_values\n.*?;\n)?", source, re.S))
    assert arrays, f"no {array} arrays in the generated C"
    return max(arrays, key=lambda m: len(m.group(3)))


def _drop_last_row(source: str, keep_check: bool, array: str = "weights") -> str:
    """The largest `array` without its last row of values (declared with `[]`, so that the
    array itself is shorter)."""
    m = _largest_weights(source, array)
    rows = m.group(3).split("\n")
    assert len(rows) > 1
    body = "\n".join(rows[:-1])
    check = m.group(4) or "" if keep_check else ""
    return (source[:m.start()] + f"static const {m.group(1)} {m.group(2)}[] = {{\n{body}\n}};\n"
            + check + source[m.end():])


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_host_build_uses_the_firmware_warning_flags(exports: dict[str, Path], tmp_path: Path,
                                                    cc: str, cache: Path) -> None:
    """The exporter's C builds warning-free with gcc and clang under -Werror -pedantic; an
    edited NAME.c that only warns is refused with one line naming the warning."""
    from spq.runtime.library import BASE_FLAGS
    from spq.tools.firmware import CFLAGS

    out = exports["static"]
    samples = np.load(out / "samples.npz")
    proc = _spq("run", str(out), "--json", env={"CC": cc})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["logits_int"] == samples["logits_int"].tolist()
    warns = _edited(out, tmp_path, lambda s, n: s + "static int spq_test_unused;\n")
    proc = _spq("run", str(warns), env={"CC": cc})
    _assert_error(proc, "failed")
    assert "spq_test_unused" in proc.stderr and "-Werror" in proc.stderr
    assert {"-Werror", "-pedantic", "-Wall", "-Wextra", "-std=c99"} <= set(BASE_FLAGS)
    assert {f for f in CFLAGS if f.startswith(("-W", "-std", "-pedantic"))} <= set(BASE_FLAGS)


def test_a_shortened_weight_array_fails_to_compile(exports: dict[str, Path], tmp_path: Path,
                                                    cache: Path) -> None:
    """The last row of values cut from a weight array: the generated size check stops the
    build with one line naming the array (before: zeros or an out-of-bounds read)."""
    out = _edited(exports["events"], tmp_path, lambda s, n: _drop_last_row(s, keep_check=True))
    sym = _largest_weights((exports["events"] / "events_net.c").read_text()).group(2)
    _assert_error(_spq("run", str(out)), f"{sym}_must_have_")


@pytest.mark.parametrize("array", ["weights", "outcome"])  # each table: test_runtime_fast.py
def test_runtime_refuses_arrays_shorter_than_the_shapes(exports: dict[str, Path],
                                                         tmp_path: Path, cache: Path,
                                                         array: str) -> None:
    """The same cut with the size check removed: the array's sizeof in the layer table is
    below what the shapes (and for a kernel table its table bits) address, and spq_init
    refuses the model instead of reading past the array (checked under ASan by the
    descriptor fuzz test, tests/test_fuzz.py)."""
    out = _edited(exports["events"], tmp_path,
                  lambda s, n: _drop_last_row(s, keep_check=False, array=array))
    with pytest.raises(spq.SpqFormatError, match="rejects model"):
        HostModel(out).run(np.load(out / "samples.npz")["inputs"])
    _assert_error(_spq("run", str(out)), "rejects model")
