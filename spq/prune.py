# SPDX-License-Identifier: MIT
"""Spatial-channel pruning with a membrane-potential prior (SpQuant-SNN, section "pruning").

Each spiking block (a conv or linear synapse, optional BN, a QuantLIF) gets one score per
output channel from the membrane potential its neurons reach on training data (the
pre-reset membrane ``v / theta`` in units of the threshold, recorded by ``QuantLIF.record``
in the integer model):

* ``max-relu`` (default): for every sample and time step the largest ``ReLU(v / theta)``
  over the channel's positions, averaged over samples and steps: how close the channel
  comes to firing anywhere. This is the criterion of the authors' channel gate (max over
  positions of the ReLU'd feature map, per sample), made static. A channel held below zero
  (strongly inhibited) scores 0: it never fires, so removing it changes no spike.
* ``mean-abs``: the mean of ``|v / theta|`` over samples, steps and positions (the first
  version; it counts strongly inhibited channels as important).

The scores are normalized per layer to sum to 1 and channels are kept in decreasing order of
score

* until the cumulative normalized score reaches ``ratio`` (``by="mass"``, 0.85 in the
  paper's code), or
* until ``1 - ratio`` of the layer's channels are kept (``by="fraction"``: remove ``ratio``).

The pruned channels get ``out_mask = 0`` (their weights quantize to zero, their neurons
never spike); after fine-tuning, ``spq-export`` removes them and the matching inputs of the
next synapse. The readout layer is never pruned. No spatial gate is built: masks are per
channel only (docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from spq.errors import SpqError
from spq.ir import layer_names
from spq.nn.layers import QuantConv2d, QuantLIF, QuantLinear
from spq.nn.sequential import Sequential

SCORES = ("max-relu", "mean-abs")


@dataclass
class Block:
    index: int  # position of the synapse in net.layers
    synapse: QuantConv2d | QuantLinear
    lif: QuantLIF
    name: str  # the layer's name in the manifest (spq.ir.layer_names): conv1, fc1, ...


def spiking_blocks(net: Sequential) -> list[Block]:
    """The (synapse, neuron) pairs of a network, in order; the readout is not one (nor the
    last block of a spike-count readout: classes are never pruned)."""
    stages = [st for st in net.stages if st.kind != "flatten"]  # one per IR layer
    out: list[Block] = []
    for st, name in zip(stages, layer_names([st.kind for st in stages]), strict=True):
        if st.kind in ("conv", "linear"):
            synapse, lif = net.layers[st.idx], net.layers[st.lif]  # type: ignore[index]
            assert isinstance(synapse, (QuantConv2d, QuantLinear)) and isinstance(lif, QuantLIF)
            out.append(Block(st.idx, synapse, lif, name))
    return out


@torch.no_grad()
def membrane_scores(net: Sequential, x: torch.Tensor, batch_size: int = 128,
                    score: str = "max-relu") -> list[torch.Tensor]:
    """Per-channel score (see the module doc) of every spiking block, from the eval-mode
    (integer) model on inputs ``x``. Channels already masked score 0."""
    if score not in SCORES:
        raise SpqError(f"unknown pruning score {score!r} ({', '.join(SCORES)})")
    blocks = spiking_blocks(net)
    if not blocks:
        raise SpqError("the model has no spiking block to prune")
    was_training = net.training
    net.eval()
    sums = [torch.zeros(int(b.synapse.out_mask.numel()), dtype=torch.float64) for b in blocks]
    count = 0
    try:
        for b in blocks:
            b.lif.record = True
        for i in range(0, len(x), batch_size):
            net(x[i:i + batch_size])
            for k, b in enumerate(blocks):
                trace = torch.stack(list(b.lif.trace)).double()  # (T, N, C[, H, W])
                if score == "mean-abs":
                    trace = trace.abs()
                    if trace.dim() > 3:
                        trace = trace.flatten(3).mean(-1)  # mean over positions
                else:
                    trace = trace.clamp_min(0.0)
                    if trace.dim() > 3:
                        trace = trace.flatten(3).amax(-1)  # max over positions
                sums[k] += trace.sum(dim=(0, 1)).cpu()
            count += len(x[i:i + batch_size])
    finally:
        for b in blocks:
            b.lif.record = False
            b.lif.trace = []
        net.train(was_training)
    T = net.time_steps
    scores = []
    for k, b in enumerate(blocks):
        s = sums[k] / (count * T)
        scores.append(s * b.synapse.out_mask.double().cpu())
    return scores


def select_channels(score: torch.Tensor, ratio: float, by: str = "mass") -> torch.Tensor:
    """0/1 mask of the channels to keep from one layer's scores (see the module doc)."""
    n = score.numel()
    alive = int((score > 0).sum())
    if alive == 0:
        keep = torch.zeros(n, dtype=torch.float32)
        keep[0] = 1.0  # keep one channel so that the layer still exists
        return keep
    order = torch.argsort(score, descending=True, stable=True)
    if by == "mass":
        norm = score[order] / score.sum()
        cum = torch.cumsum(norm, 0)
        n_keep = int((cum < ratio - 1e-12).sum()) + 1  # the channel that reaches the ratio too
    elif by == "fraction":
        n_keep = n - int(ratio * n + 1e-9)  # 0.6 * 1/3 * 10 is 1.9999...: 2 go
    else:
        raise SpqError(f"unknown pruning rule {by!r} (mass or fraction)")
    n_keep = max(1, min(n_keep, alive))
    keep = torch.zeros(n, dtype=torch.float32)
    keep[order[:n_keep]] = 1.0
    return keep


def prune_membrane(net: Sequential, x: torch.Tensor, ratio: float = 0.85, by: str = "mass",
                   score: str = "max-relu", batch_size: int = 128) -> list[dict[str, Any]]:
    """Score every spiking block on ``x`` and set its ``out_mask``; returns one summary per
    layer (name, channels, kept, kept score share). Channels masked before stay masked."""
    if not 0.0 < ratio < 1.0:
        raise SpqError(f"pruning ratio must be in (0, 1), got {ratio}")
    scores = membrane_scores(net, x, batch_size, score)
    summary = []
    for b, score in zip(spiking_blocks(net), scores, strict=True):
        keep = select_channels(score, ratio, by)
        b.synapse.set_out_mask(keep)
        total = float(score.sum())
        summary.append({
            "layer": b.name,
            "channels": int(keep.numel()),
            "kept": int(keep.sum()),
            "kept_score_share": float((score * keep.double()).sum() / total) if total else 0.0,
        })
    return summary
