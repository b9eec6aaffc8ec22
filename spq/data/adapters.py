# SPDX-License-Identifier: MIT
"""Adapters for data the user keeps on disk: tonic event data sets and torchvision CIFAR-10.

Neither tonic nor torchvision is a dependency of spq (tonic is the optional extra
``spq[tonic]``): they are imported only here, on first use, and a clear SpqError says what
to install or where to put the files when they are missing. Nothing is ever downloaded
(spq runs offline and on CI): tonic's data set classes download whatever they find
missing, so spq opens them with their download step replaced by an error.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spq.data.events import events_to_frames
from spq.errors import SpqError


@dataclass(frozen=True)
class TonicSpec:
    cls: str  # class name in tonic.datasets; also the folder tonic keeps under root
    sensor: tuple[int, int]  # (width, height)
    size: tuple[int, int]  # frame size spq uses (width, height)
    num_classes: int
    split_kw: str  # "train" (bool) for every tonic set spq adapts


TONIC_SETS: dict[str, TonicSpec] = {
    "nmnist": TonicSpec("NMNIST", (34, 34), (34, 34), 10, "train"),
    "dvs-gesture": TonicSpec("DVSGesture", (128, 128), (32, 32), 11, "train"),
    # tonic's CIFAR10DVS has no split: spq takes a seeded 9:1 split of it
    "cifar10-dvs": TonicSpec("CIFAR10DVS", (128, 128), (48, 48), 10, ""),
}


def _import(module: str, dataset: str) -> Any:
    pkg = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SpqError(
            f"the {dataset} data set needs the '{pkg}' package, which is not installed "
            f"(pip install {pkg})"
        ) from None
    except Exception as exc:  # installed but broken (e.g. a CUDA build beside a CPU torch)
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise SpqError(
            f"the {dataset} data set needs the '{pkg}' package, which is installed but "
            f"cannot be imported ({type(exc).__name__}: {first})"
        ) from None


def _need_root(root: str | Path | None, dataset: str, expect: str) -> Path:
    if root is None:
        raise SpqError(f"the {dataset} data set is read from disk: give its folder with "
                       f"--data-root (expected to contain {expect})")
    path = Path(root).expanduser()
    if not (path / expect).exists():
        raise SpqError(f"{dataset} data not found: expected {path / expect} "
                       f"(put the extracted data set there; spq never downloads)")
    return path


class _MissingDataError(Exception):
    """tonic wanted to download: the data on disk are incomplete."""


class _Offline:
    """Mixin put before a tonic data set class while it is opened: no download."""

    def download(self) -> None:
        raise _MissingDataError


def open_tonic(cls: type, name: str, **kwargs: Any) -> Any:
    """An instance of the tonic data set class ``cls`` that reads only what is on disk.

    tonic checks for its archive and a minimum number of extracted files and downloads when
    either is missing; here that download raises one SpqError instead. The instance is
    handed back as a plain ``cls`` (picklable for DataLoader workers).
    """
    offline = type(cls.__name__, (_Offline, cls), {})  # tonic reads its folder name here
    try:
        ds = offline(**kwargs)
    except _MissingDataError:
        where = Path(str(kwargs.get("save_to", "."))) / cls.__name__
        raise SpqError(
            f"{name} data in {where} are incomplete for tonic (it wants its archive and the "
            "extracted files there, and would download them; spq never downloads)") from None
    ds.__class__ = cls
    return ds


class TonicFrames(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """A tonic event data set read from ``root``, binned into (T, 2, H, W) uint8 frames."""

    def __init__(self, name: str, split: str, time_steps: int, root: str | Path | None) -> None:
        spec = TONIC_SETS[name]
        path = _need_root(root, name, spec.cls)
        tonic = _import("tonic", name)
        cls = getattr(tonic.datasets, spec.cls)
        try:
            if spec.split_kw:
                self.base = open_tonic(cls, name, save_to=str(path), train=(split == "train"))
            else:
                self.base = open_tonic(cls, name, save_to=str(path))
            # tonic lists files in the file system's order (DVSGesture does not sort them):
            # sample i is the i-th file by path, whatever the file system
            by_path = np.array(sorted(range(len(self.base.data)),
                                      key=lambda k: str(self.base.data[k])), dtype=np.int64)
            if spec.split_kw:
                self.indices = by_path
            else:
                order = np.random.default_rng(0).permutation(len(by_path))
                n_test = len(order) // 10
                self.indices = by_path[np.sort(order[:n_test] if split == "test"
                                               else order[n_test:])]
        except SpqError:
            raise
        except Exception as exc:  # tonic raises many kinds when files are incomplete
            raise SpqError(f"cannot read {name} from {path}: {exc}") from None
        if len(self.indices) == 0:
            raise SpqError(f"no {split} samples of {name} under {path}")
        self.spec = spec
        self.time_steps = time_steps

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        try:
            events, target = self.base[int(self.indices[i])]
        except Exception as exc:  # a truncated or foreign file
            raise SpqError(f"cannot read sample {i} of {self.spec.cls}: {exc}") from None
        frames = events_to_frames(events, self.spec.sensor, self.time_steps, size=self.spec.size)
        return torch.from_numpy(frames), int(target)


class Cifar10(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """torchvision's CIFAR-10 from ``root`` (the folder holding ``cifar-10-batches-py``)."""

    def __init__(self, split: str, root: str | Path | None) -> None:
        path = _need_root(root, "cifar10", "cifar-10-batches-py")
        tv = _import("torchvision.datasets", "cifar10")
        try:
            self.base = tv.CIFAR10(root=str(path), train=(split == "train"), download=False)
        except Exception as exc:
            raise SpqError(f"cannot read cifar10 from {path}: {exc}") from None
        data = np.asarray(self.base.data)  # (N, 32, 32, 3) uint8
        self.x = torch.from_numpy(np.ascontiguousarray(data.transpose(0, 3, 1, 2)))
        self.y = torch.as_tensor(np.asarray(self.base.targets), dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i].float() / 255.0, int(self.y[i])
