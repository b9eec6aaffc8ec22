# SPDX-License-Identifier: MIT
"""Data sets for spq: the shipped digits, their event-camera version, and adapters for tonic
and torchvision data kept on disk (docs/data.md).

>>> x, y = load_dataset("event-digits", "train", time_steps=8)   # (1437, 8, 2, 16, 16) uint8
>>> ds = open_dataset("digits", "test")                           # a torch Dataset

Static sets give float32 images ``(N, C, H, W)`` in [0, 1]; event sets give uint8 frames
``(N, T, 2, H, W)`` in {0, 1}. Labels are int64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from spq.errors import SpqError

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "TensorDataset",
    "dataset_info",
    "load_dataset",
    "open_dataset",
]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    input_kind: Literal["static", "events"]
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    default_time_steps: int
    builtin: bool  # made offline from files spq ships or depends on
    description: str


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", "static", (1, 8, 8), 10, 4, True,
                    "scikit-learn's 8x8 digits, 1437 train / 360 test"),
        DatasetInfo("event-digits", "events", (2, 16, 16), 10, 8, True,
                    "the digits seen by a simulated DVS sensor during three saccades"),
        DatasetInfo("nmnist", "events", (2, 34, 34), 10, 10, False,
                    "N-MNIST via tonic, from --data-root"),
        DatasetInfo("dvs-gesture", "events", (2, 32, 32), 11, 16, False,
                    "DVS128 Gesture via tonic, 128x128 binned to 32x32, from --data-root"),
        DatasetInfo("cifar10-dvs", "events", (2, 48, 48), 10, 10, False,
                    "CIFAR10-DVS via tonic, 128x128 binned to 48x48, from --data-root"),
        DatasetInfo("cifar10", "static", (3, 32, 32), 10, 4, False,
                    "CIFAR-10 via torchvision, from --data-root"),
    )
}

SPLITS = ("train", "test")


def dataset_info(name: str) -> DatasetInfo:
    """The shape and kind of a data set, without loading it."""
    try:
        return DATASETS[name]
    except KeyError:
        raise SpqError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})") from None


class TensorDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """An in-memory data set: ``x[i], y[i]``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if len(x) != len(y):
            raise SpqError("x and y differ in length")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def _check(name: str, split: str, time_steps: int | None) -> tuple[DatasetInfo, int]:
    info = dataset_info(name)
    if split not in SPLITS:
        raise SpqError(f"unknown split {split!r} (choose train or test)")
    t = info.default_time_steps if time_steps is None else int(time_steps)
    if t < 1:
        raise SpqError(f"time steps must be >= 1, got {t}")
    return info, t


@functools.lru_cache(maxsize=8)
def _builtin(name: str, split: str, time_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from spq.data.digits import load_digits_split, load_raw, split_indices
    from spq.data.events import event_digit_frames

    if name == "digits":
        return load_digits_split(split)
    images, labels = load_raw()
    train_idx, test_idx = split_indices(labels)
    idx = train_idx if split == "train" else test_idx
    frames = event_digit_frames(images[idx] / 16.0, idx, time_steps, seed=seed)
    return frames, labels[idx]


def open_dataset(name: str, split: str, time_steps: int | None = None,
                 root: str | Path | None = None, seed: int = 0) -> torch.utils.data.Dataset:  # type: ignore[type-arg]
    """A torch Dataset of ``(x, label)`` pairs; lazy for the on-disk adapters.

    ``seed`` selects the event-digits noise stream (0 is the published set).
    """
    info, t = _check(name, split, time_steps)
    if info.builtin:
        x, y = load_dataset(name, split, time_steps=t, seed=seed)
        return TensorDataset(x, y)
    from spq.data import adapters

    if name == "cifar10":
        return adapters.Cifar10(split, root)
    return adapters.TonicFrames(name, split, t, root)


def load_dataset(
    name: str, split: str, time_steps: int | None = None, root: str | Path | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as tensors ``(x, y)`` (reads every sample of an on-disk set)."""
    info, t = _check(name, split, time_steps)
    if info.builtin:
        x, y = _builtin(name, split, t if info.input_kind == "events" else 0, int(seed))
        return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    ds = open_dataset(name, split, t, root, seed)
    xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)  # type: ignore[arg-type]
    return torch.stack(list(xs)), torch.as_tensor(ys, dtype=torch.int64)
