# SPDX-License-Identifier: MIT
"""The tonic adapter on files in the real on-disk formats, written here byte by byte:
N-MNIST's 40-bit ``.bin`` events in tonic's ``NMNIST/Train/<digit>/`` layout, and DVS
Gesture's ``.npy`` (x, y, p, t in ms) in tonic's ``DVSGesture/ibmGestureTrain/userNN_light/``
layout. tonic itself (the ``spq[tonic]`` extra) reads them; nothing is mocked, nothing is
downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tonic  # the spq[tonic] extra, which `make setup` installs
import torch

from spq.data import open_dataset
from spq.errors import SpqError
from spq.train import batches


def nmnist_bytes(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> bytes:
    """N-MNIST's event format (Orchard et al. 2015): 5 bytes per event, x, y, then the
    polarity in bit 7 of byte 2 and the 23-bit timestamp (us) in the rest, big-endian."""
    b = np.zeros((len(x), 5), dtype=np.uint8)
    b[:, 0] = x
    b[:, 1] = y
    b[:, 2] = (p.astype(np.int64) << 7) | ((t >> 16) & 0x7F)
    b[:, 3] = (t >> 8) & 0xFF
    b[:, 4] = t & 0xFF
    return b.tobytes()


def _frames(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray, sensor: int,
            size: int, T: int) -> np.ndarray:
    """The expected binning, written out: T equal bins from the first event to the last
    plus 1 us, coordinates scaled by size / sensor, channel = polarity, 1 where any event."""
    out = np.zeros((T, 2, size, size), dtype=np.uint8)
    t0, t1 = int(t.min()), int(t.max()) + 1
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        out[(int(ti) - t0) * T // (t1 - t0), int(pi > 0), yi * size // sensor,
            xi * size // sensor] = 1
    return out


def test_nmnist_bin_layout_by_hand(tmp_path: Path) -> None:
    raw = nmnist_bytes(np.array([3]), np.array([5]), np.array([0x012345]), np.array([1]))
    assert raw == bytes([3, 5, 0x81, 0x23, 0x45])
    f = tmp_path / "e.bin"
    f.write_bytes(raw + nmnist_bytes(np.array([33]), np.array([0]), np.array([7]),
                                     np.array([0])))
    ev = tonic.io.read_mnist_file(str(f), dtype=tonic.datasets.NMNIST.dtype)
    assert ev["x"].tolist() == [3, 33] and ev["y"].tolist() == [5, 0]
    assert ev["t"].tolist() == [0x012345, 7] and ev["p"].tolist() == [1, 0]


def _nmnist_events(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    n = int(rng.integers(5, 40))
    t = np.sort(rng.integers(0, 300_000, n))
    return (rng.integers(0, 34, n), rng.integers(0, 34, n), t, rng.integers(0, 2, n))


def test_nmnist_real_files(tmp_path: Path) -> None:
    root = tmp_path / "NMNIST"
    (root / "Train").mkdir(parents=True)
    (root / "train.zip").write_bytes(b"")  # tonic keeps its archive beside the files
    rng = np.random.default_rng(0)
    special = {}  # a few files with their own events; the rest share one (tonic wants 10000)
    filler = nmnist_bytes(*_nmnist_events(rng))
    for d in range(10):
        folder = root / "Train" / str(d)
        folder.mkdir()
        for k in range(1000):
            if k in (0, 999) or (d == 7 and k == 500):
                ev = _nmnist_events(rng)
                special[d * 1000 + k] = ev
                (folder / f"{k:05d}.bin").write_bytes(nmnist_bytes(*ev))
            else:
                (folder / f"{k:05d}.bin").write_bytes(filler)
    T = 5
    ds = open_dataset("nmnist", "train", time_steps=T, root=tmp_path)
    assert len(ds) == 10_000  # type: ignore[arg-type]
    for i, ev in special.items():
        frames, label = ds[i]
        assert label == i // 1000
        assert frames.dtype == torch.uint8 and frames.shape == (T, 2, 34, 34)
        np.testing.assert_array_equal(frames.numpy(), _frames(*ev, sensor=34, size=34, T=T))
    # the same through a DataLoader with two worker processes
    idx = torch.tensor(sorted(special))
    xs, ys = zip(*batches(ds, 4, idx, workers=2), strict=True)
    x, y = torch.cat(xs), torch.cat(ys)
    assert y.tolist() == [i // 1000 for i in sorted(special)]
    for row, i in enumerate(sorted(special)):
        assert torch.equal(x[row], ds[i][0])
    # the test split is not there: tonic would download it, spq says what is missing
    with pytest.raises(SpqError, match=r"incomplete.*never downloads"):
        open_dataset("nmnist", "test", time_steps=T, root=tmp_path)
    # a truncated file is one clear error
    (root / "Train" / "3" / "00000.bin").write_bytes(bytes([1, 2, 3]))
    with pytest.raises(SpqError, match="cannot read sample 3000"):
        ds[3000]


def test_dvs_gesture_real_files(tmp_path: Path) -> None:
    root = tmp_path / "DVSGesture"
    (root / "ibmGestureTrain").mkdir(parents=True)
    (root / "ibmGestureTrain.tar.gz").write_bytes(b"")
    rng = np.random.default_rng(1)
    want = {}
    for user in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10):
        light = ("fluorescent", "led", "natural")[user % 3]
        folder = root / "ibmGestureTrain" / f"user{user:02d}_{light}"
        folder.mkdir()
        for label in range(11):
            n = int(rng.integers(10, 60))
            t_ms = np.sort(rng.integers(0, 6000, n))
            ev = np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n),
                           rng.integers(0, 2, n), t_ms], axis=1).astype(np.int64)
            np.save(folder / f"{label}.npy", ev)  # columns x, y, p, t (ms), as tonic reads
            want[str(folder / f"{label}.npy")] = (label, ev)
    T = 4
    ds = open_dataset("dvs-gesture", "train", time_steps=T, root=tmp_path)
    assert len(ds) == 110  # type: ignore[arg-type]
    paths = [ds.base.data[int(j)] for j in ds.indices]  # type: ignore[attr-defined]
    assert paths == sorted(want)  # sample order: by path, whatever the file system
    for i in (0, 37, 109):
        frames, label = ds[i]
        lab, ev = want[paths[i]]
        assert label == lab and frames.shape == (T, 2, 32, 32)
        exp = _frames(ev[:, 0], ev[:, 1], ev[:, 3] * 1000, ev[:, 2], sensor=128, size=32, T=T)
        np.testing.assert_array_equal(frames.numpy(), exp)
