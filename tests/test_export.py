# SPDX-License-Identifier: MIT
"""spq-export end to end: checkpoints from spq.nn.testing.random_model, the CLI, bad input,
the generated C (parsed back and compiled), the manifest and samples."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

import spq
import spq.nn as snn
from spq.commands import register
from spq.errors import SpqError
from spq.export import pipeline
from spq.export.loading import prepare
from spq.export.packing import pack_model
from spq.export.verify import sample_inputs, verify
from spq.ir import QMAX
from spq.nn.testing import random_model

ROOT = Path(__file__).resolve().parent.parent


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """spq"""

    register(app, "export")
    return app


APP = _app()


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(APP, ["export", *args])


def save(net: Any, path: Path) -> Path:
    spq.save(net, path)
    return path


# ------------------------------------------------------------------ parsing the C back


def c_arrays(source: str) -> dict[str, tuple[str, list[int]]]:
    out = {}
    # each array is followed by its compile-time size check (a negative-size typedef)
    for ctype, sym, body, n in re.findall(
        r"static const (u?int(?:8|32)_t) (\w+)\[\] = \{(.*?)\};\n"
        r"typedef char \2_must_have_(\d+)_values\n", source, re.S
    ):
        vals = [int(v, 0) for v in re.findall(r"-?(?:0x[0-9a-f]+|\d+)", body)]
        assert len(vals) == int(n), sym
        out[sym] = (ctype, vals)
    return out


def c_layer_fields(source: str) -> list[dict[str, str]]:
    table = source[source.index("_layers["):source.index("const spq_model_t")]
    blocks = re.findall(r"\{\s*/\* layer \d+ \*/(.*?)\n    \},", table, re.S)
    return [dict(re.findall(r"\.(\w+) = ([^,\n]+|\{[^}]*\}),", b)) for b in blocks]


def unpack_by_hand(data: list[int], rows: int, n: int, bits: int) -> np.ndarray:
    """spq.h's packing rule read back one value at a time (independent of spq.export)."""
    per = 8 // bits
    row_len = (n * bits + 7) // 8
    assert len(data) == rows * row_len
    out = np.zeros((rows, n), dtype=np.int64)
    for r in range(rows):
        for j in range(n):
            byte = data[r * row_len + j // per]
            field = (byte >> (bits * (j % per))) & ((1 << bits) - 1)
            out[r, j] = field - (1 << bits) if field >= 1 << (bits - 1) else field
    return out


def expected_pruned_weights(ir: Any) -> list[np.ndarray | None]:
    """Fold's weights with the pruned rows and the matching inputs removed (written here
    from the layer list, not with spq.export.shrink)."""
    out: list[np.ndarray | None] = []
    prev_kept = list(range(ir.input_shape[0]))
    prev_c = ir.input_shape[0]
    for la in ir.layers:
        if la.weight is None:
            out.append(None)
            continue
        w = la.weight.astype(np.int64)
        if w.ndim == 4:
            w = w[:, prev_kept]
        else:
            block = w.shape[1] // prev_c
            cols = [c * block + j for c in prev_kept for j in range(block)]
            w = w[:, cols]
        kept = la.kept_channels if la.neuron is not None and la.kept_channels is not None \
            else list(range(w.shape[0]))
        w = w[kept]
        out.append(w)
        prev_kept, prev_c = list(kept), la.weight.shape[0]
    return out


# ------------------------------------------------------------------ round trips

CASES = [
    # (seed, random_model keyword arguments)
    (101, {"weight_bits": 2, "conv": True, "prune": True, "input_kind": "events"}),
    (102, {"weight_bits": 4, "conv": True, "prune": True, "input_kind": "static"}),
    (103, {"weight_bits": 8, "conv": True, "prune": True, "pool": "max"}),
    (104, {"weight_bits": 4, "conv": True, "pool": "avg", "input_kind": "events"}),
    (105, {"weight_bits": 2, "conv": False, "prune": True, "input_kind": "static"}),
    (106, {"levels": 2, "conv": True, "pool": "avg", "prune": True}),
    (107, {"levels": 3, "conv": True, "pool": "max", "input_kind": "static"}),
    (108, {"levels": 5, "prune": True, "input_kind": "events"}),
    (109, {"levels": 16, "conv": True, "weight_bits": 8}),
    (110, {"levels": 256, "conv": False, "prune": True}),
    (111, {"levels": 7, "conv": True, "pool": "none", "prune": True, "input_kind": "static"}),
]


@pytest.mark.parametrize("seed,kw", CASES, ids=[str(c[0]) for c in CASES])
def test_export_round_trip(tmp_path: Path, seed: int, kw: dict[str, Any]) -> None:
    net = random_model(seed, **kw)
    model = save(net, tmp_path / f"net-{seed}.pt")
    out = tmp_path / "out"
    res = run_cli(str(model), "-o", str(out), "--verify", "6")
    assert res.exit_code == 0, res.stderr
    name = f"net_{seed}"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.h", f"{name}.c", "manifest.json", "samples.npz"]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    source = (out / f"{name}.c").read_text()
    header = (out / f"{name}.h").read_text()
    ir = snn.fold(net)

    # manifest: identity, shapes, verification
    assert manifest["name"] == name and manifest["generator"] == f"spq {spq.__version__}"
    import hashlib

    assert manifest["source"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert manifest["source"]["sha256"] in header and manifest["source"]["sha256"] in source
    assert manifest["verified"] == {"inputs": 6, "bit_exact": True, "seed": 0}
    assert manifest["time_steps"] == net.time_steps
    assert len(manifest["layers"]) == len(ir.layers)
    for rec, la in zip(manifest["layers"], ir.layers, strict=True):
        if la.neuron is not None and la.kept_channels is not None:
            assert rec["kept_channels"] == list(la.kept_channels)
            assert rec["pruned"] == la.out_shape[0] - len(la.kept_channels)
    if kw.get("weight_bits"):
        assert {r["weight_bits"] for r in manifest["layers"] if r["weight_bits"]} == {
            kw["weight_bits"]}
    if kw.get("levels"):
        assert {r["levels"] for r in manifest["layers"] if r["levels"]} == {kw["levels"]}
    mem = manifest["memory"]
    assert mem["arena_bytes"] == min(mem["arena_bytes_time"], mem["arena_bytes_layer"])
    assert f"#define {name}_ARENA_SIZE {mem['arena_bytes']}\n" in header

    # the packed weights in the C, decoded here, are fold's integers minus pruned channels
    arrays = c_arrays(source)
    fields = c_layer_fields(source)
    assert len(fields) == len(ir.layers)
    total = 0
    for i, (la, want) in enumerate(zip(ir.layers, expected_pruned_weights(ir), strict=True)):
        if want is None:
            assert fields[i]["weights"] == "NULL"
            continue
        ctype, data = arrays[f"{name}_l{i}_weights"]
        assert ctype == "uint8_t" and fields[i]["weights"] == f"{name}_l{i}_weights"
        out_c = want.shape[0]
        # conv rows [ci][ky][kx], linear rows [i]; columns: output channels
        rows = want.transpose(1, 2, 3, 0).reshape(-1, out_c) if want.ndim == 4 else want.T
        got = unpack_by_hand(data, rows.shape[0], out_c, la.weight_bits)
        np.testing.assert_array_equal(got, rows)
        assert int(fields[i]["weight_row_bytes"]) == (out_c * la.weight_bits + 7) // 8
        assert int(np.abs(got).max(initial=0)) <= QMAX[la.weight_bits]
        total += len(data)
        if la.neuron is not None:
            kept = la.kept_channels if la.kept_channels is not None else list(range(out_c))
            assert arrays[f"{name}_l{i}_mult"][1] == [int(v) for v in la.neuron.mult[kept]]
            assert arrays[f"{name}_l{i}_shift"][1] == [int(v) for v in la.neuron.shift[kept]]
            assert arrays[f"{name}_l{i}_bias"][1] == [int(v) for v in la.neuron.bias[kept]]
        else:
            assert la.readout_bias is not None
            assert arrays[f"{name}_l{i}_bias"][1] == [int(v) for v in la.readout_bias]
    assert total == mem["weights_bytes"]

    # samples.npz: the expected integers are eval-mode spq.nn's on the stored inputs
    s = np.load(out / "samples.npz")
    x = s["inputs"]
    assert x.dtype == np.uint8
    shape = manifest["input"]["shape"]
    assert list(x.shape) == [6, *shape]
    if net.input_kind == "events":
        assert shape == [net.time_steps, *net.input_shape] and int(x.max()) <= 1
    else:
        assert shape == list(net.input_shape)
    ref = net.run_int(torch.from_numpy(x))
    assert s["logits_int"].dtype == np.int64
    np.testing.assert_array_equal(s["logits_int"], ref.logits_int.numpy())
    np.testing.assert_array_equal(s["spike_counts"], ref.spike_counts.numpy())
    assert int(s["spike_counts"].sum()) > 0  # random_model is calibrated to spike


def test_pruning_removes_channels_and_keeps_integers(tmp_path: Path) -> None:
    net = random_model(120, conv=True, prune=True, pool="max")
    ir = snn.fold(net)
    pruned_total = sum(la.out_shape[0] - len(la.kept_channels) for la in ir.layers
                       if la.neuron is not None and la.kept_channels is not None)
    assert pruned_total > 0
    model = save(net, tmp_path / "p.pt")
    result = pipeline.export(model, tmp_path / "out", verify_n=12)
    full_bytes = pack_model(prepare(snn.fold(_unpruned(net)), "x")).weights_bytes
    assert result.packed.weights_bytes < full_bytes
    for la_full, la in zip(ir.layers, result.ir.layers, strict=True):
        if la_full.neuron is not None:
            assert la.out_shape[0] == len(la_full.kept_channels or range(la_full.out_shape[0]))
    assert result.manifest["verified"]["bit_exact"] is True


def _unpruned(net: Any) -> Any:
    import copy

    other = copy.deepcopy(net)
    for m in other.layers:
        if isinstance(m, (snn.QuantConv2d, snn.QuantLinear)):
            m.out_mask.fill_(1.0)
    return other


def test_verification_names_first_differing_layer_and_step(tmp_path: Path) -> None:
    net = random_model(121, conv=True, pool="max", input_kind="events")
    ir = prepare(snn.fold(net), "v")
    packed = pack_model(ir)
    x = sample_inputs(ir, 4, 0)
    verify(net, ir, packed, x)  # untouched: passes
    neurons = [i for i, la in enumerate(ir.layers) if la.neuron is not None]
    target = neurons[-1]
    bias = packed.layers[target].bias
    assert bias is not None
    bias[:] = 2**29  # every neuron of that layer now fires at step 0
    with pytest.raises(SpqError, match=rf"layer {target} \(.*\), time step 0"):
        verify(net, ir, packed, x)
    # a wrong weight nibble in the readout shows up in the logits
    packed = pack_model(ir)
    w = packed.layers[-1].weights
    assert w is not None
    w[:] = w ^ 0x11
    with pytest.raises(SpqError, match="logits differ"):
        verify(net, ir, packed, x)


def test_verify_zero_schedule_and_name(tmp_path: Path) -> None:
    model = save(random_model(122, conv=True), tmp_path / "m.pt")
    out = tmp_path / "o"
    res = run_cli(str(model), "-o", str(out), "--verify", "0", "--schedule", "layer",
                  "--name", "kws")
    assert res.exit_code == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["verified"]["bit_exact"] is None and manifest["verified"]["inputs"] == 0
    assert manifest["memory"]["schedule"] == "layer"
    assert manifest["memory"]["arena_bytes"] == manifest["memory"]["arena_bytes_layer"]
    assert "SPQ_SCHEDULE_LAYER" in (out / "kws.c").read_text()
    assert np.load(out / "samples.npz")["inputs"].shape[0] == 0
    res = run_cli(str(model), "-o", str(out), "--name", "9lives")
    assert res.exit_code == 2 and "not a C identifier" in res.stderr


# ------------------------------------------------------------------ the generated C


def test_generated_c_compiles_with_gcc_and_clang(tmp_path: Path) -> None:
    ccs = [cc for cc in ("gcc", "clang") if shutil.which(cc)]
    assert ccs, "gcc or clang is required"
    for seed, kw in ((130, {"input_kind": "static", "prune": True}),
                     (131, {"input_kind": "events", "pool": "avg"})):
        model = save(random_model(seed, conv=True, **kw), tmp_path / f"c{seed}.pt")
        out = tmp_path / f"out{seed}"
        assert run_cli(str(model), "-o", str(out), "--verify", "2").exit_code == 0
        for cc in ccs:
            proc = subprocess.run(
                [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
                 str(out / f"c{seed}.c"), "-I", str(ROOT / "runtime_c" / "include"),
                 "-o", str(tmp_path / f"c{seed}.{cc}.o")],
                capture_output=True, text=True, check=False,
            )
            assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        # the manifest's flash figure bounds what the tables take on a Cortex-M
        arm = shutil.which("arm-none-eabi-gcc")
        assert arm, "arm-none-eabi-gcc is required (make toolchain)"
        obj = tmp_path / f"c{seed}.arm.o"
        subprocess.run([arm, "-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-c",
                        str(out / f"c{seed}.c"), "-I", str(ROOT / "runtime_c" / "include"),
                        "-o", str(obj)], check=True)
        sizes = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True,
                               text=True, check=True).stdout
        rodata = sum(int(n) for sec, n in re.findall(r"^(\.rodata\S*)\s+(\d+)", sizes, re.M))
        const = json.loads((out / "manifest.json").read_text())["memory"]["const_bytes"]
        arrays = len(c_arrays((out / f"c{seed}.c").read_text())) + 1
        assert rodata <= const <= rodata + 4 * arrays, (rodata, const)


# ------------------------------------------------------------------ bad input


def _good_checkpoint(tmp_path: Path) -> Path:
    return save(random_model(140, conv=True), tmp_path / "good.pt")


def _payload(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


def _bad_spec(tmp_path: Path, edit: Any) -> Path:
    payload = _payload(_good_checkpoint(tmp_path))
    spec = json.loads(payload["spec"])
    edit(spec)
    payload["spec"] = json.dumps(spec)
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    return bad


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _make_bad(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A bad model file and a regex its error line must match."""
    if kind == "missing":
        return tmp_path / "nope.pt", "not found"
    if kind == "not_checkpoint":
        p = tmp_path / "text.pt"
        p.write_text("hello, I am not a checkpoint\n")
        return p, "not a (readable )?torch checkpoint|not a readable"
    if kind == "torch_not_spq":
        p = tmp_path / "plain.pt"
        torch.save({"weight": torch.zeros(3)}, p)
        return p, "not an spq checkpoint"
    if kind == "pickle_code":
        p = tmp_path / "evil.pt"
        with p.open("wb") as f:
            pickle.dump({"x": _Evil(tmp_path / "pwned")}, f, protocol=2)
        return p, "refused|not a readable"
    if kind == "truncated":
        good = _good_checkpoint(tmp_path)
        p = tmp_path / "trunc.pt"
        p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        return p, "truncated|corrupt|not a readable"
    if kind in ("nan", "inf"):
        payload = _payload(_good_checkpoint(tmp_path))
        key = next(k for k, v in payload["state_dict"].items()
                   if k.endswith("weight") and v.is_floating_point())
        payload["state_dict"][key].view(-1)[0] = float("nan") if kind == "nan" else float("inf")
        p = tmp_path / f"{kind}.pt"
        torch.save(payload, p)
        return p, "NaN or inf"
    if kind == "unsupported_layer":
        return _bad_spec(tmp_path, lambda s: s["layers"].insert(1, {"type": "Dropout"})), \
            "Dropout|unknown|unsupported"
    if kind == "layer_order":
        def pool_first(s: dict[str, Any]) -> None:
            s["layers"].insert(0, {"type": "MaxPool2d", "kernel_size": 2})
        return _bad_spec(tmp_path, pool_first), "pool|order|first"
    if kind == "bits":
        def bits(s: dict[str, Any]) -> None:
            next(la for la in s["layers"] if "weight_bits" in la)["weight_bits"] = 3
        return _bad_spec(tmp_path, bits), "weight_bits|bits"
    if kind == "levels":
        def levels(s: dict[str, Any]) -> None:
            next(la for la in s["layers"] if la["type"] == "QuantLIF")["levels"] = 300
        return _bad_spec(tmp_path, levels), "levels"
    if kind == "all_pruned":
        net = random_model(141, conv=True)
        first = net.synapses[0]
        first.set_out_mask([0.0] * first.out_mask.numel())
        return save(net, tmp_path / "empty.pt"), r"all \d+ channels are pruned"
    raise AssertionError(kind)


BAD = ["missing", "not_checkpoint", "torch_not_spq", "pickle_code", "truncated", "nan", "inf",
       "unsupported_layer", "layer_order", "bits", "levels", "all_pruned"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_is_one_error_line(tmp_path: Path, kind: str) -> None:
    model, pattern = _make_bad(kind, tmp_path)
    out = tmp_path / "out"
    res = run_cli(str(model), "-o", str(out))
    assert res.exit_code == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert not out.exists()
    assert not (tmp_path / "pwned").exists()  # the pickle's code never ran
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_output_that_is_a_file_or_foreign_dir(tmp_path: Path) -> None:
    model = _good_checkpoint(tmp_path)
    f = tmp_path / "file"
    f.write_text("keep me")
    res = run_cli(str(model), "-o", str(f))
    assert res.exit_code == 2 and "not a directory" in res.stderr
    assert f.read_text() == "keep me"
    # a directory of other files: the export's four files are added, nothing else touched
    foreign = tmp_path / "src"
    foreign.mkdir()
    (foreign / "main.c").write_text("int main(void) { return 0; }\n")
    res = run_cli(str(model), "-o", str(foreign), "--verify", "1")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in foreign.iterdir()) == [
        "good.c", "good.h", "main.c", "manifest.json", "samples.npz"]
    assert (foreign / "main.c").read_text() == "int main(void) { return 0; }\n"
    # ... unless a file of the same name is not from an earlier export: refused, untouched
    other = tmp_path / "other"
    other.mkdir()
    (other / "good.c").write_text("mine\n")
    res = run_cli(str(model), "-o", str(other))
    assert res.exit_code == 2 and "good.c exists and is not a file of an earlier spq-export" \
        in res.stderr
    assert [p.name for p in other.iterdir()] == ["good.c"]
    assert (other / "good.c").read_text() == "mine\n"


def test_existing_export_replaced_only_after_success(tmp_path: Path) -> None:
    model = _good_checkpoint(tmp_path)
    out = tmp_path / "out"
    assert run_cli(str(model), "-o", str(out), "--verify", "2").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "stale.txt").write_text("from an older export")
    bad, _ = _make_bad("nan", tmp_path)
    assert run_cli(str(bad), "-o", str(out)).exit_code == 2
    assert (out / "stale.txt").exists()  # untouched by the failure
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "stale.txt"} == before
    assert run_cli(str(model), "-o", str(out), "--verify", "2", "--name", "again").exit_code == 0
    # the earlier export's own files (unchanged) are replaced; stale.txt is not spq-export's
    assert sorted(p.name for p in out.iterdir()) == [
        "again.c", "again.h", "manifest.json", "samples.npz", "stale.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_board_check(tmp_path: Path) -> None:
    small = _good_checkpoint(tmp_path)
    out = tmp_path / "ok"
    res = run_cli(str(small), "-o", str(out), "--board", "mps3-an547", "--verify", "1")
    assert res.exit_code == 0, res.stderr
    board = json.loads((out / "manifest.json").read_text())["board"]
    assert board["name"] == "mps3-an547" and board["ram_needed"] <= board["ram_bytes"]
    # 32 x 64 x 64 neurons of 256 levels: 128 KiB of membrane alone; 8-bit 2048 x 300 weights
    big = snn.Sequential(
        snn.QuantConv2d(2, 32, 3, padding=1, weight_bits=8), snn.QuantLIF(levels=256),
        snn.MaxPool2d(2), snn.QuantConv2d(32, 2, 1), snn.QuantLIF(), snn.MaxPool2d(1),
        snn.Flatten(), snn.QuantLinear(2 * 32 * 32, 300, weight_bits=8), snn.QuantLIF(),
        snn.QuantLinear(300, 2),
        time_steps=2, input_kind="events", input_shape=(2, 64, 64),
    )
    big.eval()
    model = save(big, tmp_path / "big.pt")
    res = run_cli(str(model), "-o", str(tmp_path / "no"), "--board", "mps3-an547")
    assert res.exit_code == 2
    assert re.search(r"does not fit mps3-an547: flash: .* \d+ bytes over; RAM: .* \d+ bytes over",
                     res.stderr), res.stderr
    assert not (tmp_path / "no").exists()
    res = run_cli(str(small), "-o", str(tmp_path / "x"), "--board", "no-such-board")
    assert res.exit_code == 2 and res.stderr.startswith("error: ")


def test_spq_export_console_script(tmp_path: Path) -> None:
    model = _good_checkpoint(tmp_path)
    exe = Path(sys.executable).parent / "spq-export"
    proc = subprocess.run([str(exe), str(model), "-o", str(tmp_path / "o"), "--verify", "3"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "bit-exact" in proc.stdout and "good.h" in proc.stdout
    proc = subprocess.run([str(exe), str(tmp_path / "missing.pt"), "-o", str(tmp_path / "p")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_host_c_runtime_reproduces_samples(tmp_path: Path) -> None:
    """The generated C, compiled with runtime_c on the host, gives the integers stored in
    samples.npz (computed by the reference interpreter and checked against spq.nn), and its
    spq_arena_size() is the manifest's arena for both schedules."""
    from spq.runtime import HostModel

    for seed, kw in ((150, {"input_kind": "static", "prune": True, "pool": "avg"}),
                     (151, {"input_kind": "events", "prune": True, "pool": "max"})):
        model = save(random_model(seed, conv=True, **kw), tmp_path / f"h{seed}.pt")
        out = tmp_path / f"h{seed}"
        assert run_cli(str(model), "-o", str(out), "--verify", "8").exit_code == 0
        manifest = json.loads((out / "manifest.json").read_text())
        samples = np.load(out / "samples.npz")
        host = HostModel(out)
        for schedule in ("time", "layer"):
            assert host.arena_size(schedule) == manifest["memory"][f"arena_bytes_{schedule}"]
            got = host.run(samples["inputs"], schedule=schedule)
            np.testing.assert_array_equal(np.asarray(got.logits_int), samples["logits_int"])
            np.testing.assert_array_equal(np.asarray(got.spike_counts), samples["spike_counts"])
            np.testing.assert_array_equal(np.asarray(got.synops), samples["synops"])


# ------------------------------------------------ tables compiled only where they are read
@pytest.mark.parametrize("board,with_sums", [
    (None, True),  # the host, whose spq_init checks the sums
    ("mps2-an386", False), ("microbit", False), ("mps2-an505", False),
    ("mps3-an547", True),  # Helium reads them
])
def test_nibble_sums_are_compiled_only_for_helium_and_the_host(
        board: str | None, with_sums: bool, tmp_path: Path) -> None:
    """A kernel-3 16 -> 32 conv's weights_x: the weight bytes everywhere, the 18,432 B of
    nibble sums only where spq_conv_w4.c checks or reads them; the array's length check holds
    in both forms, and the bytes compiled are the exporter's."""
    from spq.export import tables
    from spq.export.render import render_c
    from spq.tools.boards import get_board
    from tests.test_runtime_fast import K3_CASES, k3_ir

    target = (["gcc"] if board is None else
              ["arm-none-eabi-gcc", "-mthumb", *get_board(board).cpu_flags])

    ir = k3_ir(K3_CASES[0], 300)
    packed = pack_model(ir)
    packed.layers = [tables.add_tables(la) for la in packed.layers]
    wx = packed.layers[0].weights_x
    assert wx is not None and tables.nibble_sums_apply(packed.layers[0])
    h_text, c_text = render_c(packed, [[] for _ in packed.layers], [], [])
    src = tmp_path / f"{ir.name}.c"
    src.write_text(c_text)
    (tmp_path / f"{ir.name}.h").write_text(h_text)
    obj = tmp_path / "m.o"
    proc = subprocess.run([*target, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                           "-O1", "-c", str(src), "-I", str(ROOT / "runtime_c" / "include"),
                           "-o", str(obj)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(obj, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        sym = next(s for s in symtab.iter_symbols() if s.name == f"{ir.name}_l0_weights_x")
        sec = elf.get_section(sym["st_shndx"])
        data = sec.data()[sym["st_value"]:sym["st_value"] + sym["st_size"]]
    weight_bytes = 16 * 9 * 32
    assert sym["st_size"] == (wx.nbytes if with_sums else weight_bytes)
    assert bytes(data) == wx.tobytes()[:sym["st_size"]]
    assert wx.nbytes == weight_bytes + 18_432
