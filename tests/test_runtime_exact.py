# SPDX-License-Identifier: MIT
"""Bit-exactness of the host C runtime (HostModel).

* against eval-mode spq.nn through the real exporter: seeded random models covering every
  weight width, membrane levels 2/3/5/16/256, conv/linear, max/avg/no pool, static and
  event input, pruned channels, both schedules; integer logits, spike counts and synops;
* against the independent plain-numpy reading of docs/semantics.md in tests/support/modelgen.py,
  on random integer models that reach corners spq.nn rarely produces (shift 0 and 62,
  saturating currents and biases, 17 levels, strides 3, kernels 5, counts after sum pools);
* streaming: T calls of step() give the same totals as one run().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import spq
from spq.export import export
from spq.nn.testing import random_input, random_model
from spq.runtime import HostModel
from tests.support import modelgen

N_INPUTS = 8
WEIGHT_BITS = (2, 4, 8, None)
LEVELS = (2, 3, 5, 16, 256, None)
POOLS = ("max", "avg", "none")


def _cases() -> list[tuple[int, dict[str, Any]]]:
    cases = []
    for i in range(48):
        kw: dict[str, Any] = {
            "input_kind": ("static", "events")[i % 2],
            "weight_bits": WEIGHT_BITS[(i // 2) % 4],
            "levels": LEVELS[(i // 3) % 6],
            "pool": POOLS[i % 3],
            "conv": i % 5 != 4,
            "prune": i % 4 in (1, 2),
        }
        cases.append((100 + i, kw))
    return cases


CASES = _cases()


def _case_id(case: tuple[int, dict[str, Any]]) -> str:
    seed, kw = case
    return (f"{seed}-{kw['input_kind']}-w{kw['weight_bits']}-L{kw['levels']}-{kw['pool']}"
            f"{'-conv' if kw['conv'] else '-fc'}{'-pruned' if kw['prune'] else ''}")


# host libraries and firmware go to the session's own build cache (tests/support/firmware.py)
pytestmark = pytest.mark.usefixtures("fw_cache")


def _export(net: Any, tmp: Path, name: str, schedule: str = "auto") -> Path:
    spq.save(net, tmp / f"{name}.pt")
    out = tmp / f"{name}-out"
    export(tmp / f"{name}.pt", out, name=name, schedule=schedule, verify_n=0)
    return out


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_host_runtime_equals_spq_nn(case: tuple[int, dict[str, Any]], tmp_path: Path) -> None:
    seed, kw = case
    net = random_model(seed, **kw)
    out = _export(net, tmp_path, f"m{seed}", schedule=("time", "layer", "auto")[seed % 3])
    model = HostModel(out)
    x = random_input(net, N_INPUTS, seed)
    with torch.no_grad():
        ref = net.run_int(x)
    want_logits = ref.logits_int.numpy()
    want_spikes = ref.spike_counts.numpy()
    want_synops = ref.synops.numpy()
    assert int(want_spikes.sum()) > 0, "degenerate case: no spikes at all"
    for schedule in ("time", "layer"):
        r = model.run(x.numpy(), schedule=schedule)
        np.testing.assert_array_equal(r.logits_int, want_logits, err_msg=schedule)
        np.testing.assert_array_equal(r.spike_counts, want_spikes, err_msg=schedule)
        np.testing.assert_array_equal(r.synops, want_synops, err_msg=schedule)
        np.testing.assert_array_equal(r.pred, np.argmax(want_logits, axis=1))
        np.testing.assert_array_equal(r.logits, want_logits * model.out_scale)
    # one input (not a batch) gives 1-d results
    single = model.run(x[0])
    assert single.logits_int.shape == (model.num_classes,)
    np.testing.assert_array_equal(single.logits_int, want_logits[0])


SPIKE_CASES = [(400 + i, {"input_kind": ("static", "events")[i % 2],
                          "weight_bits": (2, 4, 8)[i % 3], "levels": (7, 256, 16)[i % 3],
                          "conv": i % 4 != 3, "prune": i % 5 == 2,
                          "readout": ("spikes", "linear")[(i // 2) % 2],
                          "threshold_levels": True}) for i in range(12)]


@pytest.mark.parametrize("case", SPIKE_CASES, ids=lambda c: f"{c[0]}-{c[1]['readout']}")
def test_host_runtime_spike_readout_and_threshold_levels(case: tuple[int, dict[str, Any]],
                                                         tmp_path: Path) -> None:
    """Spike-count readouts and threshold levels D > 1 (imported networks), bit-exact."""
    seed, kw = case
    net = random_model(seed, **kw)
    assert net.spike_readout == (kw["readout"] == "spikes")
    assert any(m.threshold_level > 1 for m in net.neurons)
    out = _export(net, tmp_path, f"k{seed}", schedule=("time", "layer")[seed % 2])
    model = HostModel(out)
    x = random_input(net, N_INPUTS, seed)
    with torch.no_grad():
        ref = net.run_int(x)
    if net.spike_readout:  # the logits are the spike counts of the last layer
        last = ref.spikes[-1].reshape(N_INPUTS, net.time_steps, -1).sum(1).to(torch.int64)
        assert torch.equal(ref.logits_int, last)
        assert model.out_scale == pytest.approx(1 / net.time_steps)
    assert int(ref.spike_counts.sum(0).min()) > 0, "degenerate case: a silent layer"
    for schedule in ("time", "layer"):
        r = model.run(x.numpy(), schedule=schedule)
        np.testing.assert_array_equal(r.logits_int, ref.logits_int.numpy(), err_msg=schedule)
        np.testing.assert_array_equal(r.spike_counts, ref.spike_counts.numpy(), err_msg=schedule)
        np.testing.assert_array_equal(r.synops, ref.synops.numpy(), err_msg=schedule)


def test_case_table_covers_the_space() -> None:
    seen = {k: {kw[k] for _, kw in CASES} for k in CASES[0][1]}
    assert seen["weight_bits"] == set(WEIGHT_BITS)
    assert seen["levels"] == set(LEVELS)
    assert seen["pool"] == set(POOLS)
    assert seen["input_kind"] == {"static", "events"}
    assert seen["conv"] == {True, False} and seen["prune"] == {True, False}
    combos = {(kw["input_kind"], kw["weight_bits"]) for _, kw in CASES}
    assert len(combos) == 8  # every weight width with both input kinds


def test_float_static_input_is_quantized_like_spq_nn(tmp_path: Path) -> None:
    net = random_model(7, input_kind="static")
    model = HostModel(_export(net, tmp_path, "f7"))
    xf = random_input(net, 4, 7, as_float=True)
    xf = torch.clamp(xf + (torch.rand(xf.shape, generator=torch.Generator().manual_seed(1))
                           - 0.5) / 300, 0, 1)  # not exactly on the q/255 grid
    with torch.no_grad():
        want = net.run_int(xf).logits_int.numpy()
    np.testing.assert_array_equal(model.run(xf.numpy()).logits_int, want)
    np.testing.assert_array_equal(model.run(xf).logits_int, want)  # a torch tensor too


@pytest.mark.parametrize("kind", ["static", "events"])
def test_streaming_steps_equal_one_run(kind: str, tmp_path: Path) -> None:
    for seed in (21, 22, 23):
        net = random_model(seed, input_kind=kind)
        model = HostModel(_export(net, tmp_path, f"s{seed}"))
        x = random_input(net, 3, seed).numpy()
        with torch.no_grad():
            ref = net._run_int(torch.from_numpy(x), want_spikes=True, per_step=True)
        assert ref.step_logits_int is not None
        running = np.cumsum(ref.step_logits_int.numpy(), axis=0)  # (T, N, classes)
        # spikes emitted up to and including step t, per neuron layer: (N, T, layers)
        per_step = np.stack([s.numpy().reshape(len(x), model.time_steps, -1).sum(axis=2)
                             for s in ref.spikes], axis=2)
        running_spikes = np.cumsum(per_step, axis=1)
        whole = model.run(x)
        for k in range(len(x)):
            model.reset()
            for t in range(model.time_steps):
                r = model.step(x[k, t] if kind == "events" else x[k])
                np.testing.assert_array_equal(r.logits_int, running[t, k])
                np.testing.assert_array_equal(r.spike_counts, running_spikes[k, t])
            np.testing.assert_array_equal(r.logits_int, whole.logits_int[k])
            np.testing.assert_array_equal(r.spike_counts, whole.spike_counts[k])
            np.testing.assert_array_equal(r.synops, whole.synops[k])
            with pytest.raises(spq.SpqError, match="time steps"):
                model.step(x[k, 0] if kind == "events" else x[k])


@pytest.mark.parametrize("chunk", range(6))
def test_random_integer_models_equal_reference(chunk: int, tmp_path: Path) -> None:
    """10 random integer models per chunk x 4 inputs x both schedules vs modelgen.reference."""
    for seed in range(chunk * 10, chunk * 10 + 10):
        rng = np.random.default_rng(seed)
        ir = modelgen.random_ir(rng, name=f"r{seed}")
        schedule = "time" if seed % 2 else "layer"
        model = HostModel(modelgen.write_export(ir, tmp_path / f"r{seed}", schedule))
        assert model.default_schedule == schedule
        x = modelgen.random_input(rng, ir, 4)
        refs = [modelgen.reference(ir, xi) for xi in x]
        for sched in ("time", "layer"):
            r = model.run(x, schedule=sched)
            for k, ref in enumerate(refs):
                msg = f"model {seed}, input {k}, {sched}-major"
                np.testing.assert_array_equal(r.logits_int[k], ref["logits_int"], err_msg=msg)
                np.testing.assert_array_equal(
                    r.spike_counts[k], ref["spikes"][model.neuron_layers], err_msg=msg)
                np.testing.assert_array_equal(
                    r.synops[k], ref["synops"][model.synapse_layers], err_msg=msg)


def test_reference_generator_reaches_the_corners() -> None:
    """The random integer models do cover what they claim to."""
    seen: dict[str, set[Any]] = {"bits": set(), "levels": set(), "types": set(),
                                 "in_kind": set(), "acc": set(), "reset": set(), "shift": set(),
                                 "threshold_level": set()}
    for seed in range(60):
        ir = modelgen.random_ir(np.random.default_rng(seed))
        for layer in ir.layers:
            seen["types"].add(layer.type)
            seen["in_kind"].add(layer.in_kind)
            if layer.weight is not None:
                seen["bits"].add(layer.weight_bits)
                seen["acc"].add(layer.acc_bits)
            if layer.neuron is not None:
                seen["levels"].add(layer.neuron.levels)
                seen["reset"].add(layer.neuron.reset)
                seen["shift"].update({0, 62} & set(layer.neuron.shift.tolist()))
                seen["threshold_level"].add(min(layer.neuron.hi, 2))
    assert seen["bits"] == {2, 4, 8} and seen["acc"] == {16, 32}
    assert seen["levels"] == set(modelgen.LEVELS)
    assert seen["types"] == {"conv", "linear", "maxpool", "sumpool", "readout",
                             "spike_readout"}
    assert seen["threshold_level"] == {1, 2}  # threshold level 1 and above
    assert seen["in_kind"] == {"u8", "spike", "count"}
    assert seen["reset"] == {"hard", "soft"} and seen["shift"] == {0, 62}
