# SPDX-License-Identifier: MIT
"""On-device profile of an exported model: per-layer time (instructions under QEMU, cycles on
hardware), synaptic operations, spike rates, RAM and flash (docs/formats.md, "Profile JSON")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from spq.files import atomic_path
from spq.tools.device import DeviceRun
from spq.tools.elfinfo import read_sizes

PROFILE_FORMAT = 1
ARENA_SYMBOL = "fw_arena"  # the harness's static arena (firmware/harness.c)



def _model_symbol(name: str) -> re.Pattern[str]:
    """The objects NAME.c defines (templates/model.c.j2): the per-layer arrays NAME_lI_KEY,
    NAME_layers and NAME_model."""
    return re.compile(rf"{re.escape(name)}_(l\d+_\w+|layers|model)")

def _neurons(rec: dict[str, Any]) -> int:
    return int(np.prod(rec["out_shape"]))


def _mean(values: list[int]) -> int:
    """Mean over inputs, rounded half up to an integer (exact for one input)."""
    return (2 * sum(values) + len(values)) // (2 * len(values))


def build_profile(run: DeviceRun) -> dict[str, Any]:
    """The profile JSON of a device run (means per inference over the run's inputs)."""
    manifest = run.export.manifest
    unit = run.results[0].unit
    n = len(run.results)
    steps = run.export.time_steps
    layers = []
    for i, rec in enumerate(manifest["layers"]):
        time = _mean([r.layers[i].time for r in run.results])
        synops = _mean([r.layers[i].synops for r in run.results])
        spikes = sum(r.layers[i].spikes for r in run.results)
        rate = None
        if rec.get("levels") is not None:
            rate = spikes / (_neurons(rec) * steps * n)
        layers.append(
            {
                "index": i,
                "name": rec.get("name", f"layer{i}"),
                "type": rec.get("type"),
                unit: time,
                "synops": synops,
                "spikes": _mean([r.layers[i].spikes for r in run.results]),
                "spike_rate": rate,
                f"{unit}_per_synop": (time / synops) if synops else None,
            }
        )
    totals = [int(r.total) for r in run.results]
    total = _mean(totals)
    total_synops = sum(layer["synops"] for layer in layers)

    sizes = read_sizes(run.firmware.elf)
    arena = sizes.symbol_size(ARENA_SYMBOL)
    static = sizes.data_bytes + sizes.bss_bytes - arena
    stack_peak = max(r.stack_peak_bytes for r in run.results)
    memory = manifest.get("memory", {})
    return {
        "format": PROFILE_FORMAT,
        "model": run.export.name,
        "board": run.board.name,
        "core": run.board.core,
        "qemu": run.board.is_qemu,
        "unit": unit,
        "inputs": n,
        "time_steps": steps,
        "total": total,
        "total_per_input": totals,
        "logits_int": [list(r.logits_int) for r in run.results],
        "clock_hz": run.info.clock_hz,
        "port": run.port,
        "layers": layers,
        "layers_total": sum(layer[unit] for layer in layers),
        "synops": total_synops,
        f"{unit}_per_synop": (total / total_synops) if total_synops else None,
        "ram": {
            "static_bytes": static,
            "arena_bytes": arena,
            "stack_peak_bytes": stack_peak,
            "total_bytes": static + arena + stack_peak,
            "stack_reserved_bytes": sizes.stack_bytes,
        },
        "flash": {
            "text_bytes": sizes.text_bytes,
            "rodata_bytes": sizes.rodata_bytes,
            "data_bytes": sizes.data_bytes,
            "total_bytes": sizes.flash_bytes,
            # the model's arrays and descriptors as linked (a table compiled only for some
            # cores, as the nibble sums, counts where it is); the manifest's bound otherwise
            "model_const_bytes": sum(size for sym, size in sizes.symbols.items()
                                     if _model_symbol(run.export.name).fullmatch(sym))
            or memory.get("const_bytes"),
            "weights_bytes": memory.get("weights_bytes"),
        },
        "sections": sizes.sections,
        "firmware": str(Path(run.firmware.elf)),
    }


def plot_profile(profile: dict[str, Any], path: Path) -> None:
    """A bar chart of time per layer (and synops on a second axis) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = profile["unit"]
    names = [f"{layer['index']}:{layer['name']}" for layer in profile["layers"]]
    values = [layer[unit] for layer in profile["layers"]]
    synops = [layer["synops"] for layer in profile["layers"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4.0))
    ax.bar(x - 0.2, values, width=0.4, label=unit, color="#3b6ea5")
    ax.set_ylabel(f"{unit} per inference")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax2 = ax.twinx()
    ax2.bar(x + 0.2, synops, width=0.4, label="synops", color="#e39b3c")
    ax2.set_ylabel("synaptic operations")
    ax.set_title(
        f"{profile['model']} on {profile['board']}: {profile['total']:,} {unit} per inference"
    )
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [unit, "synops"], loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def print_profile(profile: dict[str, Any], console: Console) -> None:
    unit = profile["unit"]
    table = Table(
        title=f"{profile['model']} on {profile['board']} ({profile['core']}), "
        f"{profile['inputs']} input(s), means per inference"
    )
    short = "instr." if unit == "instructions" else unit
    for col, justify in (
        ("layer", "left"),
        ("type", "left"),
        (short, "right"),
        ("share", "right"),
        ("synops", "right"),
        ("spike rate", "right"),
        (f"{short}/synop", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    total = profile["total"] or 1
    for layer in profile["layers"]:
        rate = layer["spike_rate"]
        per = layer[f"{unit}_per_synop"]
        table.add_row(
            f"{layer['index']} {layer['name']}",
            str(layer["type"]),
            f"{layer[unit]:,}",
            f"{100 * layer[unit] / total:.1f}%",
            f"{layer['synops']:,}",
            "-" if rate is None else f"{100 * rate:.1f}%",
            "-" if per is None else f"{per:.2f}",
        )
    per_total = profile[f"{unit}_per_synop"]
    table.add_row(
        "total",
        "",
        f"{profile['total']:,}",
        "100%",
        f"{profile['synops']:,}",
        "",
        "-" if per_total is None else f"{per_total:.2f}",
        style="bold",
    )
    console.print(table)
    ram, flash = profile["ram"], profile["flash"]
    console.print(
        f"RAM   {ram['total_bytes']:,} B = static {ram['static_bytes']:,} + arena "
        f"{ram['arena_bytes']:,} + stack peak {ram['stack_peak_bytes']:,}"
    )
    console.print(
        f"flash {flash['total_bytes']:,} B = text {flash['text_bytes']:,} + rodata "
        f"{flash['rodata_bytes']:,} (model constants {flash['model_const_bytes'] or 0:,}) + "
        f"data {flash['data_bytes']:,}"
    )
    if profile["qemu"]:
        console.print(
            "QEMU (-icount shift=0): instruction counts from SysTick, resolution one tick "
            "per layer call; not cycles."
        )
