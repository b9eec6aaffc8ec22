# SPDX-License-Identifier: MIT
"""spq.train and `spq train` / `spq eval`: the TET loss, a short training run that beats
chance, the report against the saved model, counting and memory against hand counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import spq
from spq.archs import ArchSettings, build_arch
from spq.baseline import FloatLIF, FloatSequential, float_counts
from spq.data import TensorDataset, dataset_info, load_dataset
from spq.train import TrainConfig, evaluate, memory_report, tet_loss, train

SPQ = [sys.executable, "-m", "spq"]


@pytest.fixture(scope="module")
def trained() -> tuple[object, dict]:
    cfg = TrainConfig(dataset="digits", arch="cnn-tiny", epochs=2, time_steps=2, seed=0,
                      batch_size=32, lr=1e-2, limit=600)
    return train(cfg, progress=False)


def test_tet_loss_by_hand() -> None:
    torch.manual_seed(0)
    out = torch.randn(3, 4, 5)
    y = torch.tensor([0, 4, 2, 2])
    ce = 0.0
    for t in range(3):
        for n in range(4):
            row = out[t, n]
            ce += float(torch.logsumexp(row, 0) - row[y[n]])
    ce /= 12
    mse = float(((out - 1.0) ** 2).mean())
    lamb = 0.05
    assert float(tet_loss(out, y, lamb=lamb)) == pytest.approx((1 - lamb) * ce + lamb * mse,
                                                               rel=1e-6)


def test_short_training_beats_chance_and_report_matches_model(trained, tmp_path: Path) -> None:
    net, report = trained
    assert report["accuracy"] > 0.6  # chance is 0.1
    assert report["model"] == "integer"
    path = tmp_path / "m.pt"
    spq.save(net, path)
    loaded = spq.load(path)
    x, y = load_dataset("digits", "test")
    logits = loaded.int_logits(x)
    acc = float((logits.argmax(1) == y).double().mean())
    assert acc == report["accuracy"]
    r = loaded.run_int(x)
    assert float(r.synops.sum()) / len(y) == pytest.approx(report["synops"], rel=1e-12)
    assert float(r.ops.sum()) / len(y) == pytest.approx(report["ops"], rel=1e-12)
    # spike rates: spikes / (neurons * T * samples), neurons counted by hand (8x8x8, 16x4x4)
    counts = r.spike_counts.sum(0).double()
    hand = [float(counts[0]) / (8 * 8 * 8 * 2 * 360), float(counts[1]) / (16 * 4 * 4 * 2 * 360)]
    assert report["spike_rates"] == pytest.approx(hand, rel=1e-12)


def test_memory_report_by_hand(trained) -> None:
    net, report = trained
    # cnn-tiny on digits: conv 1->8 3x3, conv 8->16 3x3, linear 16*2*2 -> 10, 4-bit weights
    weights = 1 * 8 * 9 + 8 * 16 * 9 + 64 * 10
    neurons = 8 * 8 * 8 + 16 * 4 * 4
    assert report["memory"]["weights_bits"] == weights * 4
    assert report["memory"]["membrane_bits"] == neurons * 2  # ternary stored in 2 bits
    # pruning two channels of the first conv removes their weights and their fan-out
    mask = torch.ones(8)
    mask[[1, 5]] = 0
    net.layers[0].set_out_mask(mask)
    try:
        mem = memory_report(net)
        assert mem["weights_bits"] == (1 * 6 * 9 + 6 * 16 * 9 + 64 * 10) * 4
        assert mem["membrane_bits"] == (6 * 8 * 8 + 16 * 4 * 4) * 2
    finally:
        net.layers[0].set_out_mask(torch.ones(8))


def test_memory_report_of_a_linear_first_model_by_hand() -> None:
    """A first QuantLinear reads every pixel of every input channel (the grammar's walk:
    before issue 11 the report counted one weight per input channel here)."""
    net = spq.nn.Sequential(spq.nn.Flatten(), spq.nn.QuantLinear(2 * 3 * 3, 5, weight_bits=4),
                            spq.nn.QuantLIF(levels=5), spq.nn.QuantLinear(5, 3, weight_bits=8),
                            time_steps=2, input_kind="events", input_shape=(2, 3, 3))
    net.layers[1].set_out_mask([1, 0, 1, 1, 0])
    mem = memory_report(net)
    assert mem["weights_bits"] == 18 * 3 * 4 + 3 * 3 * 8
    assert mem["membrane_bits"] == 3 * 3  # 5 levels stored in 3 bits
    assert mem["constants_bits"] == 3 * 32 * 3 + 3 * 32 * 3


def test_float_baseline_counts_by_hand() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False)
    lif = FloatLIF()
    lin = torch.nn.Linear(2 * 4 * 4, 3)
    net = FloatSequential(conv, lif, torch.nn.Flatten(), lin, time_steps=3,
                          input_kind="static", input_shape=(1, 4, 4))
    with torch.no_grad():
        conv.weight.fill_(0.0)
        conv.weight[0, 0, 1, 1] = 2.0  # channel 0: the pixel x2 (fires at every step)
        conv.weight[1, 0, 1, 1] = 0.5  # channel 1: the pixel x0.5 (0.5, 0.75, 0.875: silent)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1.0  # one corner pixel reaches 2x2 output positions of each channel
    c = float_counts(net, x)
    # first layer counted once for a static image: 4 positions x 2 channels
    assert c["synops"][0, 0] == 8
    # channel 0 at (0,0): v = 2 >= 1 fires every step (hard reset, leak 0.5): 3 spikes
    assert c["spikes"][0, 0] == 3
    # readout: one spike per step reaches 3 outputs
    assert c["synops"][0, 1] == 3 * 3
    # ops: conv dense 1*2*9*16 once, scaled by the non-zero input share (1 pixel of 16);
    # readout 32*3 per step scaled by the share of membranes not exactly 0 before the reset:
    # only (0, 0) of both channels (v = 2 and 0.5, 0.75, 0.875): 2 of 32 at every step
    assert float(c["ops"][0]) == pytest.approx(1 * 2 * 9 * 16 / 16 + 3 * 32 * 3 * (2 / 32))
    mem = memory_report(net)
    assert mem["weights_bits"] == (2 * 9 + 32 * 3) * 32 and mem["membrane_bits"] == 32 * 32
    ev = evaluate(net, TensorDataset(x, torch.tensor([0])))
    assert ev["synops"] == 17 and ev["spike_rates"] == [pytest.approx(3 / (32 * 3))]


def _reach(y: int, x: int, shape_out: tuple[int, int], k: int, s: int, p: int) -> int:
    """Output positions of a k x k, stride s, padding p conv that input (y, x) feeds."""
    return sum(1 for oy in range(shape_out[0]) for ox in range(shape_out[1])
               if 0 <= y - (oy * s - p) < k and 0 <= x - (ox * s - p) < k)


@pytest.mark.parametrize("dataset,arch", [("digits", "cnn-mlp"), ("event-digits", "cnn-tiny")])
def test_float_counts_follow_section_9_by_plain_loops(dataset: str, arch: str) -> None:
    """float_counts against docs/semantics.md section 9 written as plain loops over what the
    baseline's layers saw (forward hooks: each synapse's input, each neuron's membrane before
    the reset), on a random full-precision network."""
    info = dataset_info(dataset)
    torch.manual_seed(3)
    net = build_arch(info, ArchSettings(weight_bits=32, levels=None, time_steps=3), arch).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.mul_(3)  # enough current that every layer spikes
    g = torch.Generator().manual_seed(1)
    if info.input_kind == "static":
        x = torch.rand(2, *info.input_shape, generator=g)
        x[x < 0.3] = 0
    else:
        x = (torch.rand(2, 3, *info.input_shape, generator=g) < 0.2).float()
    seen: dict[torch.nn.Module, list[torch.Tensor]] = {}
    hooks = []
    synapses = [m for m in net.layers if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    lifs = [m for m in net.layers if isinstance(m, FloatLIF)]
    for m in synapses:
        hooks.append(m.register_forward_pre_hook(
            lambda mod, inp: seen.setdefault(mod, []).append(inp[0].detach().clone())))
    for m in lifs:
        hooks.append(m.register_forward_hook(
            lambda mod, _i, out: seen.setdefault(mod, []).append(mod.v_pre.clone())))
    try:
        c = float_counts(net, x)
    finally:
        for h in hooks:
            h.remove()
    T, static = net.time_steps, info.input_kind == "static"
    assert all(len(seen[m]) == T for m in synapses + lifs)
    for n in range(len(x)):
        synops, ops = [0] * len(synapses), 0.0
        for t in range(T):
            for k, m in enumerate(synapses):
                h = seen[m][t][n]
                if static and k == 0 and t > 0:
                    continue
                if k == 0:
                    z = float((h == 0).sum()) / h.numel()
                    a_in = info.input_shape[0]
                else:
                    v = seen[lifs[k - 1]][t][n]
                    z = float((v == 0).sum()) / v.numel()
                    a_in = v.shape[0]
                if isinstance(m, torch.nn.Conv2d):
                    kk, s, p = m.kernel_size[0], m.stride[0], int(m.padding[0])
                    H, W = h.shape[1:]
                    Ho, Wo = (H + 2 * p - kk) // s + 1, (W + 2 * p - kk) // s + 1
                    reach = sum(_reach(yy, xx, (Ho, Wo), kk, s, p)
                                for ch, yy, xx in (h != 0).nonzero().tolist())
                    dense = a_in * m.out_channels * kk * kk * Ho * Wo
                    count = reach * m.out_channels
                else:
                    dense = m.in_features * m.out_features
                    count = int((h != 0).sum()) * m.out_features
                ops += dense * (1.0 - z)
                synops[k] += count
        assert c["synops"][n].tolist() == synops
        assert float(c["ops"][n]) == pytest.approx(ops, rel=1e-12)
        spikes = [sum(int((seen[m][t][n] >= m.theta()).sum()) for t in range(T)) for m in lifs]
        assert c["spikes"][n].tolist() == spikes
        assert min(spikes) > 0


def test_train_config_rejects_bad_numbers() -> None:
    for bad in (dict(epochs=0), dict(batch_size=0), dict(lr=-1.0), dict(weight_bits=3),
                dict(levels=1), dict(prune=1.0), dict(time_steps=0), dict(prune=0.5,
                prune_by="x"), dict(weight_bits=32)):
        with pytest.raises(spq.SpqError):
            TrainConfig(dataset="digits", **bad).check()  # type: ignore[arg-type]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPQ, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_train_and_eval(tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    r = _run("train", "--dataset", "digits", "--arch", "cnn-tiny", "--epochs", "1",
             "--time-steps", "2", "--limit", "300", "--prune", "0.9", "--finetune-epochs", "1",
             "-q", "-o", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "model.json").read_text())
    assert report["settings"]["limit"] == 300 and report["pruning"]["ratio"] == 0.9
    kept = [p["kept"] for p in report["pruning"]["layers"]]
    assert kept == [int(spq.load(out).layers[i].out_mask.sum()) for i in (0, 4)]
    r = _run("eval", str(out), "--dataset", "digits", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert ev["accuracy"] == report["accuracy"]
    assert ev["synops"] == pytest.approx(report["synops"]) and ev["ops"] == pytest.approx(
        report["ops"])


@pytest.mark.parametrize("args,message", [
    (["train", "--dataset", "nope", "-o", "m.pt"], "unknown dataset"),
    (["train", "--dataset", "digits", "-o", "missing/m.pt"], "output directory does not exist"),
    (["train", "--dataset", "digits", "--epochs", "0", "-o", "m.pt"], "epochs must be"),
    (["train", "--dataset", "digits", "--prune", "2", "-o", "m.pt"], "prune ratio"),
    (["train", "--dataset", "digits", "--weight-bits", "5", "-o", "m.pt"], "weight-bits"),
    (["train", "--dataset", "nmnist", "-o", "m.pt"], "--data-root"),
    (["eval", "nothere.pt", "--dataset", "digits"], "no such checkpoint"),
    (["eval", "nothere.pt", "--dataset", "nope"], "unknown dataset"),
])
def test_cli_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    r = _run(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_cli_eval_rejects_wrong_dataset(trained, tmp_path: Path) -> None:
    net, _ = trained
    spq.save(net, tmp_path / "m.pt")
    r = _run("eval", "m.pt", "--dataset", "event-digits", cwd=tmp_path)
    assert r.returncode == 2 and "takes static input" in r.stderr


def test_training_is_reproducible() -> None:
    cfg = TrainConfig(dataset="event-digits", arch="cnn-tiny", epochs=1, time_steps=2,
                      limit=128, seed=3)
    a, ra = train(cfg, progress=False)
    b, rb = train(cfg, progress=False)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ra["accuracy"] == rb["accuracy"] and ra["synops"] == rb["synops"]
    c, _ = train(TrainConfig(**{**cfg.__dict__, "seed": 4}), progress=False)
    assert not torch.equal(c.state_dict()["layers.0.weight"], sa["layers.0.weight"])


def test_spike_rate_regularisation_lowers_the_rates() -> None:
    cfg = dict(dataset="digits", arch="cnn-tiny", epochs=2, time_steps=2, limit=256, seed=0)
    _, free = train(TrainConfig(**cfg), progress=False)  # type: ignore[arg-type]
    _, reg = train(TrainConfig(**cfg, spike_reg=2.0), progress=False)  # type: ignore[arg-type]
    assert "spike rate" in reg["settings"]["loss"]
    assert sum(reg["spike_rates"]) < 0.7 * sum(free["spike_rates"])
    assert reg["synops"] < free["synops"]
