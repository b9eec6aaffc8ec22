# SPDX-License-Identifier: MIT
"""Quantization-aware training of SpQuant-SNN networks, evaluation and the train report.

The pieces, usable from Python as well as through ``spq train`` / ``spq eval``:

* :func:`tet_loss`: the TET loss (per-time-step cross entropy plus a small MSE term).
* :func:`fit`: Adam over a data set with rich progress bars.
* :func:`evaluate`: accuracy, spike rates, synops and ops of the integer (eval-mode) model.
* :func:`memory_report`: weight and membrane memory in bits, pruned channels removed.
* :func:`train`: all of it from a :class:`TrainConfig`, with optional membrane-prior pruning
  and fine-tuning (:mod:`spq.prune`); returns the network and the JSON report.

The full-precision baseline of docs/results.md (32-bit weights, unquantized membrane) is
trained and evaluated here too; it is built in :mod:`spq.baseline`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as Fn
from torch import nn

from spq.archs import DEFAULT_ARCH, ArchSettings, build_arch
from spq.baseline import FloatSequential, float_counts
from spq.data import DatasetInfo, TensorDataset, dataset_info, open_dataset
from spq.errors import SpqError
from spq.ir import level_bits
from spq.nn.activity import sites
from spq.nn.grammar import blocks
from spq.nn.layers import QuantConv2d, QuantLIF, QuantLinear, _check_bits
from spq.nn.surrogate import SPIKE_SURROGATES
from spq.prune import prune_membrane

TET_LAMBDA = 0.05  # weight of the MSE term (the SpQuant-SNN authors' default; TET's paper
# uses 1e-3; measured in docs/results.md)
TET_MEANS = 1.0  # the MSE target of every output (TET's phi)
PRUNE_SCORES = ("max-relu", "mean-abs")


# ------------------------------------------------------------------------------ config


@dataclass
class TrainConfig:
    dataset: str
    arch: str | None = None
    epochs: int = 10
    time_steps: int | None = None  # the data set's default when None
    weight_bits: int = 4  # 2, 4, 8; 32 = full precision (baseline only, not exportable)
    levels: int | None = 3  # membrane levels; None = unquantized float membrane (baseline)
    beta: float = 0.5
    prune: float | None = None  # pruning amount (see prune_by); None = no pruning
    prune_by: str = "mass"  # "mass": keep channels up to this share of the score mass;
    # "fraction": remove this fraction of each layer's channels
    prune_score: str = "max-relu"  # spq.prune.SCORES
    prune_steps: int = 1  # iterative pruning: this many prune + fine-tune rounds
    finetune_epochs: int | None = None  # after each pruning step; default max(1, epochs // 2)
    tet_lambda: float = TET_LAMBDA
    spike_reg: float = 0.0  # weight of the mean spike rate in the loss
    distill: float = 0.0  # fine-tuning after pruning: weight of distillation from the
    # network before pruning (0: none)
    finetune_lr: float | None = None  # learning rate of the fine-tuning; default lr / 2
    spike_surrogate: str = "triangle"  # spq.nn.surrogate.SPIKE_SURROGATES
    seed: int = 0
    batch_size: int = 64
    lr: float = 1e-2
    data_root: str | None = None
    data_seed: int = 0
    limit: int | None = None  # use only the first N training samples (quick runs)
    workers: int = 0  # DataLoader worker processes for on-disk data sets
    threads: int | None = 1  # torch CPU threads while training (None: torch's default);
    # one thread by default: the tensors are small, and with two threads on a busy 2-core
    # machine a training step took 14 s instead of 1 s (measured)

    def check(self) -> DatasetInfo:
        info = dataset_info(self.dataset)
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise SpqError(f"{name.replace('_', '-')} must be >= 1, "
                               f"got {getattr(self, name)}")
        if self.finetune_epochs is not None and self.finetune_epochs < 0:
            raise SpqError(f"finetune-epochs must be >= 0, got {self.finetune_epochs}")
        if self.time_steps is not None and self.time_steps < 1:
            raise SpqError(f"time-steps must be >= 1, got {self.time_steps}")
        if self.weight_bits not in (2, 4, 8, 32):
            raise SpqError(f"weight-bits must be 2, 4, 8 or 32, got {self.weight_bits}")
        if self.levels is not None and not 2 <= self.levels <= 256:
            raise SpqError(f"levels must be in 2..256 (0 for a float membrane), "
                           f"got {self.levels}")
        if self.is_float != (self.weight_bits == 32 and self.levels is None):
            raise SpqError("the full-precision baseline needs both --weight-bits 32 and "
                           "--levels 0")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SpqError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.beta <= 1.0:
            raise SpqError(f"beta must be in [0, 1], got {self.beta}")
        if self.prune is not None:
            if self.prune_by not in ("mass", "fraction"):
                raise SpqError(f"prune-by must be 'mass' or 'fraction', not {self.prune_by!r}")
            if not 0.0 < self.prune < 1.0:
                raise SpqError(f"prune ratio must be in (0, 1), got {self.prune}")
            if self.is_float:
                raise SpqError("pruning applies to quantized models only")
            if self.prune_score not in PRUNE_SCORES:
                raise SpqError(f"prune-score must be one of {', '.join(PRUNE_SCORES)}, "
                               f"not {self.prune_score!r}")
            if self.prune_steps < 1:
                raise SpqError(f"prune-steps must be >= 1, got {self.prune_steps}")
        if not 0.0 <= self.distill < 1.0:
            raise SpqError(f"distill must be in [0, 1), got {self.distill}")
        if self.finetune_lr is not None and not (math.isfinite(self.finetune_lr)
                                                 and self.finetune_lr > 0):
            raise SpqError(f"finetune-lr must be > 0, got {self.finetune_lr}")
        if not 0.0 <= self.tet_lambda <= 1.0:
            raise SpqError(f"tet-lambda must be in [0, 1], got {self.tet_lambda}")
        if not (math.isfinite(self.spike_reg) and self.spike_reg >= 0):
            raise SpqError(f"spike-reg must be >= 0, got {self.spike_reg}")
        if self.spike_surrogate not in SPIKE_SURROGATES:
            raise SpqError(f"spike-surrogate must be one of {', '.join(SPIKE_SURROGATES)}, "
                           f"not {self.spike_surrogate!r}")
        if self.workers < 0:
            raise SpqError(f"workers must be >= 0, got {self.workers}")
        if self.limit is not None and self.limit < 1:
            raise SpqError(f"limit must be >= 1, got {self.limit}")
        if self.threads is not None and self.threads < 1:
            raise SpqError(f"threads must be >= 1, got {self.threads}")
        return info

    @property
    def is_float(self) -> bool:
        return self.weight_bits == 32 or self.levels is None


# ----------------------------------------------------------------------------- loss


def tet_loss(out_steps: torch.Tensor, y: torch.Tensor, lamb: float = TET_LAMBDA,
             means: float = TET_MEANS) -> torch.Tensor:
    """TET loss on per-step logits ``(T, N, K)``: ``(1 - lamb) * mean_t CE(o_t, y) +
    lamb * MSE(o, means)`` (Deng et al. 2022, as in their code)."""
    T = out_steps.shape[0]
    ce = sum(Fn.cross_entropy(out_steps[t], y) for t in range(T)) / T
    mse = Fn.mse_loss(out_steps, torch.full_like(out_steps, means))
    return (1.0 - lamb) * ce + lamb * mse  # type: ignore[no-any-return]


# ------------------------------------------------------------------ processes and data


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float]) -> list[float]:
        """Sum a few numbers over the processes (the identity for one process)."""
        if self.world == 1:
            return list(values)
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        td.all_reduce(t)
        return [float(v) for v in t.cpu().tolist()]


def current_dist() -> Dist:
    """The process group this process is in (one process when there is none)."""
    import torch.distributed as td

    if not (td.is_available() and td.is_initialized()):
        return Dist()
    device = f"cuda:{torch.cuda.current_device()}" if td.get_backend() == "nccl" else "cpu"
    return Dist(td.get_rank(), td.get_world_size(), device)


@contextlib.contextmanager
def process_group() -> Iterator[Dist]:
    """Join the torchrun job the environment describes (``WORLD_SIZE`` > 1) for the duration:
    nccl when the machine has GPUs (one per process, ``LOCAL_RANK``), else gloo on CPU.
    Without torchrun, or inside a group already joined, it only reports the current one."""
    import torch.distributed as td

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or td.is_initialized():
        yield current_dist()
        return
    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    td.init_process_group("nccl" if gpu else "gloo")
    try:
        yield current_dist()
    except BaseException:
        td.destroy_process_group()  # torchrun stops the other processes
        raise
    # every process reaches the end before any tears its connections down: a process that
    # left first could abort another still talking to it (gloo, seen under load)
    td.barrier()
    td.destroy_process_group()


def shard_indices(n: int, dist: Dist, generator: torch.Generator | None = None) -> torch.Tensor:
    """This process's samples of one pass over ``n`` samples.

    Training (a generator): every process draws the same permutation (same seed), pads it
    by wrapping around to a multiple of the number of processes (as torch's
    DistributedSampler does) and takes every ``world``-th index from its rank on, so each
    process sees a different, equally long shard. Evaluation (no generator): the samples in
    order, each counted by exactly one process.
    """
    if generator is None:
        return torch.arange(dist.rank, n, dist.world)
    order = torch.randperm(n, generator=generator)
    total = math.ceil(n / dist.world) * dist.world
    while len(order) < total:
        order = torch.cat([order, order[:total - len(order)]])
    return order[dist.rank::dist.world]


def batches(ds: torch.utils.data.Dataset, batch_size: int,  # type: ignore[type-arg]
            indices: torch.Tensor | None = None, workers: int = 0,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of ``ds`` over ``indices`` (default: every sample in order).

    An in-memory TensorDataset is indexed directly; any other data set (on disk: tonic,
    torchvision) is read through a torch DataLoader with ``workers`` worker processes.
    """
    idx = torch.arange(len(ds)) if indices is None else indices  # type: ignore[arg-type]
    if isinstance(ds, TensorDataset):
        for i in range(0, len(idx), batch_size):
            j = idx[i:i + batch_size]
            yield ds.x[j], ds.y[j]
        return
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=idx.tolist(),
                                         num_workers=workers)
    for x, y in loader:
        yield x, torch.as_tensor(y, dtype=torch.int64)


def subset(ds: torch.utils.data.Dataset, limit: int | None) -> torch.utils.data.Dataset:  # type: ignore[type-arg]
    if limit is None or limit >= len(ds):  # type: ignore[arg-type]
        return ds
    if isinstance(ds, TensorDataset):
        return TensorDataset(ds.x[:limit], ds.y[:limit])
    return torch.utils.data.Subset(ds, range(limit))


def _train_input(x: torch.Tensor, device: str) -> torch.Tensor:
    return (x.float() if x.dtype == torch.uint8 else x).to(device)


# -------------------------------------------------------------------------- training


def _progress() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        transient=False,
    )


class _Steps(nn.Module):
    """``forward`` = the wrapped network's per-step logits (what DistributedDataParallel
    calls)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_steps(x)  # type: ignore[operator, no-any-return]


def _spiking(net: nn.Module) -> list[nn.Module]:
    return [net.layers[st.lif] for st in blocks(net)]  # type: ignore[arg-type, index]


DISTILL_TAU = 2.0


def _distill_loss(teacher: nn.Module, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        teacher.train()
        for m in teacher.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        t_logits = teacher.forward_steps(x).mean(0)  # type: ignore[operator]
    tau = DISTILL_TAU
    log_s = Fn.log_softmax(out.mean(0) / tau, dim=1)
    p_t = Fn.softmax(t_logits / tau, dim=1)
    return tau * tau * Fn.kl_div(log_s, p_t, reduction="batchmean")


def fit(net: nn.Module, train_ds: torch.utils.data.Dataset, epochs: int,  # type: ignore[type-arg]
        lr: float, batch_size: int, seed: int, progress: bool = True,
        label: str = "train", tet_lambda: float = TET_LAMBDA, spike_reg: float = 0.0,
        workers: int = 0, teacher: nn.Module | None = None,
        distill: float = 0.0) -> dict[str, float]:
    """Train ``net`` (training mode) with Adam and the TET loss; cosine learning-rate decay.

    ``spike_reg`` adds ``spike_reg * mean spike rate`` (over the spiking layers and time
    steps) to the loss. With a ``teacher`` (the network before pruning) and ``distill`` > 0
    the loss is ``(1 - distill) * TET + distill * tau^2 * KL(teacher || student)`` on the
    mean-over-time logits at temperature ``tau`` = :data:`DISTILL_TAU` (Hinton et al.
    2015); the teacher runs in training mode with its BN running statistics, no gradient.
    Inside a torchrun job (:func:`process_group`) the network is wrapped
    in DistributedDataParallel: each process trains on its shard (:func:`shard_indices`)
    with ``batch_size / processes`` samples per step, so that the gradient of one step is
    the mean over ``batch_size`` samples as with one process. Returns the last epoch's mean
    loss and training accuracy (of the mean-over-time logits of the training-mode model on
    the batches it trained on) and the samples of one epoch, over all processes.
    """
    dist = current_dist()
    if batch_size % dist.world:
        raise SpqError(f"batch size {batch_size} is not a multiple of the {dist.world} "
                       "processes")
    local_bs = batch_size // dist.world
    model: nn.Module = _Steps(net)
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [torch.device(dist.device).index] if dist.device != "cpu" else None
        model = DistributedDataParallel(model, device_ids=ids)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(train_ds)  # type: ignore[arg-type]
    n_batches = math.ceil(math.ceil(n / dist.world) / local_bs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * n_batches))
    stats = {"loss": float("nan"), "train_accuracy": float("nan"), "samples": 0.0}
    rates: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: rates.append(out.mean()))
             for m in _spiking(net)] if spike_reg > 0 else []
    bar = _progress() if progress else None
    if bar is not None:
        bar.start()
    try:
        task = bar.add_task(label, total=epochs * n_batches, info="") if bar else None
        for epoch in range(epochs):
            net.train()
            tot_loss = 0.0
            correct = seen = 0
            for x, y in batches(train_ds, local_bs, shard_indices(n, dist, gen), workers):
                y = y.to(dist.device)
                rates.clear()
                xin = _train_input(x, dist.device)
                out = model(xin)
                loss = tet_loss(out, y, tet_lambda)
                if teacher is not None and distill > 0:
                    loss = (1 - distill) * loss + distill * _distill_loss(teacher, xin, out)
                if rates:
                    loss = loss + spike_reg * torch.stack(rates).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                tot_loss += float(loss.detach()) * len(y)
                correct += int((out.detach().mean(0).argmax(1) == y).sum())
                seen += len(y)
                if bar is not None:
                    bar.update(task, advance=1, info=(
                        f"epoch {epoch + 1}/{epochs} loss {tot_loss / seen:.3f} "
                        f"acc {100 * correct / seen:.1f}%"))
            tot_loss, c, s = dist.all_sum([tot_loss, correct, seen])
            stats = {"loss": tot_loss / s, "train_accuracy": c / s, "samples": s}
    finally:
        for h in hooks:
            h.remove()
        if bar is not None:
            bar.stop()
    return stats


# -------------------------------------------------------------------------- counting


def memory_report(net: nn.Module) -> dict[str, Any]:
    """Weight and membrane memory in bits, pruned channels (and their fan-out) removed.

    Weights: every weight of the active (out, in) channel pairs times the layer's bit width
    (32 for the float baseline). Membrane: every active neuron times its stored bits
    (:func:`spq.ir.level_bits`; 32 for a float membrane). Per-channel constants (folded BN,
    thresholds, biases) are listed apart.
    """
    synapses, neurons = sites(net)  # type: ignore[arg-type]
    weights = membrane = consts = 0
    layers = []
    k_neu = 0
    for st, site in zip([st for st in net.stages if st.is_synapse], synapses, strict=True):  # type: ignore[union-attr]
        quantized = isinstance(net.layers[st.idx], (QuantConv2d, QuantLinear))  # type: ignore[index]
        bits = net.layers[st.idx].weight_bits if quantized else 32  # type: ignore[index]
        n = site.active_out * site.active_in * site.kernel * site.kernel
        weights += n * bits
        consts += site.active_out * 32 * (3 if quantized else 1)
        layers.append({"layer": site.kind, "weights": n, "weight_bits": bits})
        if st.lif is not None:
            levels = net.layers[st.lif].levels  # type: ignore[index]
            bits = 32 if levels is None else level_bits(levels)
            n = neurons[k_neu].active
            k_neu += 1
            membrane += n * bits
            layers.append({"layer": "neuron", "neurons": n, "membrane_bits": bits})
    return {"weights_bits": weights, "membrane_bits": membrane,
            "total_bits": weights + membrane, "constants_bits": consts, "layers": layers}


# ------------------------------------------------------------------------ evaluation


@torch.no_grad()
def evaluate(net: nn.Module, ds: torch.utils.data.Dataset,  # type: ignore[type-arg]
             batch_size: int = 256, progress: bool = False, workers: int = 0) -> dict[str, Any]:
    """Accuracy and activity of the integer (eval-mode) model; float baseline: float model.

    ``accuracy`` uses the argmax of the integer logits (first maximum on ties), the same
    integers every runtime computes. ``synops`` and ``ops`` are means per inference
    (docs/semantics.md section 9). Inside a torchrun job each process evaluates its share
    of the samples and the sums are added up: every process returns the whole result.
    """
    dist = current_dist()
    net.eval()
    synapse_sites, neuron_sites = sites(net)  # type: ignore[arg-type]
    n_neu, n_syn = len(neuron_sites), len(synapse_sites)
    spikes = torch.zeros(n_neu, dtype=torch.float64)
    synops = torch.zeros(n_syn, dtype=torch.float64)
    n = correct = 0
    ops = zero = level_zero = 0.0
    idx = shard_indices(len(ds), dist)  # type: ignore[arg-type]
    bar = _progress() if progress else None
    if bar is not None:
        bar.start()
    try:
        task = bar.add_task("evaluate", total=len(idx), info="") if bar else None
        for x, y in batches(ds, batch_size, idx, workers):
            if isinstance(net, FloatSequential):
                logits = net(x)
                c = float_counts(net, x)
                sp, so, op = c["spikes"], c["synops"], c["ops"]
            else:
                r = net.run_int(x)
                logits = r.logits_int
                sp, so, op = r.spike_counts.double(), r.synops.double(), r.ops
                if r.zero_fraction.numel():
                    zero += float(r.zero_fraction.mean(dim=(1, 2)).sum())
                    level_zero += float(r.level_zero_fraction.mean(dim=(1, 2)).sum())
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
            spikes += sp.sum(0)
            synops += so.sum(0)
            ops += float(op.sum())
            if bar is not None:
                bar.update(task, advance=len(y), info=f"acc {100 * correct / n:.1f}%")
    finally:
        if bar is not None:
            bar.stop()
    sums = dist.all_sum([correct, n, ops, zero, level_zero, *spikes.tolist(), *synops.tolist()])
    correct, n, ops, zero, level_zero = sums[:5]  # type: ignore[assignment]
    spikes = torch.tensor(sums[5:5 + n_neu], dtype=torch.float64)
    synops = torch.tensor(sums[5 + n_neu:], dtype=torch.float64)
    if n == 0:
        raise SpqError("the evaluation set is empty")
    T = int(net.time_steps)  # type: ignore[arg-type]
    rates = [float(spikes[i]) / (n * T * max(site.active, 1))
             for i, site in enumerate(neuron_sites)]
    out: dict[str, Any] = {
        "accuracy": correct / n,
        "samples": int(n),
        "spike_rates": rates,  # spikes per active neuron per time step, per neuron layer
        "spikes": float(spikes.sum()) / n,  # per inference
        "synops": float(synops.sum()) / n,  # per inference
        "synops_per_layer": [float(v) / n for v in synops],
        "ops": ops / n,  # docs/semantics.md section 9, per inference
    }
    if not isinstance(net, FloatSequential):
        out["zero_membrane_fraction"] = zero / n  # V == 0 before the reset
        out["zero_level_fraction"] = level_zero / n  # u' == 0 after the reset
    return out


@torch.no_grad()
def float_accuracy(net: nn.Module, ds: torch.utils.data.Dataset,  # type: ignore[type-arg]
                   batch_size: int = 256, workers: int = 0) -> float:
    """Accuracy of the training-mode (float fake-quant) model with BN running statistics
    (sharded over the processes of a torchrun job like :func:`evaluate`)."""
    dist = current_dist()
    was = net.training
    net.train()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    correct = n = 0
    try:
        for x, y in batches(ds, batch_size, shard_indices(len(ds), dist), workers):  # type: ignore[arg-type]
            out = net(_train_input(x, str(next(net.parameters()).device)))
            correct += int((out.argmax(1).cpu() == y).sum())
            n += len(y)
    finally:
        net.train(was)
    c, total = dist.all_sum([correct, n])
    return c / max(total, 1)


# --------------------------------------------------------------------------- driver


def _stack(ds: torch.utils.data.Dataset, n: int) -> torch.Tensor:  # type: ignore[type-arg]
    if isinstance(ds, TensorDataset):
        return ds.x[:n]
    return torch.stack([ds[i][0] for i in range(min(n, len(ds)))])  # type: ignore[arg-type]


def retarget(net: nn.Module, weight_bits: int | None = None, levels: int | None = None) -> None:
    """Set the weight bits of every synapse and the membrane levels of every neuron of an
    spq.nn model in place (None keeps them); a neuron's threshold level D scales with its
    levels, ``D' = clamp(round(D (L' - 1) / (L - 1)), 1, L' - 1)`` (ternary: D' = 1)."""
    for m in net.modules():
        if weight_bits is not None and isinstance(m, (QuantConv2d, QuantLinear)):
            m.weight_bits = _check_bits(weight_bits)
        if levels is not None and isinstance(m, QuantLIF):
            if not 2 <= levels <= 256:
                raise SpqError(f"levels must be in 2..256, got {levels}")
            d = round(m.threshold_level * (levels - 1) / (m.levels - 1))
            m.levels, m.threshold_level = int(levels), int(min(levels - 1, max(1, d)))


def train(cfg: TrainConfig, progress: bool = True,
          start: nn.Module | None = None,
          init: nn.Module | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train (and optionally prune and fine-tune) a network; returns it in eval mode with
    the report that ``spq train`` writes as JSON.

    With ``start`` (a trained network, not changed), training starts from a copy of it and
    skips the first ``cfg.epochs``: only pruning and fine-tuning run (bench/results.py).
    With ``init`` (an spq.nn model, not changed, e.g. an imported NIR graph), a copy of it
    is trained for ``cfg.epochs`` instead of a fresh architecture (quantization-aware
    fine-tuning); ``cfg.arch`` and ``cfg.beta`` are ignored.
    Under torchrun (``WORLD_SIZE`` > 1) the processes train one model together
    (:func:`process_group`, :func:`fit`); every process returns the same network and report.
    """
    cfg.check()
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        with process_group() as dist:
            return _train(cfg, progress and dist.main, start, dist, init)
    finally:
        torch.set_num_threads(threads)


def _prune_steps(cfg: TrainConfig) -> list[float]:
    """The ratio of each pruning step: ``fraction`` removes ``k/steps`` of the final share at
    step k; ``mass`` keeps ``ratio^(1/steps)`` of the remaining score mass at every step."""
    assert cfg.prune is not None
    n = cfg.prune_steps
    if cfg.prune_by == "fraction":
        return [cfg.prune * k / n for k in range(1, n + 1)]
    return [cfg.prune ** (1.0 / n)] * n


def _train(cfg: TrainConfig, progress: bool, start: nn.Module | None,
           dist: Dist, init: nn.Module | None = None) -> tuple[nn.Module, dict[str, Any]]:
    info = cfg.check()
    T = cfg.time_steps or info.default_time_steps
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    train_ds = subset(open_dataset(cfg.dataset, "train", T, cfg.data_root, cfg.data_seed),
                      cfg.limit)
    test_ds = open_dataset(cfg.dataset, "test", T, cfg.data_root, cfg.data_seed)
    settings = ArchSettings(weight_bits=cfg.weight_bits, levels=cfg.levels, time_steps=T,
                            beta=cfg.beta, spike_surrogate=cfg.spike_surrogate)
    t_data = time.perf_counter()
    fit_kw: dict[str, Any] = dict(progress=progress, tet_lambda=cfg.tet_lambda,
                                  spike_reg=cfg.spike_reg, workers=cfg.workers)
    stats: dict[str, float | None]
    if start is None:
        if init is None:
            net = build_arch(info, settings, cfg.arch)
        else:
            net = copy.deepcopy(init)
            net.time_steps = T  # type: ignore[assignment]
        net.to(dist.device)
        stats = dict(fit(net, train_ds, cfg.epochs, cfg.lr, cfg.batch_size, cfg.seed, **fit_kw))
    else:
        net = copy.deepcopy(start).to(dist.device)
        stats = {"loss": None, "train_accuracy": None, "samples": None}
    pruning: dict[str, Any] | None = None
    if cfg.prune is not None:
        x_score = _stack(train_ds, 512)
        ft = cfg.finetune_epochs if cfg.finetune_epochs is not None else max(1, cfg.epochs // 2)
        steps = []
        teacher = copy.deepcopy(net) if cfg.distill > 0 else None
        ft_lr = cfg.finetune_lr if cfg.finetune_lr is not None else cfg.lr / 2
        for k, ratio in enumerate(_prune_steps(cfg)):
            net.cpu()  # scores come from the integer model
            layers = prune_membrane(net, x_score, ratio, cfg.prune_by, cfg.prune_score)
            net.to(dist.device)
            steps.append({"ratio": ratio, "layers": layers})
            if ft:
                stats = dict(fit(net, train_ds, ft, ft_lr, cfg.batch_size, cfg.seed + 1 + k,
                                 label=f"fine-tune {k + 1}", teacher=teacher,
                                 distill=cfg.distill, **fit_kw))
        pruning = {"ratio": cfg.prune, "by": cfg.prune_by, "score": cfg.prune_score,
                   "steps": steps, "scored_on": len(x_score), "finetune_epochs": ft,
                   "layers": steps[-1]["layers"]}
    net.cpu()
    t_train = time.perf_counter()
    is_float = isinstance(net, FloatSequential)
    f_acc = None if is_float else float_accuracy(net, test_ds, workers=cfg.workers)
    result = evaluate(net, test_ds, progress=progress, workers=cfg.workers)
    t_end = time.perf_counter()
    settings_out = {
        "dataset": cfg.dataset, "arch": cfg.arch or DEFAULT_ARCH.get(cfg.dataset, "cnn-small"),
        "epochs": cfg.epochs, "time_steps": T, "weight_bits": cfg.weight_bits,
        "levels": cfg.levels, "beta": cfg.beta, "seed": cfg.seed, "batch_size": cfg.batch_size,
        "lr": cfg.lr, "data_seed": cfg.data_seed, "limit": cfg.limit,
        "started_from_trained_model": start is not None or init is not None,
        "loss": f"TET (lambda={cfg.tet_lambda}, means={TET_MEANS})"
                + (f" + {cfg.spike_reg} x spike rate" if cfg.spike_reg else ""),
        "spike_surrogate": cfg.spike_surrogate, "optimizer": "Adam, cosine",
        "processes": dist.world,
    }
    report: dict[str, Any] = {
        "accuracy": result["accuracy"],
        "model": "float" if is_float else "integer",
        "float_accuracy": f_acc if f_acc is not None else result["accuracy"],
        "train_accuracy": stats["train_accuracy"],
        "train_loss": stats["loss"],
        "train_samples": stats["samples"],
        "test_samples": result["samples"],
        "spike_rates": result["spike_rates"],
        "spikes": result["spikes"],
        "synops": result["synops"],
        "synops_per_layer": result["synops_per_layer"],
        "ops": result["ops"],
        "memory": memory_report(net),
        "settings": settings_out,
        "pruning": pruning,
        "time_s": {"data": t_data - t_start, "train": t_train - t_data,
                   "eval": t_end - t_train, "total": t_end - t_start},
        "threads": torch.get_num_threads(),
    }
    for key in ("zero_membrane_fraction", "zero_level_fraction"):
        if key in result:
            report[key] = result[key]
    net.eval()
    return net, report
