# SPDX-License-Identifier: MIT
"""bench/results.py: the reduction factors and verdicts of the results table, from reports
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


def _report(acc: float, w: int, m: int, ops: float, synops: float, **extra: Any) -> dict:
    return {"accuracy": acc, "ops": ops, "synops": synops, "spike_rates": [0.1, 0.2],
            "memory": {"weights_bits": w, "membrane_bits": m, "total_bits": w + m},
            "time_s": {"train": 30.0}, **extra}


def test_table_factors_and_verdicts() -> None:
    r = _results_module()
    res = {
        "dataset": "digits",
        "settings": {"arch": "cnn-small", "time_steps": 4, "epochs": 10, "finetune": 2,
                     "seed": 0},
        "baseline": _report(0.98, 32000, 8000, 1000.0, 500.0),
        "quantized": _report(0.97, 4000, 500, 400.0, 450.0, zero_membrane_fraction=0.5),
        "pruned": [_report(0.95, 2000, 500, 250.0, 200.0,
                           pruning={"ratio": 0.7, "layers": [
                               {"layer": "conv0", "kept": 5, "channels": 8}]})],
    }
    rows, checks = r.table(res)
    q = checks["quantized"]
    assert q["memory_reduction"] == 40000 / 4500 and q["ops_reduction"] == 2.5
    assert abs(q["accuracy_drop_points"] - 1.0) < 1e-9
    p = checks["pruned 0.7"]
    assert p["memory_reduction"] == 16.0 and p["ops_reduction"] == 4.0
    assert p["synops_reduction"] == 2.5 and abs(p["accuracy_drop_points"] - 3.0) < 1e-9
    assert len(rows) == 2 + 3
    text = r.render([res], "cmd", 1.0)
    assert "- quantized: memory 8.9x (met), ops 2.50x (NOT met), accuracy drop +1.00 points " \
           "(met)" in text
    assert "- pruned 0.7: memory 16.0x (met), ops 4.00x (met), accuracy drop +3.00 points " \
           "(NOT met)" in text
    assert "conv0 5/8" in text and "cmd" in text
