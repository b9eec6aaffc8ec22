# SPDX-License-Identifier: MIT
"""Shared test setup."""

import torch

# Small tensors: one thread is far faster than two on a loaded 2-core machine and keeps
# timings steady.
torch.set_num_threads(1)
