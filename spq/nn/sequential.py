# SPDX-License-Identifier: MIT
"""The SpQuant-SNN model container: grammar check, float training path, exact integer path.

Training mode runs the float fake-quant network layer by layer over all time steps (the
synapse and BN on the T x N frames at once, the neuron step by step).
Eval mode runs the exact integer semantics of docs/semantics.md with int64 tensors, from
the integers of :func:`spq.nn.fold` (computed once and cached; the cache is rebuilt when any
parameter or buffer changes, or on ``train()``/``eval()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from spq.errors import SpqError
from spq.nn import integer
from spq.nn.activity import Activity, Observer, sites
from spq.nn.fold import fold
from spq.nn.grammar import parse
from spq.nn.integer import IntPlan, RunResult, SpikeTrains, Traces
from spq.nn.layers import QuantConv2d, QuantLIF, QuantLinear, layer_spec

INPUT_KINDS = ("static", "events")


def quantize_input(x: torch.Tensor) -> torch.Tensor:
    """Static float image in [0, 1] -> uint8 ``floor(x*255 + 1/2)`` (computed in float32).

    Values outside [0, 1] (0..255 floats, normalized images) are refused, never clamped: a
    clamped image is another image, and every runtime must see the same one."""
    if x.dtype == torch.uint8:
        return x
    if not torch.is_floating_point(x):
        raise SpqError(f"static input must be float in [0, 1] or uint8, got {x.dtype}")
    xf = x.detach().to(torch.float32)
    if not bool(torch.isfinite(xf).all()):
        raise SpqError("static input contains NaN or inf")
    if xf.numel() and (bool((xf < 0).any()) or bool((xf > 1).any())):
        raise SpqError(
            f"static float input must be in [0, 1], got values from {float(xf.min()):g} to "
            f"{float(xf.max()):g} (pass 0..255 pixels as uint8, or divide them by 255)"
        )
    return torch.clamp(torch.floor(xf * 255.0 + 0.5), 0, 255).to(torch.uint8)


class Sequential(nn.Module):
    """A SpQuant-SNN: blocks ``synapse [BN] QuantLIF [pool]`` then a QuantLinear readout
    (or a last linear block whose output spike counts are the logits).

    Args:
        *layers: the layers, in the grammar of docs/semantics.md section 1 (checked here;
            a violation raises :class:`spq.SpqError`).
        time_steps: T, the number of time steps per inference.
        input_kind: ``"static"`` (float (N, C, H, W) in [0, 1], or uint8) or ``"events"``
            ((N, T, C, H, W) with values 0/1, float or uint8).
        input_shape: ``(C, H, W)``.

    ``net(x)`` returns the mean over time of the readout: float32 in training mode; in eval
    mode the exact integer result as float64, ``net(x) == net.int_logits(x).double() *
    net.out_scale``. ``forward_steps(x)`` gives the per-step logits (T, N, classes).
    """

    def __init__(
        self,
        *layers: nn.Module,
        time_steps: int,
        input_kind: str = "static",
        input_shape: Sequence[int],
    ) -> None:
        super().__init__()
        if int(time_steps) != time_steps or not (1 <= int(time_steps) <= 65535):
            raise SpqError(f"time_steps must be an int in 1..65535, got {time_steps!r}")
        if input_kind not in INPUT_KINDS:
            raise SpqError(f"input_kind must be 'static' or 'events', not {input_kind!r}")
        shape = tuple(int(v) for v in input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise SpqError(f"input_shape must be (C, H, W) with positive sizes, got {input_shape}")
        for i, L in enumerate(layers):
            if not isinstance(L, nn.Module):
                raise SpqError(f"layer {i} is not a torch module: {L!r}")
        self.time_steps = int(time_steps)
        self.input_kind = input_kind
        self.input_shape = shape
        self.layers = nn.ModuleList(layers)
        self.stages = parse(list(layers), shape)
        self._plan: IntPlan | None = None

    # ------------------------------------------------------------------ structure
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> nn.Module:
        return self.layers[i]

    @property
    def neurons(self) -> list[QuantLIF]:
        """The QuantLIF layers, in order (one spike train each)."""
        return [m for m in self.layers if isinstance(m, QuantLIF)]

    @property
    def synapses(self) -> list[QuantConv2d | QuantLinear]:
        """The synapse layers in order, the readout last."""
        return [m for m in self.layers if isinstance(m, (QuantConv2d, QuantLinear))]

    @property
    def readout(self) -> QuantLinear:
        """The last synapse: the readout QuantLinear, or that of the spike-count readout."""
        head = self.layers[self.stages[-1].idx]
        assert isinstance(head, QuantLinear)
        return head

    @property
    def spike_readout(self) -> bool:
        """True when the logits are the spike counts of the last block (a QuantLIF ends it)."""
        return self.stages[-1].kind == "spike_readout"

    @property
    def num_classes(self) -> int:
        return self.readout.out_features

    @property
    def out_scale(self) -> float:
        """Float logits per integer logit (``s_w * s_in / T`` of the readout)."""
        return self.int_plan().ir.out_scale

    def spec(self) -> dict[str, Any]:
        """The JSON architecture spec (see :func:`spq.nn.build`)."""
        return {
            "time_steps": self.time_steps,
            "input_kind": self.input_kind,
            "input_shape": list(self.input_shape),
            "layers": [layer_spec(m) for m in self.layers],
        }

    def train(self, mode: bool = True) -> Sequential:
        self._plan = None
        return super().train(mode)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._plan = None
        return super().load_state_dict(*args, **kwargs)

    # ------------------------------------------------------------------ integer plan
    def _cache_key(self) -> tuple[Any, ...]:
        tensors = [(id(t), t._version) for t in self.parameters()]
        tensors += [(id(t), t._version) for t in self.buffers()]
        lifs = [(m.beta, m.levels, m.reset, m.threshold_level, m.strict) for m in self.neurons]
        return (tuple(tensors), tuple(lifs), self.time_steps, self.input_kind)

    def int_plan(self) -> IntPlan:
        """The integer parameters (cached; rebuilt when a parameter or buffer changed)."""
        key = self._cache_key()
        if self._plan is not None and self._plan.key == key:
            return self._plan
        self._plan = integer.plan(fold(self), self.stages, self.layers, key)
        return self._plan

    # ------------------------------------------------------------------ inputs
    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise SpqError("input must be a torch.Tensor")
        C, H, W = self.input_shape
        if self.input_kind == "static":
            if x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
                raise SpqError(f"static input must be (N, {C}, {H}, {W}), got {tuple(x.shape)}")
        else:
            T = self.time_steps
            if x.dim() != 5 or tuple(x.shape[1:]) != (T, C, H, W):
                raise SpqError(f"event input must be (N, {T}, {C}, {H}, {W}), got {tuple(x.shape)}")
            if x.numel() and not bool(((x == 0) | (x == 1)).all()):
                raise SpqError("event input values must be 0 or 1")

    def _int_input(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = x.detach().cpu()
        if self.input_kind == "static":
            return quantize_input(x).to(torch.int64)
        return x.to(torch.int64)

    def _float_input(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        dev = self.readout.weight.device
        if self.input_kind == "static":
            return quantize_input(x).to(dev).to(torch.float32) / 255.0
        return x.to(dev).to(torch.float32)

    # ------------------------------------------------------------------ training path
    def _float_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Training-mode forward, layer by layer over all time steps (tdBN).

        Each synapse (and its BatchNorm) runs once on the ``T x N`` frames stacked along the
        batch dimension, so BN's batch statistics are taken over samples, positions *and*
        time steps together, as in tdBN (Zheng et al. 2021) and the SpQuant-SNN authors'
        code: the statistics that the integer model folds and then uses at every step. Only the
        neuron runs step by step. A static input is the same at every step: the first
        synapse runs once on the N images (the same statistics as over T copies, up to the
        unbiased variance's n / (n - 1)).
        """
        xin = self._float_input(x)
        for m in self.neurons:
            m.reset_state()
        T = self.time_steps
        N = xin.shape[0]
        shared = self.input_kind == "static"  # h is the same at every step: (N, ...)
        h = xin if shared else xin.transpose(0, 1).reshape(T * N, *xin.shape[2:])
        for st in self.stages:
            mod = self.layers[st.idx]
            if st.kind == "flatten":
                h = h.reshape(h.shape[0], -1)
            elif st.kind in ("maxpool", "sumpool"):
                h = mod(h)
            else:
                c = mod(h)
                if st.bn is not None:
                    c = self.layers[st.bn](c)
                if st.kind == "readout":
                    h = c
                    break
                m = mod.out_mask  # type: ignore[union-attr]
                c = c * (m.view(-1, 1, 1) if st.kind == "conv" else m)
                lif = self.layers[st.lif]  # type: ignore[index]
                steps = [c] * T if shared else list(c.view(T, N, *c.shape[1:]))
                h = torch.cat([lif(ct) for ct in steps])
                shared = False
        if shared:
            return h.unsqueeze(0).expand(T, *h.shape)
        return h.view(T, N, *h.shape[1:])

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step logits (T, N, classes): float fake-quant in training mode, exact in eval
        (``(acc_t + bias_q) * s_w * s_in`` as float64)."""
        if self.training:
            return self._float_steps(x)
        res = self._run_int(x, per_step=True)
        assert res.step_logits_int is not None
        return res.step_logits_int.to(torch.float64) * (self.out_scale * self.time_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self._float_steps(x).mean(0)
        return self.int_logits(x).to(torch.float64) * self.out_scale

    # ------------------------------------------------------------------ integer path
    def int_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Exact integer logits (N, classes) int64 (docs/semantics.md), in any mode."""
        return self._run_int(x).logits_int

    def spikes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Integer-path spikes: one uint8 tensor per QuantLIF, (N, T, C, H, W) or (N, T, F)."""
        return self._run_int(x, want_spikes=True).spikes

    def run_int(self, x: torch.Tensor) -> RunResult:
        """Integer inference with spikes, spike counts, synops and the ops count."""
        return self._run_int(x, want_spikes=True, stats=True)

    @torch.no_grad()
    def _run_int(
        self,
        x: torch.Tensor,
        *,
        want_spikes: bool = False,
        stats: bool = False,
        per_step: bool = False,
    ) -> RunResult:
        """Run the integer interpreter (:func:`spq.nn.integer.run`) with the observers the
        flags ask for: spike trains, the counts of docs/semantics.md section 9, and always
        the traces of the neurons whose ``record`` is set."""
        p = self.int_plan()
        xi = self._int_input(x)
        N, T = xi.shape[0], self.time_steps
        synapses, neurons = sites(self)
        counts = Activity(N, T, synapses, neurons)  # zeros unless observed
        trains = SpikeTrains(len(neurons))
        observers: list[Observer] = [Traces(self.neurons)]
        observers += [trains] if want_spikes else []
        observers += [counts] if stats else []
        logits, steps = integer.run(p, xi, self.input_kind == "static", observers, per_step)
        return RunResult(
            logits_int=logits,
            spikes=trains.trains() if want_spikes else [],
            spike_counts=counts.spike_counts,
            synops=counts.synops,
            ops=counts.ops,
            zero_fraction=counts.zero_fraction,
            level_zero_fraction=counts.level_zero_fraction,
            step_logits_int=steps,
        )
