# SPDX-License-Identifier: MIT
"""Shared fixtures for the runtime, firmware, protocol, QEMU, flash and profile tests (no
tests here; tests/conftest.py registers the fixtures).

Every host library and firmware built by the tests that ask for ``fw_cache`` goes to one
temporary cache per test session, so the tests compile for real and never depend on what an
earlier run left in ~/.cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import spq
from spq.export.pipeline import export
from spq.nn.testing import random_input, random_model


@pytest.fixture(scope="session")
def fw_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("spq-cache")
    old = os.environ.get("SPQ_CACHE_DIR")
    os.environ["SPQ_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("SPQ_CACHE_DIR", None)
    else:
        os.environ["SPQ_CACHE_DIR"] = old


def export_random(root: Path, seed: int, **kwargs: object) -> Path:
    """random_model(seed) -> spq.save -> spq-export (3 verified samples) -> OUT."""
    net = random_model(seed, **kwargs)  # type: ignore[arg-type]
    ckpt = root / f"model{seed}.pt"
    spq.save(net, ckpt)
    out = root / f"out{seed}"
    export(ckpt, out, verify_n=3, seed=seed)
    return out


def random_inputs(seed: int, n: int, **kwargs: object) -> np.ndarray:
    """Inputs for random_model(seed) other than the exporter's own samples."""
    net = random_model(seed, **kwargs)  # type: ignore[arg-type]
    return random_input(net, n, seed + 1000).numpy().astype(np.uint8)


@pytest.fixture(scope="session")
def static_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small static-image conv model (exported once per session)."""
    return export_random(tmp_path_factory.mktemp("static"), 2, input_kind="static", conv=True)
