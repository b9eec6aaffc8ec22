# SPDX-License-Identifier: MIT
"""NIR import and export (spq.interop.nir, `spq import`, `spq export-nir`, `spq train --init`).

* simulate: NIR's semantics checked by hand (IF and LIF step by step, v > threshold);
* hand-built graphs covering every supported node and parameter form, imported and compared
  with simulate on inputs other than the calibration ones, then exported bit-exact;
* graphs written by snnTorch, Norse, Sinabs and SpikingJelly themselves: their own simulation
  vs simulate vs the integer model (the figures of docs/interop.md);
* round trip spq -> NIR -> spq identical on random models; an edited graph is re-quantized;
* an imported model exported and run bit-exact on the host and on QEMU (Cortex-M4);
* bad input: one `error:` line, exit 2, nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest
import torch

import spq
from spq.errors import SpqError
from spq.export.pipeline import export
from spq.interop import nir as snir
from spq.interop.graph import parse
from spq.nn import fold
from spq.nn.testing import random_input, random_model
from spq.runtime import HostModel
from tests.support.nir_producers import PRODUCERS, events, numpy_graph

DT = 1e-4


def spq_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spq", *args], capture_output=True, text=True,
                          timeout=timeout)


# host libraries and firmware go to the session's own build cache (tests/support/firmware.py)
pytestmark = pytest.mark.usefixtures("fw_cache")


def lif(shape: tuple[int, ...], tau: float, r: float, v_th: float = 1.0, v_leak: float = 0.0,
        v_reset: float = 0.0) -> Any:
    full = np.ones(shape)
    return nir.LIF(tau=full * tau, r=full * r, v_leak=full * v_leak, v_threshold=full * v_th,
                   v_reset=full * v_reset)


# ------------------------------------------------------------------------------ simulate


def _one_neuron(neuron: Any) -> Any:
    return nir.NIRGraph.from_list(nir.Input(input_type=np.array([1])),
                                  nir.Affine(np.ones((1, 1)), np.zeros(1)), neuron,
                                  nir.Output(output_type=np.array([1])), type_check=False)


def test_simulate_if_fires_strictly_above_threshold() -> None:
    # r dt = 1, input 1 per step: v = 1 (not > 1), 2 -> spike, reset to 0, 1, 2 -> spike ...
    g = _one_neuron(nir.IF(r=np.array([1 / DT]), v_threshold=np.array([1.0]),
                           v_reset=np.array([0.0])))
    out = snir.simulate(g, np.ones((1, 6, 1)), DT)
    assert out[0, :, 0].tolist() == [0, 1, 0, 1, 0, 1]


def test_simulate_lif_step_by_step() -> None:
    tau, r, v_leak, v_th, v_reset = 4 * DT, 2.0, 0.25, 0.9, -0.2
    g = _one_neuron(nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.array([v_leak]),
                            v_threshold=np.array([v_th]), v_reset=np.array([v_reset])))
    x = np.array([1, 0, 1, 1, 1, 0, 1, 1], dtype=float)
    v, want = 0.0, []
    for xt in x:  # forward Euler of tau dv/dt = (v_leak - v) + r I, written out by hand
        v = v + DT / tau * (v_leak - v + r * xt)
        want.append(1.0 if v > v_th else 0.0)
        v = v_reset if v > v_th else v
    got = snir.simulate(g, x.reshape(1, -1, 1), DT)
    assert got[0, :, 0].tolist() == want
    assert 0 < sum(want) < len(want)


def test_import_keeps_nir_strict_threshold() -> None:
    """v = threshold exactly does not fire in NIR; the integer model agrees (B - 1). The
    parameters are 0-d arrays (scalars; an in-memory graph: HDF5 cannot compress them)."""
    g = _one_neuron(nir.IF(r=np.array(1 / DT), v_threshold=np.array(1.0),
                           v_reset=np.array(0.0)))
    x = np.ones((1, 6, 1), dtype=np.uint8)
    net = snir.convert(g, x).net
    assert net.spike_readout and net.neurons[-1].strict
    assert net.int_logits(torch.from_numpy(x).reshape(1, 6, 1, 1, 1)).tolist() == [[3]]
    net.neurons[-1].strict = False  # spq's own rule (v >= theta) would fire at every step
    assert net.int_logits(torch.from_numpy(x).reshape(1, 6, 1, 1, 1)).tolist() == [[6]]


# ------------------------------------------------------------------------------ parameter forms


def test_neuron_parameter_forms_are_one_and_the_same() -> None:
    from spq.interop.graph import _neuron_param

    shape = (3, 2, 2)
    per_channel = np.array([0.5, 1.0, 2.0])
    want = np.broadcast_to(per_channel.reshape(3, 1, 1), shape)
    for form in (per_channel, per_channel.reshape(3, 1, 1), want.copy(), want.reshape(-1)):
        np.testing.assert_array_equal(_neuron_param("n", "LIF", "tau", form, shape), want)
    for scalar in (2.0, np.array(2.0), np.array([2.0]), torch.tensor(2.0)):
        np.testing.assert_array_equal(_neuron_param("n", "LIF", "tau", scalar, shape),
                                      np.full(shape, 2.0))
    with pytest.raises(SpqError, match="node 'n' \\(LIF\\): tau has shape \\(5,\\)"):
        _neuron_param("n", "LIF", "tau", np.ones(5), shape)


def _conv(c_in: int, c_out: int, k: int, rng: np.random.Generator, hw: int, **kw: Any) -> Any:
    return nir.Conv2d(input_shape=(hw, hw), weight=rng.normal(0, 0.7, (c_out, c_in, k, k)),
                      dilation=1, groups=1, bias=rng.normal(0, 0.05, c_out), **kw)


def every_node_graph(rng: np.random.Generator) -> Any:
    """Input, Scale, Conv2d (tuple stride, 'same'), LIF (per-neuron arrays, v_leak, v_reset),
    SumPool2d, Conv2d (int stride, 'valid'), IF (size-1 arrays), AvgPool2d, Flatten, Linear,
    Scale, Threshold, Affine, LI, Output."""
    c1, c2 = 4, 6
    return nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([2, 8, 8])),
        nir.Scale(scale=np.array([1.5, 0.75])),
        _conv(2, c1, 3, rng, 8, stride=(1, 1), padding="same"),
        lif((c1, 8, 8), tau=3 * DT, r=2.5, v_th=0.8, v_leak=0.05, v_reset=-0.1),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                      padding=np.array([0, 0])),
        _conv(c1, c2, 2, rng, 4, stride=1, padding="valid"),
        nir.IF(r=np.array([1 / DT]), v_threshold=np.array([1.0]), v_reset=np.array([0.0])),
        nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([3, 3]),
                      padding=np.array([0, 0])),
        nir.Flatten(input_type={"input": np.array([c2, 1, 1])}, start_dim=0, end_dim=-1),
        nir.Linear(weight=rng.normal(0, 1.0, (12, c2))),
        nir.Scale(scale=np.full(12, 1.2)),
        nir.Threshold(threshold=np.full(12, 0.3)),
        nir.Affine(rng.normal(0, 0.8, (5, 12)), rng.normal(0, 0.1, 5)),
        nir.LI(tau=np.full(5, 2 * DT), r=np.full(5, 1.0), v_leak=np.zeros(5)),
        nir.Output(output_type=np.array([5])), type_check=False)


def spiking_readout_graph(rng: np.random.Generator) -> Any:
    """Conv2d (stride 2, tuple padding), LIF with size-1 arrays, SumPool2d + Threshold 0.5 (a
    max pool of spikes), Affine, Scale after it, IF readout (spike counts)."""
    return nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([2, 9, 9])),
        _conv(2, 5, 3, rng, 9, stride=2, padding=(1, 1)),
        nir.LIF(tau=np.array([2 * DT]), r=np.array([2.0]), v_leak=np.array([0.0]),
                v_threshold=np.array([0.5]), v_reset=np.array([0.0])),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                      padding=np.array([0, 0])),
        nir.Threshold(threshold=np.full((5, 2, 2), 0.5)),
        nir.Flatten(input_type={"input": np.array([5, 2, 2])}, start_dim=0, end_dim=-1),
        nir.Affine(rng.normal(0, 0.6, (4, 20)), np.full(4, 0.05)),
        nir.Scale(scale=np.array([1.0, 1.1, 0.9, 1.3])),
        nir.IF(r=np.full(4, 0.5 / DT), v_threshold=np.full(4, 0.6), v_reset=np.zeros(4)),
        nir.Output(output_type=np.array([4])), type_check=False)


@pytest.mark.parametrize("which", ["every_node", "spiking_readout"])
def test_hand_built_graphs_import_and_agree(which: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    graph = every_node_graph(rng) if which == "every_node" else spiking_readout_graph(rng)
    snir.write(graph, tmp_path / "g.nir")
    graph = snir.read(tmp_path / "g.nir")
    in_shape, _ = parse(graph)
    res = snir.convert(graph, events(in_shape, 96, 12, 1), weight_bits=8, levels=256)
    net = res.net
    kinds = [type(m).__name__ for m in net.layers]
    if which == "every_node":
        assert kinds == ["QuantConv2d", "QuantLIF", "AvgPool2d", "QuantConv2d", "QuantLIF",
                         "AvgPool2d", "Flatten", "QuantLinear", "QuantLIF", "QuantLinear"]
        assert not net.spike_readout
        assert net.neurons[2].beta == 0.0  # Threshold: no memory
        assert any("LI readout" in w for w in res.warnings)
    else:
        assert kinds == ["QuantConv2d", "QuantLIF", "MaxPool2d", "Flatten", "QuantLinear",
                         "QuantLIF"]
        assert net.spike_readout and net.neurons[0].beta == pytest.approx(0.5)
    assert all(m.strict and m.levels == 256 for m in net.neurons)
    x = events(in_shape, 200, 12, 2)  # not the calibration inputs
    agree = snir.agreement(graph, net, x)
    print(f"{which}: argmax agreement {agree['argmax_agreement']:.3f}, correlation "
          f"{agree['correlation']:.4f}, threshold levels {res.threshold_levels}")
    assert np.abs(agree["float_outputs"]).sum() > 0
    assert agree["argmax_agreement"] >= 0.85
    assert agree["correlation"] >= 0.95
    # the imported model exports and runs bit-exact on the host
    spq.save(net, tmp_path / "m.pt")
    export(tmp_path / "m.pt", tmp_path / "out", verify_n=4)
    host = HostModel(tmp_path / "out").run(x[:16].reshape(16, 12, *net.input_shape))
    want = net.run_int(torch.from_numpy(x[:16]).reshape(16, 12, *net.input_shape))
    np.testing.assert_array_equal(host.logits_int, want.logits_int.numpy())
    np.testing.assert_array_equal(host.spike_counts, want.spike_counts.numpy())


def test_membrane_levels_matter() -> None:
    """The calibrated threshold level (a membrane finer than theta) against SpQuant's
    D = 1 on the same graph: the finer membrane agrees better with the float graph."""
    rng = np.random.default_rng(3)
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([20])), nir.Affine(rng.normal(0, 0.5, (16, 20)),
                                                         np.zeros(16)),
        lif((16,), tau=10 * DT, r=10.0), nir.Affine(rng.normal(0, 0.5, (5, 16)), np.zeros(5)),
        lif((5,), tau=5 * DT, r=5.0), nir.Output(output_type=np.array([5])))
    x_cal, x = events((20,), 100, 20, 1), events((20,), 300, 20, 2)
    fine = snir.convert(graph, x_cal, levels=256).net
    coarse = snir.convert(graph, x_cal, levels=256).net
    for m in coarse.neurons:
        m.threshold_level = 1
    a_fine = snir.agreement(graph, fine, x)["correlation"]
    a_coarse = snir.agreement(graph, coarse, x)["correlation"]
    print(f"correlation: threshold levels {[m.threshold_level for m in fine.neurons]} "
          f"{a_fine:.4f}, D = 1 {a_coarse:.4f}")
    assert min(m.threshold_level for m in fine.neurons) > 1
    assert a_fine > a_coarse + 0.02


# ------------------------------------------------------------------------------ producers


@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_producer_graphs(producer: str, tmp_path: Path) -> None:
    graph, run, dt, shape = PRODUCERS[producer](0)
    path = tmp_path / f"{producer}.nir"
    snir.write(numpy_graph(graph), path)
    graph = snir.read(path)
    x = events(shape, 200, 16, 1)
    own = run(x).reshape(len(x), 16, -1)
    sim = snir.simulate(graph, x.astype(np.float64), dt).reshape(len(x), 16, -1)
    assert own.sum() > 0, "degenerate network: no output"
    # the library's own simulation and spq's reading of its graph: the same numbers
    np.testing.assert_allclose(own, sim, rtol=1e-4, atol=1e-4)
    res = snir.convert(graph, events(shape, 100, 16, 2), dt=dt)
    agree = snir.agreement(graph, res.net, x, dt=dt)
    own_sum = own.sum(1)
    own_int = float(np.mean(own_sum.argmax(1) == agree["int_logits"].argmax(1)))
    print(f"{producer}: own vs simulate identical; simulate vs integer argmax "
          f"{agree['argmax_agreement']:.3f} correlation {agree['correlation']:.4f}; own vs "
          f"integer argmax {own_int:.3f}")
    assert agree["argmax_agreement"] >= 0.9
    assert agree["correlation"] >= 0.95


# ------------------------------------------------------------------------------ round trip


def _same_ir(a: Any, b: Any) -> None:
    assert (a.input_kind, a.input_shape, a.time_steps, a.num_classes) == \
        (b.input_kind, b.input_shape, b.time_steps, b.num_classes)
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert (la.type, la.in_shape, la.out_shape, la.kernel, la.stride, la.padding,
                la.pool, la.weight_bits) == (lb.type, lb.in_shape, lb.out_shape, lb.kernel,
                                             lb.stride, lb.padding, lb.pool, lb.weight_bits)
        for f in ("weight", "readout_bias"):
            x, y = getattr(la, f), getattr(lb, f)
            assert (x is None and y is None) or np.array_equal(x, y), f
        if la.neuron is not None:
            n, m = la.neuron, lb.neuron
            for f in ("mult", "shift", "bias"):
                assert np.array_equal(getattr(n, f), getattr(m, f)), f
            assert (n.leak, n.levels, n.lo, n.hi, n.reset) == (m.leak, m.levels, m.lo, m.hi,
                                                               m.reset)


ROUND_TRIP = [(600 + i, {"input_kind": ("static", "events")[i % 2],
                         "pool": ("max", "avg", "none")[i % 3], "prune": i % 4 == 1,
                         "readout": ("linear", "spikes")[(i // 2) % 2],
                         "threshold_levels": i % 3 == 0}) for i in range(12)]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=lambda c: str(c[0]))
def test_round_trip_spq_nir_spq_is_identical(case: tuple[int, dict[str, Any]],
                                            tmp_path: Path) -> None:
    seed, kw = case
    net = random_model(seed, **kw)
    snir.write(snir.to_nir(net), tmp_path / "m.nir")
    graph = snir.read(tmp_path / "m.nir")
    again = snir.convert(graph, None)  # no calibration needed: the graph is spq's
    assert again.exact
    _same_ir(fold(net), fold(again.net))
    x = random_input(net, 6, seed)
    assert torch.equal(net.int_logits(x), again.net.int_logits(x))
    # the nodes carry the integer weights (x 255 for a static first layer)
    syn = [n for n in graph.nodes.values() if isinstance(n, (nir.Conv2d, nir.Affine))]
    readout = not net.spike_readout
    for node in syn[:len(syn) - 1] if readout else syn:
        assert np.array_equal(node.weight, np.round(node.weight))


def test_spq_graph_simulates_like_the_integer_model() -> None:
    """to_nir's float semantics is the integer model up to the membrane rounding: for a
    fine membrane (an imported model) the float graph agrees closely."""
    graph, _, dt, shape = PRODUCERS["spikingjelly"](0)
    net = snir.convert(numpy_graph(graph), events(shape, 64, 8, 2), dt=dt).net
    back = snir.to_nir(net)
    back.metadata = {}
    agree = snir.agreement(back, net, events(shape, 100, 8, 3))
    assert agree["correlation"] > 0.95 and agree["argmax_agreement"] >= 0.9


def test_edited_spq_graph_is_quantized_afresh(tmp_path: Path) -> None:
    net = random_model(5, input_kind="events", readout="spikes")
    graph = snir.to_nir(net)
    first = next(n for n in graph.nodes.values() if isinstance(n, (nir.Conv2d, nir.Affine)))
    first.weight = first.weight * 1.5
    x = random_input(net, 32, 1).numpy()
    res = snir.convert(graph, x)
    assert not res.exact
    agree = snir.agreement(graph, res.net, x)
    assert agree["correlation"] > 0.9


# ------------------------------------------------------------------------------ CLI


def _write_cal(path: Path, shape: tuple[int, ...], n: int = 64, steps: int = 10) -> Path:
    np.save(path, events(shape, n, steps, 4))
    return path


def test_cli_import_export_nir_round_trip_and_train_init(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([2, 16, 16])),
        _conv(2, 4, 3, rng, 16, stride=2, padding=1), lif((4, 8, 8), tau=4 * DT, r=4.0),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                      padding=np.array([0, 0])),
        nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=-1),
        nir.Affine(rng.normal(0, 0.3, (10, 64)), np.zeros(10)), lif((10,), tau=4 * DT, r=4.0),
        nir.Output(output_type=np.array([10])))
    snir.write(graph, tmp_path / "g.nir")
    cal = _write_cal(tmp_path / "cal.npy", (2, 16, 16), steps=8)
    proc = spq_cli("import", str(tmp_path / "g.nir"), "-o", str(tmp_path / "m.pt"),
                   "--calibrate", str(cal), "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["exact"] is False and rep["readout"] == "spike counts"
    assert rep["time_steps"] == 8 and rep["samples"] == 64
    assert 0.0 <= rep["argmax_agreement"] <= 1.0 and rep["correlation"] > 0.9
    net = spq.load(tmp_path / "m.pt")
    proc = spq_cli("export-nir", str(tmp_path / "m.pt"), "-o", str(tmp_path / "back.nir"))
    assert proc.returncode == 0, proc.stderr
    proc = spq_cli("import", str(tmp_path / "back.nir"), "-o", str(tmp_path / "m2.pt"),
                   "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["exact"] is True
    _same_ir(fold(net), fold(spq.load(tmp_path / "m2.pt")))
    # quantization-aware fine-tuning from the imported weights, down to 4 bit / 16 levels
    proc = spq_cli("train", "--init", str(tmp_path / "m.pt"), "-d", "event-digits",
                   "--epochs", "1", "--limit", "64", "--weight-bits", "4", "--levels", "16",
                   "-q", "-o", str(tmp_path / "ft.pt"))
    assert proc.returncode == 0, proc.stderr
    ft = spq.load(tmp_path / "ft.pt")
    assert [m.weight_bits for m in ft.synapses] == [4, 4]
    assert all(m.levels == 16 and 1 <= m.threshold_level < 16 for m in ft.neurons)
    changed = [not torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                     ft.state_dict().values(), strict=True)]
    assert any(changed)
    report = json.loads((tmp_path / "ft.json").read_text())
    assert report["settings"]["init"] == str(tmp_path / "m.pt")
    # every spq command takes the imported checkpoint
    proc = spq_cli("eval", str(tmp_path / "m.pt"), "-d", "event-digits", "--limit", "32",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["samples"] == 32


def _graph_file(tmp_path: Path, name: str, graph: Any) -> Path:
    snir.write(graph, tmp_path / name)
    return tmp_path / name


def bad_graphs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    rng = np.random.default_rng(0)
    text = tmp_path / "text.nir"
    text.write_text("not a NIR graph\n")
    cuba = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([4])), nir.Affine(np.ones((3, 4)), np.zeros(3)),
        nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                    v_threshold=np.ones(3)), nir.Output(output_type=np.array([3])))
    chain_bad = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([4])),
               "fc": nir.Affine(rng.normal(size=(3, 5)), np.zeros(3)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc"), ("fc", "output")], type_check=False)
    cyc = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([4])),
               "fc": nir.Affine(np.ones((4, 4)), np.zeros(4)),
               "lif": lif((4,), tau=2 * DT, r=1.0),
               "rec": nir.Linear(np.eye(4)),
               "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "fc"),
               ("lif", "output")], type_check=False)
    return {
        "not HDF5": (text, "not a NIR file \\(not HDF5\\)"),
        "unsupported node": (_graph_file(tmp_path, "cuba.nir", cuba),
                             "node 'cubalif' \\(CubaLIF\\): CubaLIF is not supported"),
        "shapes do not chain": (_graph_file(tmp_path, "chain.nir", chain_bad),
                                "node 'fc' \\(Affine\\): weight \\(3, 5\\) takes 5 inputs, "
                                "the data has 4"),
        "cycle": (_graph_file(tmp_path, "cycle.nir", cyc), "is on a cycle: recurrent graphs"),
    }


def test_cli_bad_graphs_one_line_exit_2(tmp_path: Path) -> None:
    import re

    cal = _write_cal(tmp_path / "cal.npy", (4,))
    for what, (path, pattern) in bad_graphs(tmp_path).items():
        out = tmp_path / f"out-{path.stem}.pt"
        proc = spq_cli("import", str(path), "-o", str(out), "--calibrate", str(cal))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (what, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (what, proc.stderr)
        assert re.search(pattern, lines[0]), (what, lines[0])
        assert "Traceback" not in proc.stderr and not out.exists(), what


def test_bad_calibration_and_options(tmp_path: Path) -> None:
    g = _graph_file(tmp_path, "g.nir", _one_neuron(nir.IF(
        r=np.array([1 / DT]), v_threshold=np.array([1.0]), v_reset=np.array([0.0]))))
    counts = tmp_path / "counts.npy"
    np.save(counts, np.full((4, 5, 1), 2, dtype=np.uint8))
    cases = [
        (["--calibrate", str(counts)], "event frames must be 0/1"),
        (["--calibrate", str(tmp_path / "missing.npy")], "no such file"),
        ([], "give --time-steps"),
        (["--time-steps", "4", "--weight-bits", "3"], "weight bits must be 2, 4 or 8"),
        (["--time-steps", "4", "--dt", "0.01"], None),  # tau-free IF: any dt imports
    ]
    for extra, pattern in cases:
        proc = spq_cli("import", str(g), "-o", str(tmp_path / "m.pt"), *extra)
        if pattern is None:
            assert proc.returncode == 0, proc.stderr
            assert "warning: no calibration data" in proc.stderr
            continue
        assert proc.returncode == 2, (extra, proc.stderr)
        assert pattern in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = spq_cli("export-nir", str(tmp_path / "m.pt"), "-o", str(tmp_path / "x.h5"))
    assert proc.returncode == 2 and "must end in .nir" in proc.stderr


# ------------------------------------------------------------------------------ QEMU


@pytest.mark.qemu
def test_imported_model_bit_exact_on_qemu(tmp_path: Path) -> None:
    graph, _, dt, shape = PRODUCERS["sinabs"](0)
    net = snir.convert(numpy_graph(graph), events(shape, 64, 8, 2), dt=dt).net
    spq.save(net, tmp_path / "m.pt")
    export(tmp_path / "m.pt", tmp_path / "out", verify_n=4)
    x = events(shape, 3, 8, 5)
    np.save(tmp_path / "x.npy", x)
    host = HostModel(tmp_path / "out").run(x)
    want = net.run_int(torch.from_numpy(x))
    np.testing.assert_array_equal(host.logits_int, want.logits_int.numpy())
    proc = spq_cli("run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--json")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["logits_int"] == want.logits_int.tolist()
    np.save(tmp_path / "x0.npy", x[0])
    proc = spq_cli("qemu", str(tmp_path / "out"), "--board", "mps2-an386", "--input",
                   str(tmp_path / "x0.npy"), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["logits_int"] == want.logits_int[0].tolist()
    assert got["spike_counts"] == host.spike_counts[0].tolist()
