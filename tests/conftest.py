# SPDX-License-Identifier: MIT
"""Shared test setup."""

from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings

# the fixtures every firmware, QEMU, flash and profile test shares (fw_cache, static_model)
pytest_plugins = ["tests.support.firmware"]

# Small tensors: one thread is far faster than two on a loaded 2-core machine and keeps
# timings steady.
torch.set_num_threads(1)

# CI machines are shared: no per-example time limit (a slow example is not a wrong one).
settings.register_profile("spq", deadline=None)
settings.load_profile("spq")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread in every test, whatever the code under test set before."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
