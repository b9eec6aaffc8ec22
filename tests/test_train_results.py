# SPDX-License-Identifier: MIT
"""bench/results.py: the reduction factors and verdicts of the results page, from reports
with hand-picked numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _results_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_results", ROOT / "bench" / "results.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _report(acc: float, w: int, m: int, ops: float, synops: float, bits: int = 4,
            levels: int | None = 3, **extra: Any) -> dict:
    return {"accuracy": acc, "ops": ops, "synops": synops, "spike_rates": [0.1, 0.2],
            "memory": {"weights_bits": w, "membrane_bits": m, "total_bits": w + m},
            "settings": {"weight_bits": bits, "levels": levels}, "time_s": {"train": 30.0},
            **extra}


def _run(seed: int, pruned_acc: float) -> dict:
    return {
        "dataset": "digits", "seed": seed,
        "settings": {"time_steps": 4, "epochs": 15, "setting": {"arch": "cnn-wide"}},
        "baseline": _report(0.98, 32000, 8000, 1000.0, 500.0, bits=32, levels=None),
        "quantized": _report(0.97, 4000, 500, 1000.0, 450.0, zero_membrane_fraction=0.0,
                             zero_level_fraction=0.5),
        "pruned": _report(pruned_acc, 2000, 500, 190.0, 100.0, pruning={"layers": [
            {"layer": "conv0", "kept": 5, "channels": 8}]}),
    }


def test_factors_verdicts_and_page() -> None:
    r = _results_module()
    a, b = _run(0, 0.97), _run(1, 0.96)
    q = r.checks(a, "quantized")
    assert q["memory_reduction"] == 40000 / 4500 and q["ops_reduction"] == 1.0
    assert abs(q["accuracy_drop_points"] - 1.0) < 1e-9
    p = r.checks(a, "pruned")
    assert p["memory_reduction"] == 16.0 and p["ops_reduction"] == 1000 / 190
    assert p["synops_reduction"] == 5.0 and abs(p["accuracy_drop_points"] - 1.0) < 1e-9
    assert r.met(p) == {"memory": True, "ops": True, "accuracy": True}
    assert r.met(r.checks(b, "pruned"))["accuracy"] is False  # 2 points > 1.5
    rows = r.table([a, b])
    assert len(rows) == 2 + 2 * 3
    text = r.render([a, b], "cmd", 1.0)
    assert "- seed 0, pruned: memory 16.0x (met), ops 5.26x (met), accuracy drop +1.00 " \
           "points (met)" in text
    assert "- seed 1, pruned: memory 16.0x (met), ops 5.26x (met), accuracy drop +2.00 " \
           "points (NOT met)" in text
    assert "- seed 0, quantized: memory 8.9x (NOT met), ops 1.00x (NOT met)" in text
    assert "seed 0: conv0 5/8" in text and "cmd" in text
    assert "memory reduction >= 13x, ops reduction >= 5x, accuracy drop <= 1.5 points" in text


def test_device_lines() -> None:
    r = _results_module()
    a = _run(0, 0.97)
    dev = {"instructions": 1000.0, "synops": 400.0, "ram": 10, "flash": 20, "inputs": 8}
    a["device"] = {"default": dev, "quantized": {**dev, "instructions": 4000.0},
                   "pruned": {**dev, "instructions": 800.0, "synops": 100.0}}
    text = "\n".join(r.device_lines(a))
    assert "Pruning cuts the M4 instructions 5.00x (synops on the device 4.00x)" in text
    assert "the pruned model takes 0.80x its instructions" in text
    assert "| `cnn-wide` quantized + pruning (the setting) | 800 | 100 | 10 | 20 |" in text
