# SPDX-License-Identifier: MIT
"""`spq profile`: consistency of the RAM/flash figures with the ELF (read back with
arm-none-eabi-size), determinism of the QEMU instruction counts, the JSON and the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.qemu


def spq_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spq", *args], capture_output=True, text=True, timeout=120
    )


def size_sections(elf: str) -> dict[str, int]:
    """Section sizes as binutils reports them (independent of pyelftools)."""
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", elf], capture_output=True, text=True, check=True
    ).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


@pytest.fixture(scope="module")
def profiles(
    static_model: Path,
    fw_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("profile")
    result = []
    js, png = tmp / "p.json", tmp / "p.png"
    args = ["profile", str(static_model), "--limit", "2"]
    # the table on stdout, the JSON into a file (-o) and the chart
    proc = spq_cli(*args, "-o", str(js), "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    assert "RAM" in proc.stdout and "flash" in proc.stdout
    result.append({**json.loads(js.read_text()), "_png": str(png)})
    # --json: the same JSON on stdout, nothing else
    proc = spq_cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    result.append(json.loads(proc.stdout))
    return result


def test_profile_fields_and_units(profiles: list[dict[str, Any]], static_model: Path) -> None:
    prof = profiles[0]
    manifest = json.loads((static_model / "manifest.json").read_text())
    assert prof["board"] == "mps2-an386" and prof["unit"] == "instructions"
    assert prof["inputs"] == 2
    assert [layer["name"] for layer in prof["layers"]] == [r["name"] for r in manifest["layers"]]
    for layer in prof["layers"]:
        assert set(layer) >= {"name", "instructions", "synops", "spike_rate"}
        assert layer["instructions"] >= 0  # one SysTick tick is 40 instructions
        rate = layer["spike_rate"]
        assert rate is None or 0.0 <= rate <= 1.0
    assert prof["total"] > 0
    # the per-layer times are measured inside the total (the hook overhead is outside them)
    assert 0 < prof["layers_total"] <= prof["total"]
    assert prof["synops"] == sum(layer["synops"] for layer in prof["layers"])


def test_profile_is_deterministic(profiles: list[dict[str, Any]]) -> None:
    a, b = profiles
    assert a["total_per_input"] == b["total_per_input"]
    assert [x["instructions"] for x in a["layers"]] == [x["instructions"] for x in b["layers"]]
    assert a["ram"] == b["ram"] and a["flash"] == b["flash"]


def test_ram_and_flash_add_up_and_match_the_elf(
    profiles: list[dict[str, Any]],
    static_model: Path,
) -> None:
    prof = profiles[0]
    ram, flash = prof["ram"], prof["flash"]
    assert ram["total_bytes"] == (
        ram["static_bytes"] + ram["arena_bytes"] + ram["stack_peak_bytes"]
    )
    assert flash["total_bytes"] == flash["text_bytes"] + flash["rodata_bytes"] + flash["data_bytes"]
    manifest = json.loads((static_model / "manifest.json").read_text())
    assert ram["arena_bytes"] == manifest["memory"]["arena_bytes"]
    assert 0 < ram["stack_peak_bytes"] <= ram["stack_reserved_bytes"]

    sections = size_sections(prof["firmware"])
    assert flash["text_bytes"] == sections[".text"]
    assert flash["data_bytes"] == sections.get(".data", 0)
    ram_sections = sections.get(".data", 0) + sections.get(".bss", 0)
    assert ram["static_bytes"] + ram["arena_bytes"] == ram_sections
    assert ram["stack_reserved_bytes"] == sections[".stack"]
    # rodata holds the model's constants (weights, tables, descriptors) and the vectors
    assert manifest["memory"]["const_bytes"] <= flash["rodata_bytes"]
    assert flash["rodata_bytes"] <= sum(
        sections.get(s, 0) for s in (".vectors", ".rodata", ".ARM.exidx", ".ARM.extab")
    )


def test_plot_is_a_png(profiles: list[dict[str, Any]]) -> None:
    data = Path(profiles[0]["_png"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_profile_bad_arguments(static_model: Path, tmp_path: Path) -> None:
    proc = spq_cli("profile", str(static_model), "--plot", str(tmp_path / "x.svg"))
    assert proc.returncode == 2 and "only .png" in proc.stderr
    assert not (tmp_path / "x.svg").exists()
    proc = spq_cli("profile", str(static_model), "--board", "nucleo-h743zi")
    assert proc.returncode == 2 and "--port" in proc.stderr
    proc = spq_cli("profile", str(tmp_path))
    assert proc.returncode == 2 and "manifest.json" in proc.stderr
