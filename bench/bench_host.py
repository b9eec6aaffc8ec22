# SPDX-License-Identifier: MIT
"""Host inference speed: the C runtime through ctypes (HostModel) vs eval-mode spq.nn.

Both run the same exported model on the same inputs and must give the same integer logits
(checked here too). Prints inferences per second of each and their ratio. Host wall times
vary from run to run; the two are measured side by side in one process.

    .venv/bin/python bench/bench_host.py [--n 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import spq
import spq.nn as snn
from spq.export import export
from spq.runtime import HostModel


def build_model(kind: str, seed: int = 0) -> Any:
    """A VGG-ish event or static model with thresholds set so every layer spikes ~10-30 %."""
    torch.manual_seed(seed)
    in_c = 2 if kind == "events" else 3
    net = snn.Sequential(
        snn.QuantConv2d(in_c, 16, 3, padding=1, weight_bits=4), snn.QuantLIF(levels=3),
        snn.MaxPool2d(2),
        snn.QuantConv2d(16, 32, 3, padding=1, weight_bits=4), snn.QuantLIF(levels=3),
        snn.MaxPool2d(2),
        snn.Flatten(),
        snn.QuantLinear(32 * 8 * 8, 64, weight_bits=2), snn.QuantLIF(levels=5),
        snn.QuantLinear(64, 10, weight_bits=8),
        time_steps=8, input_kind=kind, input_shape=(in_c, 32, 32),
    )
    net.eval()
    x = make_inputs(net, 16, seed + 1)
    lifs = [m for m in net.layers if isinstance(m, snn.QuantLIF)]
    for i, lif in enumerate(lifs):  # multiplicative search on each threshold in turn
        for _ in range(30):
            with torch.no_grad():
                rate = float(net.run_int(x).spikes[i].double().mean())
            if 0.10 <= rate <= 0.30:
                break
            with torch.no_grad():
                lif.threshold.mul_(1.5 if rate > 0.30 else 1 / 1.5)
    return net


def make_inputs(net: Any, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    C, H, W = net.input_shape
    if net.input_kind == "static":
        return torch.randint(0, 256, (n, C, H, W), generator=gen).to(torch.uint8)
    return (torch.rand(n, net.time_steps, C, H, W, generator=gen) < 0.15).to(torch.uint8)


def best_time(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="inputs per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="measurements; the best is kept")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'model':<8} {'schedule':<8} {'spike rate':>10} {'spq.nn inf/s':>13} "
          f"{'host C inf/s':>13} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("events", "static"):
            net = build_model(kind)
            spq.save(net, Path(tmp) / f"{kind}.pt")
            export(Path(tmp) / f"{kind}.pt", Path(tmp) / kind, name=f"bench_{kind}", verify_n=4)
            model = HostModel(Path(tmp) / kind)
            x = make_inputs(net, args.n, 123)
            xn = x.numpy()
            with torch.no_grad():
                ref = net.run_int(x)
                t_nn = best_time(lambda net=net, x=x: net.int_logits(x), args.repeat)
            neurons = sum(int(np.prod(s.shape[2:])) for s in ref.spikes)
            rate = float(ref.spike_counts.sum()) / (args.n * net.time_steps * neurons)
            for schedule in ("time", "layer"):
                got = model.run(xn, schedule=schedule)
                if not np.array_equal(got.logits_int, ref.logits_int.numpy()):
                    raise SystemExit(f"{kind}/{schedule}: host C logits differ from spq.nn")
                t_c = best_time(lambda m=model, xn=xn, s=schedule: m.run(xn, schedule=s),
                                args.repeat)
                print(f"{kind:<8} {schedule:<8} {rate:>10.3f} {args.n / t_nn:>13.1f} "
                      f"{args.n / t_c:>13.1f} {t_nn / t_c:>6.1f}x")


if __name__ == "__main__":
    main()
