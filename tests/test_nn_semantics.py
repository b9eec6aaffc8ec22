# SPDX-License-Identifier: MIT
"""Eval-mode spq.nn against docs/semantics.md: hand-checked cases and an independent
plain-Python implementation (integer loops over the folded IR, tests/support/oracle.py, and
an independent fold)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import spq.nn as snn
from spq.errors import SpqError
from spq.ir import QMAX
from spq.nn import quant
from spq.nn.testing import random_input, random_model
from tests.support.oracle import current, neuron_update, scalar_run

F = 16
ONE = 1 << F


# ----------------------------------------------------------------------------- plain Python


def ref_rha(x: float) -> int:
    from fractions import Fraction

    f = Fraction(x)
    n = math.floor(abs(f) + Fraction(1, 2))
    return -n if f < 0 else n


def ref_quantize_weight(W: np.ndarray, bits: int, mask: np.ndarray):
    """Independent numpy version of docs/semantics.md section 3."""
    qmax = QMAX[bits]  # data shared with the code under test; the arithmetic is this file's
    W = W.astype(np.float64)
    keep = mask != 0
    Wk = np.abs(W[keep]).reshape(-1)
    if Wk.size == 0 or Wk.max() == 0:
        return np.zeros(W.shape, dtype=np.int64), 1.0
    mean = math.fsum(Wk.tolist()) / Wk.size
    if bits == 2:
        t = 0.7 * mean
        kept = Wk[Wk > t]
        s = math.fsum(kept.tolist()) / kept.size if kept.size else 1.0
        q = np.where(np.abs(W) > t, np.sign(W), 0.0)
    else:
        alpha = min({4: 2.0, 8: 4.0}[bits] * mean, float(Wk.max()))
        s = alpha / qmax
        q = np.clip(np.round(W / s), -qmax, qmax)  # numpy rounds half to even
    q = q.astype(np.int64)
    q[~keep] = 0
    return q, s


def ref_mult_shift(a: float) -> tuple[int, int]:
    if a == 0:
        return 0, 0
    _, e = math.frexp(a)
    S = 31 - F - e
    M = ref_rha(a * 2.0 ** (S + F))
    if abs(M) == 2**31:
        S -= 1
        M = ref_rha(a * 2.0 ** (S + F))
    if not 0 <= S <= 62:
        S = min(62, max(0, S))
        M = max(-(2**31 - 1), min(2**31 - 1, ref_rha(a * 2.0 ** (S + F))))
    return M, S


# ----------------------------------------------------------------------------- scalars


def test_rounding_helpers_by_hand():
    assert [quant.rha(v) for v in (2.5, -2.5, 0.5, -0.5, 1.49, -1.51)] == [3, -3, 1, -1, 1, -2]
    assert quant.rha(0.49999999999999994) == 0  # x + 0.5 would round up to 1.0 in float
    assert [quant.rhu(v) for v in (2.5, -2.5, -0.5, 0.49999999999999994)] == [3, -2, 0, 0]
    with pytest.raises(SpqError):
        quant.rha(float("nan"))


def test_mult_shift_by_hand():
    assert quant.mult_shift(1.0) == (1 << 30, 14)  # frexp(1) = (0.5, 1): S = 31 - 16 - 1
    assert quant.mult_shift(0.5) == (1 << 30, 15)
    assert quant.mult_shift(0.75) == (1610612736, 15)  # 0.75 * 2^31
    assert quant.mult_shift(-0.75) == (-1610612736, 15)
    assert quant.mult_shift(0.0) == (0, 0)
    # mantissa rounds up to 2^31: one shift less
    assert quant.mult_shift(1.0 - 2.0**-40) == (1 << 30, 14)
    # huge scale: S clamps to 0, M saturates
    assert quant.mult_shift(2.0**20) == (2**31 - 1, 0)
    assert quant.mult_shift(-(2.0**20)) == (-(2**31 - 1), 0)
    # 2^14: frexp = (0.5, 15), so S = 0 exactly and M = 2^30
    assert quant.mult_shift(2.0**14) == (1 << 30, 0)
    # tiny scale: S clamps to 62 and M rounds to 0
    assert quant.mult_shift(1e-30) == (0, 62)
    assert quant.bias_int(-0.25) == -16384
    assert quant.bias_int(1e9) == 1 << 29 and quant.bias_int(-1e9) == -(1 << 29)
    assert quant.leak_int(0.5) == 32768 and quant.leak_int(0.75) == 49152


def test_mult_shift_matches_reference_on_random_scales():
    rng = random.Random(3)
    for _ in range(3000):
        a = rng.choice([-1, 1]) * 10 ** rng.uniform(-12, 8)
        assert quant.mult_shift(a) == ref_mult_shift(a), a


def test_integer_step_matches_plain_python():
    rng = random.Random(5)
    n = 4000
    acc = [rng.choice([rng.randint(-50, 50), rng.randint(-(10**6), 10**6)]) for _ in range(n)]
    M = [rng.randint(-(2**31 - 1), 2**31 - 1) for _ in range(n)]
    S = [rng.choice([0, 1, 2, 14, 20, 31, 40, 62, rng.randint(0, 62)]) for _ in range(n)]
    B = [rng.randint(-(2**29), 2**29) for _ in range(n)]
    u = [rng.randint(-14, 1) for _ in range(n)]
    cur = quant.neuron_current(torch.tensor(acc), torch.tensor(M), torch.tensor(S))
    for reset in ("hard", "soft"):
        for K in (0, 16384, 32768, 65536):
            s, un, V = quant.neuron_update(cur, torch.tensor(u), torch.tensor(B), K, -14, 1, reset)
            for i in range(n):
                I = current(acc[i], M[i], S[i])  # noqa: E741
                assert int(cur[i]) == I
                assert (int(s[i]), int(un[i]), int(V[i])) == neuron_update(
                    I, u[i], B[i], K, -14, 1, reset
                )


# ----------------------------------------------------------------------------- hand cases


def _one_neuron_net(
    n_plus: int,
    n_minus: int,
    *,
    levels: int,
    beta: float,
    bias: float,
    reset: str,
    threshold: float = 1.0,
    T: int,
) -> snn.Sequential:
    """Events input of n_plus + n_minus pixels -> 1 neuron with weights +1/-1 (ternary:
    s_w = 1, so with theta = 1 the current is exactly acc) -> readout weight 1 (logit = spike
    count)."""
    n_in = n_plus + n_minus
    fc = snn.QuantLinear(n_in, 1, bias=True, weight_bits=2)
    ro = snn.QuantLinear(1, 1, bias=False, weight_bits=2)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0] * n_plus + [-1.0] * n_minus]))
        fc.bias.fill_(bias)
        ro.weight.fill_(1.0)
    lif = snn.QuantLIF(levels=levels, beta=beta, threshold=threshold, reset=reset)
    net = snn.Sequential(
        snn.Flatten(), fc, lif, ro, time_steps=T, input_kind="events", input_shape=(1, 1, n_in)
    )
    return net.eval()


def _frames(n_plus: int, n_minus: int, accs: list[tuple[int, int]]) -> torch.Tensor:
    """Event frames whose t-th frame turns on p plus-inputs and m minus-inputs."""
    x = torch.zeros(1, len(accs), 1, 1, n_plus + n_minus)
    for t, (p, m) in enumerate(accs):
        x[0, t, 0, 0, :p] = 1
        x[0, t, 0, 0, n_plus : n_plus + m] = 1
    return x


def _trace(net: snn.Sequential, x: torch.Tensor) -> tuple[list[int], list[float]]:
    lif = net.neurons[0]
    lif.record = True
    spikes = net.spikes(x)[0][0, :, 0].tolist()
    return spikes, [float(v[0, 0]) for v in lif.trace]


def test_folded_params_of_hand_net():
    net = _one_neuron_net(2, 2, levels=3, beta=0.5, bias=-0.25, reset="hard", T=2)
    L = snn.fold(net).layers[0]
    assert L.weight.tolist() == [[1, 1, -1, -1]]
    n = L.neuron
    assert (int(n.mult[0]), int(n.shift[0]), int(n.bias[0])) == (1 << 30, 14, -16384)
    assert (n.leak, n.lo, n.hi) == (32768, -1, 1)


def test_ternary_hard_reset_negative_and_low_saturation():
    # beta 0.5, bias -0.25 theta, acc per step 1, 0, -2, -1, 2, 1 (units of theta):
    # t0 V=0.75 -> u=1 | t1 V=0.5+0-0.25=0.25 -> u=0 | t2 V=-2.25 -> u=-2 clamped to -1
    # t3 V=-0.5-1-0.25=-1.75 -> -1 | t4 V=-0.5+2-0.25=1.25 spike, hard -> u=0 | t5 V=0.75
    accs = [(1, 0), (0, 0), (0, 2), (0, 1), (2, 0), (1, 0)]
    net = _one_neuron_net(2, 2, levels=3, beta=0.5, bias=-0.25, reset="hard", T=6)
    spikes, vs = _trace(net, _frames(2, 2, accs))
    assert spikes == [0, 0, 0, 0, 1, 0]
    assert vs == [0.75, 0.25, -2.25, -1.75, 1.25, 0.75]
    assert net.int_logits(_frames(2, 2, accs)).tolist() == [[1]]


def test_soft_versus_hard_reset_and_high_saturation():
    # bias 0.5, acc 2 then 0: V0 = 2.5 spikes. soft: V' = 1.5 -> rhu = 2 -> clamp hi = 1,
    # so V1 = 0.5*1 + 0.5 = 1.0 spikes again; hard: u = 0, V1 = 0.5, no spike.
    accs = [(2, 0), (0, 0)]
    soft = _one_neuron_net(2, 0, levels=3, beta=0.5, bias=0.5, reset="soft", T=2)
    hard = _one_neuron_net(2, 0, levels=3, beta=0.5, bias=0.5, reset="hard", T=2)
    assert _trace(soft, _frames(2, 0, accs)) == ([1, 1], [2.5, 1.0])
    assert _trace(hard, _frames(2, 0, accs)) == ([1, 0], [2.5, 0.5])


def test_rounding_ties_go_up():
    # bias +0.5, no input: V0 = 0.5 -> u = rhu(0.5) = 1; V1 = 0.5 + 0.5 = 1.0 -> spike.
    net = _one_neuron_net(1, 0, levels=3, beta=0.5, bias=0.5, reset="hard", T=3)
    assert _trace(net, _frames(1, 0, [(0, 0)] * 3)) == ([0, 1, 0], [0.5, 1.0, 0.5])
    # bias -1.5, 5 levels ({-3..1}), beta 1: V0 = -1.5 -> rhu = -1 (not -2);
    # V1 = -1 - 1.5 = -2.5 -> rhu = -2; V2 = -2 - 1.5 = -3.5 -> -3; V3 = -4.5 -> -4 -> clamp -3
    net = _one_neuron_net(1, 0, levels=5, beta=1.0, bias=-1.5, reset="hard", T=4)
    spikes, vs = _trace(net, _frames(1, 0, [(0, 0)] * 4))
    assert vs == [-1.5, -2.5, -3.5, -4.5] and spikes == [0, 0, 0, 0]
    # the same with beta 0.5 makes the clamp visible: u settles where -u/2 - 1.5 rounds to u
    net = _one_neuron_net(1, 0, levels=5, beta=0.5, bias=-1.5, reset="hard", T=3)
    # V0 = -1.5 -> -1; V1 = -0.5 - 1.5 = -2 -> -2; V2 = -1 - 1.5 = -2.5 -> -2
    assert _trace(net, _frames(1, 0, [(0, 0)] * 3))[1] == [-1.5, -2.0, -2.5]


def test_levels_two_and_leak_zero_and_one():
    # L = 2: levels {0, 1}; a negative V clamps to 0. beta 1.0: u carries over unleaked.
    net = _one_neuron_net(1, 1, levels=2, beta=1.0, bias=0.0, reset="hard", T=4)
    # acc -1 -> V=-1 -> u=0 (clamp lo=0); acc 0 -> V=0; acc... (p,m)
    sp, vs = _trace(net, _frames(1, 1, [(0, 1), (0, 0), (1, 1), (1, 0)]))
    assert vs == [-1.0, 0.0, 0.0, 1.0] and sp == [0, 0, 0, 1]
    net = _one_neuron_net(1, 0, levels=3, beta=0.0, bias=0.75, reset="hard", T=3)
    # beta 0: the membrane forgets: V = 0.75 every step, never spikes
    assert _trace(net, _frames(1, 0, [(0, 0)] * 3)) == ([0, 0, 0], [0.75, 0.75, 0.75])


def test_current_saturates_at_2_pow_29():
    # theta 1e-3 (float32 0.0010000000475): a = 1/theta, acc = +-9 -> |acc*a*2^16| > 2^29
    net = _one_neuron_net(9, 9, levels=3, beta=0.5, bias=0.0, reset="hard", T=3, threshold=1e-3)
    n = snn.fold(net).layers[0].neuron
    assert abs(9 * int(n.mult[0]) >> int(n.shift[0])) > 1 << 29  # would exceed without sat
    sp, vs = _trace(net, _frames(9, 9, [(9, 0), (0, 9), (0, 0)]))
    # t0: I = +2^29 -> spike, hard reset -> u = 0; t1: I = -2^29 -> u = clamp(..) = -1;
    # t2: V = K * -1 = -0.5
    assert sp == [1, 0, 0]
    assert vs == [8192.0, -8192.0, -0.5]


def test_bias_saturates_and_masked_channel_never_spikes():
    net = _one_neuron_net(1, 0, levels=3, beta=0.5, bias=1e6, reset="hard", T=2)
    assert _trace(net, _frames(1, 0, [(0, 0)] * 2)) == ([1, 1], [8192.0, 8192.0])
    net.layers[1].set_out_mask([0.0])
    ir = snn.fold(net)
    n = ir.layers[0].neuron
    assert (int(n.mult[0]), int(n.shift[0]), int(n.bias[0])) == (0, 0, 0)
    assert ir.layers[0].kept_channels == []
    assert _trace(net, _frames(1, 0, [(1, 0)] * 2))[0] == [0, 0]


def test_static_input_quantization_by_hand():
    x = torch.tensor([0.0, 0.5 / 255, 1.5 / 255, 0.49999, 0.5, 254.49 / 255, 1.0])
    assert snn.quantize_input(x).tolist() == [0, 1, 2, 127, 128, 254, 255]
    q = torch.tensor([[7]], dtype=torch.uint8)
    assert snn.quantize_input(q) is q
    # outside [0, 1] is refused, never clamped (clamping changes the image and the answer)
    for bad in (1.2, -0.1, 2.0, 255.0, -1e-7, float("nan")):
        with pytest.raises(SpqError, match=r"\[0, 1\]|NaN"):
            snn.quantize_input(torch.tensor([0.5, bad]))


def test_static_float_input_outside_unit_range_is_refused_everywhere_in_spq_nn():
    """eval (int_logits, run_int) and training mode take the same inputs; 0..255 floats were
    clamped to 1.0 before and gave another prediction without a word."""
    net = random_model(4, input_kind="static")
    x = random_input(net, 2, 9)
    with pytest.raises(SpqError, match=r"must be in \[0, 1\], got values from \d+ to \d+"):
        net.int_logits(x.to(torch.float32))
    with pytest.raises(SpqError, match=r"\[0, 1\]"):
        net.run_int(x.to(torch.float32) * 2 / 255 - 1)
    net.train()
    with pytest.raises(SpqError, match=r"\[0, 1\]"):
        net(x.to(torch.float32))
    net(x.to(torch.float32) / 255)  # in [0, 1]: fine


def test_weight_quantization_by_hand():
    W = torch.tensor([[0.1, -0.3, 0.05], [0.2, 0.0, -0.6]])
    # 2 bit: mean|W| = 1.25/6, t = 0.7 * mean = 0.1458..; kept |W| > t: .3 .2 .6 -> s = 1.1/3
    q = quant.quantize_weight(W, 2)
    assert q.w.tolist() == [[0, -1, 0], [1, 0, -1]]
    assert q.scale == pytest.approx(1.1 / 3, rel=1e-7)
    # 4 bit: alpha = min(2 * mean, max) = 0.41666.., s = alpha / 7; W/s rounded half-even
    q4 = quant.quantize_weight(W, 4)
    s = min(2 * 1.25 / 6, 0.6) / 7
    assert q4.scale == pytest.approx(s, rel=1e-6)
    assert q4.w.tolist() == [[2, -5, 1], [3, 0, -7]]  # 0.1/s=1.68 0.3/s=5.04 0.05/s=.84 ...
    # 8 bit with an exact tie: W = [1, 0.5, ...] chosen so W/s hits k + 1/2
    W8 = torch.tensor([[127.0, 2.5, 3.5, -2.5, 0.0, 0.0, 0.0, 0.0]])  # max = 127 -> s = 1
    q8 = quant.quantize_weight(W8, 8)
    assert q8.scale == pytest.approx(min(4 * 135.5 / 8, 127.0) / 127)
    # masked rows: zero weights, statistics from the other rows only
    qm = quant.quantize_weight(W, 4, torch.tensor([0.0, 1.0]))
    assert qm.w[0].tolist() == [0, 0, 0]
    assert qm.scale == pytest.approx(min(2 * 0.8 / 3, 0.6) / 7)
    assert quant.quantize_weight(torch.zeros(2, 3), 8).scale == 1.0


def test_round_half_even_ties_in_weights():
    # 8 bit, all |W| = 1 except ties: alpha = min(4 * mean, max); pick W so that s = 1 exactly:
    # max|W| = 127 and 4*mean > 127 -> alpha = 127, s = 1. Values k + 0.5 round to even.
    W = torch.tensor([[127.0, 126.5, 125.5, -0.5, 1.5, -2.5, 100.0, 120.0]])
    q = quant.quantize_weight(W, 8)
    assert q.scale == 1.0
    assert q.w.tolist() == [[127, 126, 126, 0, 2, -2, 100, 120]]


# ----------------------------------------------------------------------------- random models


@pytest.mark.parametrize("seed", range(10))
def test_eval_matches_plain_python_interpreter(seed):
    net = random_model(seed, prune=seed % 3 == 0)
    x = random_input(net, 2, seed)
    ir = snn.fold(net)
    got = net.run_int(x)
    for i in range(x.shape[0]):
        logits, spikes = scalar_run(ir, x[i].numpy())
        assert got.logits_int[i].tolist() == logits
        for k, s in enumerate(spikes):
            assert np.array_equal(got.spikes[k][i].numpy(), s)


@pytest.mark.parametrize("seed", range(12))
def test_fold_matches_independent_fold(seed):
    net = random_model(seed, prune=seed % 2 == 0)
    ir = snn.fold(net)
    static = net.input_kind == "static"
    s_in = 1 / 255 if static else 1.0
    li = 0
    for st in net.stages:
        mod = net.layers[st.idx]
        if st.kind == "flatten":
            continue
        L = ir.layers[li]
        li += 1
        if st.kind == "maxpool":
            assert L.type == "maxpool"
            continue
        if st.kind == "sumpool":
            assert L.type == "sumpool"
            s_in = 1.0 / (mod.k * mod.k)
            continue
        mask = mod.out_mask.numpy()
        w, s_w = ref_quantize_weight(mod.weight.detach().numpy(), mod.weight_bits, mask)
        assert np.array_equal(L.weight.astype(np.int64), w)
        bias = mod.bias.detach().double().numpy() if mod.bias is not None else np.zeros(len(mask))
        if st.kind == "readout":
            want = [
                0 if m == 0 else max(-(2**31 - 1), min(2**31 - 1, ref_rha(b / (s_w * s_in))))
                for b, m in zip(bias.tolist(), mask.tolist(), strict=True)
            ]
            assert L.readout_bias.tolist() == want
            assert ir.out_scale == s_w * s_in / net.time_steps
            continue
        lif = net.layers[st.lif]
        theta = max(float(lif.threshold.detach()), 1e-3)
        bn = net.layers[st.bn] if st.bn is not None else None
        for c in range(len(mask)):
            if mask[c] == 0:
                assert (L.neuron.mult[c], L.neuron.shift[c], L.neuron.bias[c]) == (0, 0, 0)
                continue
            if bn is not None:
                g = float(bn.weight.detach()[c]) / math.sqrt(float(bn.running_var[c]) + bn.eps)
                b = (
                    (float(bias[c]) - float(bn.running_mean[c])) * g + float(bn.bias.detach()[c])
                ) / theta
            else:
                g, b = 1.0, float(bias[c]) / theta
            M, S = ref_mult_shift(s_w * s_in * g / theta)
            assert (int(L.neuron.mult[c]), int(L.neuron.shift[c])) == (M, S)
            assert int(L.neuron.bias[c]) == max(-(2**29), min(2**29, ref_rha(b * 2.0**F)))
        assert L.neuron.leak == ref_rha(lif.beta * 2.0**F)
        assert L.kept_channels == [i for i in range(len(mask)) if mask[i] != 0]
        s_in = 1.0


def test_eval_is_deterministic_and_cached():
    net = random_model(21)
    x = random_input(net, 4, 1)
    a = net.int_logits(x)
    plan = net.int_plan()
    assert net.int_plan() is plan  # cached
    assert torch.equal(net.int_logits(x), a)
    with torch.no_grad():  # any parameter change invalidates the cache
        net.readout.weight.mul_(-1)
    assert net.int_plan() is not plan
    net.train()
    net.eval()
    with torch.no_grad():
        net.readout.weight.mul_(-1)
    assert torch.equal(net.int_logits(x), a)


def test_float_and_uint8_static_inputs_agree():
    net = random_model(4, input_kind="static")
    x = random_input(net, 3, 9)
    assert x.dtype == torch.uint8
    xf = random_input(net, 3, 9, as_float=True)
    assert torch.equal(snn.quantize_input(xf), x)
    assert torch.equal(net.int_logits(x), net.int_logits(xf))


def _drop_pruned(ir):
    """Remove masked channels from a ModelIR (rows of the neuron layer, matching inputs of
    the next synapse), independently of the exporter."""
    import copy

    ir = copy.deepcopy(ir)
    keep_in = None  # kept channels (or features) of the data flowing into the next layer
    hw = 0  # spatial size H*W of that data (0 once it is flat)
    for L in ir.layers:
        if L.type in ("maxpool", "sumpool"):
            L.in_shape = (len(keep_in), *L.in_shape[1:])
            L.out_shape = (len(keep_in), *L.out_shape[1:])
            hw = L.out_shape[1] * L.out_shape[2]
            continue
        w = L.weight
        if keep_in is not None:
            if L.type == "conv":
                w = w[:, keep_in]
                L.in_shape = (len(keep_in), *L.in_shape[1:])
            else:
                cols = [c * hw + j for c in keep_in for j in range(hw)] if hw else list(keep_in)
                w = w[:, cols]
                L.in_shape = (len(cols),)
        if L.neuron is not None:
            k = L.kept_channels
            w = w[k]
            n = L.neuron
            n.mult, n.shift, n.bias = n.mult[k], n.shift[k], n.bias[k]
            L.out_shape = (len(k), *L.out_shape[1:])
            keep_in = k
            hw = L.out_shape[1] * L.out_shape[2] if L.type == "conv" else 0
        L.weight = w
    return ir


@pytest.mark.parametrize("seed", range(8))
def test_masked_channels_can_be_removed_from_the_integers(seed):
    net = random_model(seed + 300, prune=True)
    ir = snn.fold(net)
    assert any(len(L.kept_channels) < L.out_shape[0] for L in ir.neuron_layers)
    small = _drop_pruned(ir)
    x = random_input(net, 2, seed)
    got = net.run_int(x)
    for i in range(2):
        logits, spikes = scalar_run(small, x[i].numpy())
        assert got.logits_int[i].tolist() == logits
        for L, full, s in zip(ir.neuron_layers, got.spikes, spikes, strict=True):
            assert np.array_equal(full[i][:, L.kept_channels].numpy(), s)


@pytest.mark.parametrize("seed", range(6))
def test_extreme_parameters_match_plain_python(seed):
    """Scales that push S to 0 or 62, I and B into saturation, M negative: whole-network
    integer path against the plain-Python interpreter."""
    net = random_model(seed + 500)
    rng = random.Random(seed)
    with torch.no_grad():
        for st in net.stages:
            if st.lif is None:
                continue
            syn = net.layers[st.idx]
            lif = net.layers[st.lif]
            choice = rng.choice(["huge", "tiny", "bias", "neg"])
            if choice == "huge":  # a_c ~ 1e7: S clamps to 0, M saturates, I saturates
                lif.threshold.fill_(1e-3)
                syn.weight.mul_(1e4)
            elif choice == "tiny":  # a_c ~ 1e-16: S clamps to 62
                lif.threshold.fill_(1e12)
            elif choice == "bias" and syn.bias is not None:
                syn.bias.fill_(rng.choice([-1e7, 1e7]))
            else:
                syn.weight.mul_(-1.0)
    ir = snn.fold(net)
    shifts = {int(s) for L in ir.neuron_layers for s in L.neuron.shift}
    x = random_input(net, 2, seed)
    got = net.run_int(x)
    for i in range(2):
        logits, spikes = scalar_run(ir, x[i].numpy())
        assert got.logits_int[i].tolist() == logits
        for k, s in enumerate(spikes):
            assert np.array_equal(got.spikes[k][i].numpy(), s)
    assert shifts  # the model has neuron layers
