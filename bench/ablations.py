# SPDX-License-Identifier: MIT
"""What each training choice of spq is worth: the quantized (unpruned) model trained with
one choice changed at a time, against the reference recipe, on several seeds.

The choices are the ones where spq and the SpQuant-SNN authors' code could differ
(docs/results.md, "Choices measured"):

* ``bn-per-step``: BatchNorm statistics per time step (spq before issue 14) instead of over
  all time steps (tdBN, the authors' and spq's training path now);
* ``tet-1e-3``: TET's MSE weight 1e-3 (TET's paper) instead of 0.05 (the authors');
* ``surrogate-wide``: the authors' spike surrogate (+-1, peak 1) instead of spq's (+-0.5,
  peak 2);
* ``levels-5``: 5 membrane levels {-3..1} (the authors' default) instead of 3 (ternary);
* ``w8-sawb2`` / ``w8-sawb4``: 8-bit weights clipped at 2 x mean|W| (the authors') or
  4 x mean|W| (spq);
* ``w2-mean`` / ``w2-max``: ternary weights with spq's threshold 0.7 x mean|W| or the
  authors' 0.05 x max|W|;
* ``spike-reg``: a spike-rate term (0.05 x mean rate) in the loss.

    .venv/bin/python bench/ablations.py [--sets digits,event-digits] [--seeds 0,1]
        [--json FILE] [--arch cnn-small] [--epochs 15]

Prints one markdown table (accuracy per seed, mean, difference to the reference, spike
rates); docs/results.md quotes it with the command.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS: dict[str, dict[str, Any]] = {
    "reference": {},
    "bn-per-step": {"patch": "bn-per-step"},
    "tet-1e-3": {"tet_lambda": 1e-3},
    "surrogate-wide": {"spike_surrogate": "triangle-wide"},
    "levels-5": {"levels": 5},
    "spike-reg": {"spike_reg": 0.05},
    "w8-sawb4": {"weight_bits": 8},
    "w8-sawb2": {"weight_bits": 8, "patch": "sawb8-2"},
    "w2-mean": {"weight_bits": 2},
    "w2-max": {"weight_bits": 2, "patch": "ternary-max"},
}


def _per_step_float_steps(self: Any, x: Any) -> Any:
    """spq's training forward before issue 14: one time step at a time, BN per step."""
    import torch

    xin = self._float_input(x)
    for m in self.neurons:
        m.reset_state()
    static = self.input_kind == "static"
    first = next(i for i, s in enumerate(self.stages) if s.kind != "flatten")
    cached = None
    outs = []
    for t in range(self.time_steps):
        h = xin if static else xin[:, t]
        for si, st in enumerate(self.stages):
            mod = self.layers[st.idx]
            if st.kind == "flatten":
                h = h.reshape(h.shape[0], -1)
            elif st.kind in ("maxpool", "sumpool"):
                h = mod(h)
            else:
                if static and si == first and cached is not None:
                    c = cached
                else:
                    c = mod(h)
                    if st.bn is not None:
                        c = self.layers[st.bn](c)
                    if st.kind != "readout":
                        m = mod.out_mask
                        c = c * (m.view(-1, 1, 1) if st.kind == "conv" else m)
                    if static and si == first:
                        cached = c
                h = c if st.kind == "readout" else self.layers[st.lif](c)
        outs.append(h)
    return torch.stack(outs)


def _patch(name: str | None) -> None:
    from spq.nn import quant
    from spq.nn.sequential import Sequential

    if name == "bn-per-step":
        Sequential._float_steps = _per_step_float_steps  # type: ignore[method-assign]
    elif name == "sawb8-2":
        quant.SAWB_C[8] = 2.0
    elif name == "ternary-max":
        quant.ternary_threshold = lambda mean_abs, max_abs: 0.05 * max_abs  # type: ignore[assignment]


def run(args: tuple[str, str, int, str, int]) -> dict[str, Any]:
    variant, dataset, seed, arch, epochs = args
    import torch

    torch.set_num_threads(1)
    from spq.train import TrainConfig, train

    v = dict(VARIANTS[variant])
    _patch(v.pop("patch", None))  # each job runs in its own process
    cfg = TrainConfig(dataset=dataset, arch=arch, epochs=epochs, seed=seed, threads=1,
                      **{"weight_bits": 4, "levels": 3, **v})
    t0 = time.perf_counter()
    _, rep = train(cfg, progress=False)
    return {"variant": variant, "dataset": dataset, "seed": seed, "arch": arch,
            "accuracy": rep["accuracy"], "spike_rates": rep["spike_rates"],
            "synops": rep["synops"], "seconds": time.perf_counter() - t0}


def render(rows: list[dict[str, Any]], sets: list[str], seeds: list[int]) -> str:
    out = ["| data set | variant | " + " | ".join(f"seed {s}" for s in seeds)
           + " | mean | vs reference | spike rates | synops |",
           "|---|---|" + "---|" * (len(seeds) + 4)]
    for ds in sets:
        ref = [r["accuracy"] for r in rows if r["dataset"] == ds and r["variant"] == "reference"]
        ref_mean = sum(ref) / len(ref) if ref else float("nan")
        for variant in VARIANTS:
            rs = sorted((r for r in rows if r["dataset"] == ds and r["variant"] == variant),
                        key=lambda r: r["seed"])
            if not rs:
                continue
            mean = sum(r["accuracy"] for r in rs) / len(rs)
            rates = "/".join(f"{sum(r['spike_rates'][i] for r in rs) / len(rs):.3f}"
                             for i in range(len(rs[0]["spike_rates"])))
            synops = sum(r["synops"] for r in rs) / len(rs)
            out.append(f"| {ds} | {variant} | "
                       + " | ".join(f"{100 * r['accuracy']:.2f}%" for r in rs)
                       + f" | {100 * mean:.2f}% | {100 * (mean - ref_mean):+.2f} | {rates} | "
                       f"{synops:,.0f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="digits")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--arch", default="cnn-small")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ns = ap.parse_args()
    sets = ns.sets.split(",")
    seeds = [int(s) for s in ns.seeds.split(",")]
    variants = ns.variants.split(",")
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        print(f"error: unknown variant {bad[0]!r} ({', '.join(VARIANTS)})", file=sys.stderr)
        return 2
    jobs = [(v, d, s, ns.arch, ns.epochs) for d in sets for v in variants for s in seeds]
    with mp.get_context("spawn").Pool(ns.jobs) as pool:
        rows = pool.map(run, jobs, chunksize=1)
    print(render(rows, sets, seeds))
    if ns.json is not None:
        ns.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
