# SPDX-License-Identifier: MIT
"""`spq train` under torchrun: two CPU processes (gloo) train one model with
DistributedDataParallel, each on its shard, rank 0 writes; one step of two processes equals
one step of one process over the same samples."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

import spq
from spq.data import TensorDataset, load_dataset
from spq.train import fit

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2"]


def _net() -> spq.nn.Sequential:
    torch.manual_seed(5)
    return spq.nn.Sequential(
        spq.nn.QuantConv2d(1, 4, 3, padding=1, weight_bits=4), spq.nn.QuantLIF(levels=3),
        spq.nn.Flatten(), spq.nn.QuantLinear(4 * 8 * 8, 3, weight_bits=8),
        time_steps=2, input_kind="static", input_shape=(1, 8, 8))


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(16, 1, 8, 8, generator=g), torch.randint(0, 3, (16,),
                                                                          generator=g))


# The script ends with os._exit: torch 2.13's gloo can abort a process during interpreter
# finalization ("terminate called without an active exception", SIGABRT) after the process
# group was destroyed; seen in about 1 of 5 loaded runs, never before the checkpoint is written.
SCRIPT = """
import os, sys, torch, torch.distributed as td
sys.path.insert(0, {tests!r})
from test_train_ddp import _data, _net
from spq.train import fit, process_group
torch.set_num_threads(1)
with process_group() as dist:
    net = _net()
    stats = fit(net, _data(), epochs=1, lr=0.01, batch_size=8, seed=0, progress=False)
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    both = [torch.zeros_like(flat) for _ in range(dist.world)]
    td.all_gather(both, flat)
    assert dist.world == 2 and torch.equal(both[0], both[1]), "the processes differ"
    if dist.main:
        torch.save(net.state_dict(), {out!r})
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""


def test_two_processes_step_like_one(tmp_path: Path) -> None:
    out = tmp_path / "ddp.pt"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT.format(tests=str(Path(__file__).parent),
                                                    out=str(out))))
    r = subprocess.run([*TORCHRUN, str(script)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    ddp = torch.load(out, weights_only=True)
    # one process, batches of 8: the two shards of 4 are these 8 samples, so the averaged
    # gradient, and Adam's two steps, are the same up to float rounding
    torch.set_num_threads(1)
    net = _net()
    fit(net, _data(), epochs=1, lr=0.01, batch_size=8, seed=0, progress=False)
    one = net.state_dict()
    start = _net().state_dict()
    for k, v in one.items():
        assert torch.allclose(ddp[k], v, rtol=1e-5, atol=1e-6), k
        if k.endswith("weight"):
            assert not torch.equal(v, start[k]), k  # the step moved the weights
    # and a shard-only step would differ: one process on half of each batch
    half = _net()
    d = _data()
    fit(half, TensorDataset(d.x[::2], d.y[::2]), epochs=1, lr=0.01, batch_size=4, seed=0,
        progress=False)
    assert not torch.allclose(half.state_dict()["layers.0.weight"], ddp["layers.0.weight"],
                              rtol=1e-5, atol=1e-6)


def _train(tmp_path: Path, name: str, launcher: list[str]) -> dict:
    args = ["-m", "spq", "train", "--dataset", "digits", "--arch", "cnn-tiny", "--epochs", "3",
            "--time-steps", "2", "--limit", "512", "--batch-size", "32", "-q", "-o",
            str(tmp_path / f"{name}.pt")]
    r = subprocess.run([*launcher, *args], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_cli_torchrun_two_processes(tmp_path: Path) -> None:
    two = _train(tmp_path, "two", TORCHRUN)
    one = _train(tmp_path, "one", [sys.executable])
    assert two["settings"]["processes"] == 2 and one["settings"]["processes"] == 1
    assert two["train_samples"] == one["train_samples"] == 512  # shards, not two copies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "one.pt", "two.json",
                                                          "two.pt"]
    # the checkpoint is the model of the report, and as good as the one-process model
    net = spq.load(tmp_path / "two.pt")
    x, y = load_dataset("digits", "test")
    assert float((net.int_logits(x).argmax(1) == y).double().mean()) == two["accuracy"]
    assert two["accuracy"] > 0.6 and abs(two["accuracy"] - one["accuracy"]) < 0.08
