# SPDX-License-Identifier: MIT
"""The SpQuant-SNN model container: grammar check, float training path, exact integer path.

Training mode runs the float fake-quant network layer by layer over all time steps (the
synapse and BN on the T x N frames at once, the neuron step by step).
Eval mode runs the exact integer semantics of docs/semantics.md with int64 tensors, from
the integers of :func:`spq.nn.fold` (computed once and cached; the cache is rebuilt when any
parameter or buffer changes, or on ``train()``/``eval()``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as Fn
from torch import nn

from spq.errors import SpqError
from spq.ir import LayerIR, ModelIR
from spq.nn.layers import (
    AvgPool2d,
    Flatten,
    MaxPool2d,
    QuantConv2d,
    QuantLIF,
    QuantLinear,
    layer_spec,
)
from spq.nn.quant import THETA_INT, neuron_current, neuron_update

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


@dataclass
class Stage:
    """One step of the parsed program: a block, a pool, a flatten or the readout."""

    kind: str  # "conv" | "linear" | "readout" | "spike_readout" | "maxpool" | "sumpool" |
    # "flatten"
    idx: int  # index of the synapse / pool / flatten in ``layers``
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    bn: int | None = None
    lif: int | None = None


@dataclass
class IntLayer:
    """Torch view of one LayerIR, ready for the integer interpreter."""

    ir: LayerIR
    stage: Stage
    w: torch.Tensor | None = None  # float64 integer-valued weights
    mult: torch.Tensor | None = None  # int64, broadcastable per channel
    shift: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    readout_bias: torch.Tensor | None = None  # int64 (classes,)
    active: torch.Tensor | None = None  # bool (out channels,)
    active_out: int = 0


@dataclass
class IntPlan:
    ir: ModelIR
    layers: list[IntLayer]
    key: tuple[Any, ...]


@dataclass
class RunResult:
    """Everything one integer inference produces (docs/semantics.md sections 5-9).

    ``logits_int`` int64 (N, classes); ``spikes`` one uint8 tensor per neuron layer, (N, T,
    C, H, W) or (N, T, F); ``spike_counts`` int64 (N, neuron layers); ``synops`` int64
    (N, synapse layers incl. readout); ``ops`` float64 (N,), the dense synaptic work left
    after skipping zero inputs and zero membranes (docs/semantics.md section 9);
    ``zero_fraction`` float64 (N, T, neuron layers): fraction of the unmasked neurons whose
    membrane ``V`` is exactly 0 before the reset (the ops count's ``z``);
    ``level_zero_fraction`` the same shape: fraction whose stored level ``u'`` is 0 after
    the reset (it includes every neuron that just fired).
    """

    logits_int: torch.Tensor
    spikes: list[torch.Tensor]
    spike_counts: torch.Tensor
    synops: torch.Tensor
    ops: torch.Tensor
    zero_fraction: torch.Tensor
    level_zero_fraction: torch.Tensor
    step_logits_int: torch.Tensor | None = field(default=None)  # (T, N, classes) acc_t + bias_q


def _is_bn(layer: nn.Module) -> bool:
    return isinstance(layer, nn.modules.batchnorm._BatchNorm)


def _is_flatten(layer: nn.Module) -> bool:
    return isinstance(layer, (Flatten, nn.Flatten))


def _where(i: int, layer: nn.Module) -> str:
    return f"layer {i} ({type(layer).__name__})"


def parse(layers: Sequence[nn.Module], input_shape: tuple[int, ...]) -> list[Stage]:
    """Check the grammar of docs/semantics.md section 1 and infer shapes."""
    n = len(layers)
    if n == 0:
        raise SpqError("Sequential needs at least a readout QuantLinear")
    if not isinstance(layers[-1], (QuantLinear, QuantLIF)):
        raise SpqError(
            "the last layer must be the QuantLinear readout (or the QuantLIF of a spike-count "
            f"readout), not {type(layers[-1]).__name__}"
        )
    stages: list[Stage] = []
    shape = tuple(input_shape)
    i = 0
    while i < n:
        L = layers[i]
        where = _where(i, L)
        if _is_flatten(L):
            flat = (math.prod(shape),)
            stages.append(Stage("flatten", i, shape, flat))
            shape = flat
            i += 1
            continue
        if isinstance(L, QuantConv2d):
            if len(shape) != 3:
                raise SpqError(
                    f"{where}: conv needs an image input, but the data is already flat "
                    "(conv blocks must come before linear blocks)"
                )
            if L.in_channels != shape[0]:
                raise SpqError(f"{where}: in_channels={L.in_channels} but the input has {shape[0]}")
            k, s, p = L.k, int(L.stride[0]), int(L.padding[0])  # type: ignore[index]
            ho = (shape[1] + 2 * p - k) // s + 1
            wo = (shape[2] + 2 * p - k) // s + 1
            if ho < 1 or wo < 1:
                raise SpqError(f"{where}: kernel {k} does not fit the {shape[1]}x{shape[2]} input")
            out: tuple[int, ...] = (L.out_channels, ho, wo)
            kind = "conv"
        elif isinstance(L, QuantLinear):
            if len(shape) != 1:
                raise SpqError(f"{where}: insert Flatten() before the first QuantLinear")
            if L.in_features != shape[0]:
                raise SpqError(f"{where}: in_features={L.in_features} but the input has {shape[0]}")
            out = (L.out_features,)
            if i == n - 1:
                stages.append(Stage("readout", i, shape, out))
                break
            kind = "linear"
        elif _is_bn(L):
            raise SpqError(f"{where}: BatchNorm must directly follow a QuantConv2d/QuantLinear")
        elif isinstance(L, QuantLIF):
            raise SpqError(f"{where}: QuantLIF must follow a synapse (and its optional BatchNorm)")
        elif isinstance(L, (MaxPool2d, AvgPool2d)):
            raise SpqError(f"{where}: a pool may only follow a QuantLIF")
        else:
            raise SpqError(f"{where}: not an spq layer")
        j = i + 1
        bn_idx = None
        if j < n and _is_bn(layers[j]):
            bn = layers[j]
            want = nn.BatchNorm2d if kind == "conv" else nn.BatchNorm1d
            if not isinstance(bn, want):
                raise SpqError(f"{_where(j, bn)}: use {want.__name__} after this synapse")
            if bn.num_features != out[0]:  # type: ignore[union-attr]
                raise SpqError(f"{_where(j, bn)}: num_features must be {out[0]}")
            if not bn.track_running_stats:  # type: ignore[union-attr]
                raise SpqError(f"{_where(j, bn)}: track_running_stats=False cannot be folded")
            bn_idx = j
            j += 1
        if j >= n or not isinstance(layers[j], QuantLIF):
            raise SpqError(
                f"{where} must be followed by [BatchNorm] QuantLIF "
                "(only the last QuantLinear is the readout)"
            )
        if j == n - 1:  # a block ends the model: its spikes are the logits
            if kind != "linear":
                raise SpqError(
                    f"{where}: a spike-count readout must be a linear block "
                    "(Flatten, QuantLinear, [BatchNorm1d], QuantLIF)"
                )
            kind = "spike_readout"
        stages.append(Stage(kind, i, shape, out, bn=bn_idx, lif=j))
        shape = out
        j += 1
        if j < n and isinstance(layers[j], (MaxPool2d, AvgPool2d)):
            P = layers[j]
            if len(shape) != 3:
                raise SpqError(f"{_where(j, P)}: pooling needs an image (after a conv block)")
            k = P.k  # type: ignore[union-attr]
            if shape[1] // k < 1 or shape[2] // k < 1:
                raise SpqError(
                    f"{_where(j, P)}: pool {k} larger than the {shape[1]}x{shape[2]} map"
                )
            pout = (shape[0], shape[1] // k, shape[2] // k)
            kind_p = "maxpool" if isinstance(P, MaxPool2d) else "sumpool"
            stages.append(Stage(kind_p, j, shape, pout))
            shape = pout
            j += 1
        i = j
    return stages


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
        from spq.nn.fold import fold

        ir = fold(self)
        syn_stages = [s for s in self.stages if s.kind not in ("flatten",)]
        layers: list[IntLayer] = []
        for L, st in zip(ir.layers, syn_stages, strict=True):
            il = IntLayer(ir=L, stage=st)
            if L.weight is not None:
                il.w = torch.from_numpy(L.weight.astype("float64"))
                C = L.weight.shape[0]
                mod = self.layers[st.idx]
                il.active = (mod.out_mask.detach().cpu() != 0).clone()  # type: ignore[union-attr]
                il.active_out = int(il.active.sum())
                view = (C, 1, 1) if L.type == "conv" else (C,)
                if L.neuron is not None:
                    il.mult = torch.from_numpy(L.neuron.mult.astype("int64")).view(view)
                    il.shift = torch.from_numpy(L.neuron.shift.astype("int64")).view(view)
                    il.bias = torch.from_numpy(L.neuron.bias.astype("int64")).view(view)
                if L.readout_bias is not None:
                    il.readout_bias = torch.from_numpy(L.readout_bias.astype("int64"))
            layers.append(il)
        self._plan = IntPlan(ir=ir, layers=layers, key=key)
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
        plan = self.int_plan()
        xi = self._int_input(x)
        N, T = xi.shape[0], self.time_steps
        static = self.input_kind == "static"
        neuron_idx = [i for i, L in enumerate(plan.layers) if L.ir.neuron is not None]
        syn_idx = [i for i, L in enumerate(plan.layers) if L.ir.weight is not None]
        n_neu, n_syn = len(neuron_idx), len(syn_idx)
        lifs = self.neurons
        for m in lifs:
            m.trace = []
        u: dict[int, torch.Tensor] = {}
        spk: list[list[torch.Tensor]] = [[] for _ in range(n_neu)]
        counts = torch.zeros(N, n_neu, dtype=torch.int64)
        synops = torch.zeros(N, n_syn, dtype=torch.int64)
        ops = torch.zeros(N, dtype=torch.float64)
        zfrac = torch.zeros(N, T, n_neu, dtype=torch.float64)
        lzfrac = torch.zeros(N, T, n_neu, dtype=torch.float64)
        logits = torch.zeros(N, self.num_classes, dtype=torch.int64)
        step_logits = []
        first_cache: torch.Tensor | None = None
        for t in range(T):
            h = xi if static else xi[:, t]
            z = torch.zeros(N, dtype=torch.float64)  # zero fraction of what feeds the layer
            act_ch = self.input_shape[0]
            ni = si = 0
            for li, L in enumerate(plan.layers):
                ir = L.ir
                if ir.type == "maxpool":
                    h = Fn.max_pool2d(h.to(torch.float64), ir.pool, ir.pool).to(torch.int64)
                    continue
                if ir.type == "sumpool":
                    h = (
                        Fn.avg_pool2d(h.to(torch.float64), ir.pool, ir.pool, divisor_override=1)
                        .round()
                        .to(torch.int64)
                    )
                    continue
                assert L.w is not None
                reuse = static and li == 0 and t > 0
                hin = h if ir.type == "conv" else h.reshape(N, -1)
                if reuse:
                    assert first_cache is not None
                    acc_or_I = first_cache
                else:
                    if ir.type == "conv":
                        accf = Fn.conv2d(hin.to(torch.float64), L.w, None, ir.stride, ir.padding)
                    else:
                        accf = Fn.linear(hin.to(torch.float64), L.w)
                    acc = accf.round().to(torch.int64)
                    if ir.neuron is not None:
                        assert L.mult is not None and L.shift is not None
                        acc_or_I = neuron_current(acc, L.mult, L.shift)
                    else:
                        acc_or_I = acc
                    if static and li == 0:
                        first_cache = acc_or_I
                    if stats:
                        synops[:, si] += self._synop_count(hin, ir, L.active_out)
                        if li == 0:  # the input: a zero pixel or event adds nothing
                            z = (hin == 0).reshape(N, -1).sum(1).to(torch.float64) / max(
                                1, hin[0].numel())
                        if ir.type == "conv":
                            a_in = act_ch
                            k2 = ir.kernel * ir.kernel
                            hw = ir.out_shape[1] * ir.out_shape[2]
                        else:
                            a_in = act_ch * (h[0].numel() // h.shape[1]) if h.dim() == 4 else act_ch
                            k2, hw = 1, 1
                        ops += float(a_in * L.active_out * k2 * hw) * (1.0 - z)
                si += 1
                if ir.neuron is None:  # readout
                    logits += acc_or_I
                    if per_step:
                        assert L.readout_bias is not None
                        step_logits.append(acc_or_I + L.readout_bias)
                    continue
                nr = ir.neuron
                assert L.bias is not None and L.active is not None
                uu = u.get(li)
                if uu is None:
                    uu = torch.zeros_like(acc_or_I)
                s, u[li], V = neuron_update(acc_or_I, uu, L.bias, nr.leak, nr.lo, nr.hi, nr.reset)
                if ir.type == "spike_readout":  # logits are the output spike counts
                    logits += s
                    if per_step:
                        step_logits.append(s.clone())
                lif = lifs[ni]
                if lif.record:
                    lif.trace.append(V.to(torch.float64) / THETA_INT)
                if want_spikes:
                    spk[ni].append(s.to(torch.uint8))
                if stats:
                    counts[:, ni] += s.reshape(N, -1).sum(1)
                    act = L.active.view(-1, 1, 1) if ir.type == "conv" else L.active
                    act_full = act.expand(u[li].shape[1:]).reshape(-1)
                    n_act = int(act_full.sum())
                    zero = (V.reshape(N, -1) == 0) & act_full
                    z = zero.sum(1).to(torch.float64) / max(n_act, 1)
                    lz = ((u[li].reshape(N, -1) == 0) & act_full).sum(1).to(torch.float64)
                    lzfrac[:, t, ni] = lz / max(n_act, 1)
                    if n_act == 0:
                        z = torch.ones(N, dtype=torch.float64)
                    zfrac[:, t, ni] = z
                    act_ch = L.active_out
                h = s
                ni += 1
        ro = plan.layers[-1]
        if ro.readout_bias is not None:
            logits += T * ro.readout_bias
        return RunResult(
            logits_int=logits,
            spikes=[torch.stack(s, 1) for s in spk] if want_spikes else [],
            spike_counts=counts,
            synops=synops,
            ops=ops,
            zero_fraction=zfrac,
            level_zero_fraction=lzfrac,
            step_logits_int=torch.stack(step_logits) if per_step else None,
        )

    @staticmethod
    def _synop_count(hin: torch.Tensor, ir: LayerIR, active_out: int) -> torch.Tensor:
        """Per sample: sum over non-zero inputs of the (out channel, position) pairs reached."""
        N = hin.shape[0]
        nz = (hin != 0).to(torch.float64)
        if ir.type == "conv":
            ones = torch.ones(1, 1, ir.kernel, ir.kernel, dtype=torch.float64)
            reach = Fn.conv2d(nz.sum(1, keepdim=True), ones, None, ir.stride, ir.padding)
            per = reach.reshape(N, -1).sum(1)
        else:
            per = nz.reshape(N, -1).sum(1)
        return per.round().to(torch.int64) * active_out
