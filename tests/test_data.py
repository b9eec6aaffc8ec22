# SPDX-License-Identifier: MIT
"""spq.data: shapes, ranges, splits, determinism, the event simulator and the adapters'
error paths (tonic and torchvision must not be needed; the tests hide them)."""

from __future__ import annotations

import re
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from spq.data import _builtin, dataset_info, load_dataset, open_dataset
from spq.data.digits import load_raw, split_indices
from spq.data.events import (
    SPEC,
    event_digit_frames,
    events_to_frames,
    make_events,
    saccade_path,
    simulate_events,
)
from spq.errors import SpqError


def test_digits_shapes_ranges_and_split() -> None:
    xtr, ytr = load_dataset("digits", "train")
    xte, yte = load_dataset("digits", "test")
    assert xtr.shape == (1437, 1, 8, 8) and xte.shape == (360, 1, 8, 8)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert float(xtr.min()) == 0.0 and float(xtr.max()) == 1.0
    # 17 grey levels: every value is a multiple of 1/16
    assert torch.equal(xtr * 16, torch.round(xtr * 16))
    # stratified: each class's share of the test split is within one image of proportional
    _, labels = load_raw()
    total = np.bincount(labels)
    test_counts = np.bincount(yte.numpy(), minlength=10)
    assert np.all(np.abs(test_counts - total * 360 / 1797) <= 1)
    train_idx, test_idx = split_indices(labels)
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    assert len(train_idx) + len(test_idx) == 1797
    # the test images are the raw images at test_idx
    images, _ = load_raw()
    np.testing.assert_array_equal(xte[:, 0].numpy(), (images[test_idx] / 16).astype(np.float32))


def test_event_digits_shape_values_and_determinism() -> None:
    x, y = load_dataset("event-digits", "test", time_steps=8)
    assert x.shape == (360, 8, 2, 16, 16) and x.dtype == torch.uint8
    assert set(torch.unique(x).tolist()) == {0, 1}
    # a plausible event density: neither empty nor saturated, events in every time bin
    rate = x.float().mean(dim=(0, 2, 3, 4))
    assert torch.all(rate > 0.05) and torch.all(rate < 0.5)
    first = x.numpy().tobytes()
    _builtin.cache_clear()
    again, y2 = load_dataset("event-digits", "test", time_steps=8)
    assert again.numpy().tobytes() == first and torch.equal(y, y2)
    other, _ = load_dataset("event-digits", "test", time_steps=8, seed=1)
    assert other.numpy().tobytes() != first


def test_event_digits_bins_merge() -> None:
    """48 samples: T=4 bins are exactly the OR of pairs of T=8 bins (independent of code)."""
    images, _ = load_raw()
    idx = np.arange(12)
    f8 = event_digit_frames(images[idx] / 16, idx, 8)
    f4 = event_digit_frames(images[idx] / 16, idx, 4)
    merged = f8.reshape(12, 4, 2, 2, 16, 16).max(axis=2)
    np.testing.assert_array_equal(f4, merged)
    f1 = event_digit_frames(images[idx] / 16, idx, 1)
    np.testing.assert_array_equal(f1[:, 0], f8.max(axis=1))


def test_events_to_frames_hand_computed() -> None:
    ev = make_events(
        x=np.array([0, 3, 3, 1, 2]),
        y=np.array([0, 1, 1, 2, 3]),
        t=np.array([100, 150, 160, 399, 250]),
        p=np.array([1, 0, 0, 1, 1]),
    )
    frames = events_to_frames(ev, sensor_size=(4, 4), time_steps=3)  # range [100, 400)
    expected = np.zeros((3, 2, 4, 4), dtype=np.uint8)
    expected[0, 1, 0, 0] = 1  # t=100 -> bin 0*3//300
    expected[0, 0, 1, 3] = 1  # t=150, 160 -> bin 0 (two events, one 1)
    expected[2, 1, 2, 1] = 1  # t=399 -> bin 299*3//300 = 2
    expected[1, 1, 3, 2] = 1  # t=250 -> bin 150*3//300 = 1
    np.testing.assert_array_equal(frames, expected)
    # downscaling 4x4 -> 2x2 and a fixed range that drops the last event
    small = events_to_frames(ev, (4, 4), 1, size=(2, 2), t_range=(100, 300))
    exp_small = np.zeros((1, 2, 2, 2), dtype=np.uint8)
    exp_small[0, 1, 0, 0] = 1  # (0,0)
    exp_small[0, 0, 0, 1] = 1  # (x3,y1) -> (1,0)
    exp_small[0, 1, 1, 1] = 1  # (x2,y3) -> (1,1); the t=399 event is out of range
    np.testing.assert_array_equal(small, exp_small)


def test_events_to_frames_accepts_tonic_like_dtypes_and_rejects_bad_input() -> None:
    dtype = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "?"), ("t", "<f8")])
    ev = np.zeros(2, dtype=dtype)
    ev["x"], ev["y"], ev["p"], ev["t"] = [1, 2], [0, 1], [True, False], [0.0, 10.0]
    frames = events_to_frames(ev, (3, 2), 2)
    assert frames[0, 1, 0, 1] == 1 and frames[1, 0, 1, 2] == 1 and frames.sum() == 2
    assert events_to_frames(ev[:0], (3, 2), 2).sum() == 0
    with pytest.raises(SpqError, match="time_steps"):
        events_to_frames(ev, (3, 2), 0)
    with pytest.raises(SpqError, match="field"):
        events_to_frames(np.zeros(2, dtype=[("x", "i4"), ("y", "i4")]), (3, 2), 1)
    with pytest.raises(SpqError, match="time range"):
        events_to_frames(ev, (3, 2), 1, t_range=(5, 5))


def test_simulator_physics() -> None:
    rng = np.random.default_rng(0)
    quiet = replace(SPEC, noise_rate=0.0, jitter=0.0)
    # a blank image makes no events without noise; with noise, only a few
    assert len(simulate_events(np.zeros((8, 8)), rng, quiet)) == 0
    assert len(simulate_events(np.zeros((8, 8)), rng, replace(SPEC, noise_rate=0.01))) > 0
    # a still sensor sees no change
    still = replace(quiet, vertices=((0.5, 0.5), (0.5, 0.5), (0.5, 0.5)))
    img = np.zeros((8, 8))
    img[:, 3:5] = 1.0
    assert len(simulate_events(img, rng, still)) == 0
    # a bright bar moving right: ON events on its right side, OFF on its left side
    right = replace(quiet, vertices=((-2.0, 0.0), (0.0, 0.0), (2.0, 0.0)))
    ev = simulate_events(img, rng, right)
    first = ev[ev["t"] <= right.sample_us * right.samples_per_saccade]
    on_x = first["x"][first["p"] == 1].mean()
    off_x = first["x"][first["p"] == 0].mean()
    assert on_x > off_x
    assert np.all(np.diff(ev["t"]) >= 0)
    path = saccade_path(SPEC)
    assert path.shape == (SPEC.num_samples + 1, 2)
    np.testing.assert_allclose(path[0], path[-1])  # the triangle closes


def test_dataset_registry_errors() -> None:
    with pytest.raises(SpqError, match="unknown dataset"):
        load_dataset("mnist-typo", "train")
    with pytest.raises(SpqError, match="split"):
        load_dataset("digits", "valid")
    with pytest.raises(SpqError, match="time steps"):
        load_dataset("event-digits", "train", time_steps=0)
    with pytest.raises(SpqError, match=r"1\.\.48"):
        load_dataset("event-digits", "train", time_steps=49)
    assert dataset_info("event-digits").input_shape == (2, 16, 16)
    ds = open_dataset("digits", "test")
    x0, y0 = ds[0]
    assert len(ds) == 360 and x0.shape == (1, 8, 8) and y0.dtype == torch.int64


@pytest.mark.parametrize("name,folder,package", [
    ("nmnist", "NMNIST", "tonic"),
    ("dvs-gesture", "DVSGesture", "tonic"),
    ("cifar10-dvs", "CIFAR10DVS", "tonic"),
    ("cifar10", "cifar-10-batches-py", "torchvision"),
])
def test_adapters_error_paths(tmp_path, monkeypatch: pytest.MonkeyPatch, name: str,
                              folder: str, package: str) -> None:
    # as if the package were not installed (the interop extra brings torchvision along)
    monkeypatch.setitem(sys.modules, package, None)
    if package == "torchvision":
        monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(SpqError, match="--data-root"):
        open_dataset(name, "train")
    where = re.escape(f"expected {tmp_path / folder}")
    with pytest.raises(SpqError, match=where + ".*never downloads"):
        open_dataset(name, "train", root=tmp_path)
    (tmp_path / folder).mkdir()
    with pytest.raises(SpqError, match=f"needs the '{package}' package"):
        load_dataset(name, "test", root=tmp_path)
