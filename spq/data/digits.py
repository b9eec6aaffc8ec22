# SPDX-License-Identifier: MIT
"""The 8x8 handwritten digits shipped with scikit-learn, as a static-image data set.

1797 images of 8x8 pixels with 17 grey levels (0..16), scaled to float32 in [0, 1] with shape
(N, 1, 8, 8). The split is stratified and seeded: 1437 training and 360 test images.
"""

from __future__ import annotations

import numpy as np

TEST_SIZE = 360
SPLIT_SEED = 0


def load_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)  # (1797, 8, 8), 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    return images, labels


def split_indices(labels: np.ndarray, test_size: int = TEST_SIZE,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split: each class gives test images in proportion to its size.

    Returns sorted (train_idx, test_idx). Independent of scikit-learn's splitter so that the
    split cannot change with its version.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    # largest-remainder allocation of test_size over the classes
    exact = counts * test_size / n
    quota = np.floor(exact).astype(np.int64)
    rest = test_size - int(quota.sum())
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:rest]] += 1
    test: list[np.ndarray] = []
    for cls, q in zip(classes, quota, strict=True):
        idx = np.flatnonzero(labels == cls)
        test.append(rng.permutation(idx)[:q])
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(n, dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def load_digit_images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (images float64 (N, 8, 8) in [0, 1], labels int64) of one split."""
    images, labels = load_raw()
    train_idx, test_idx = split_indices(labels)
    idx = train_idx if split == "train" else test_idx
    return images[idx] / 16.0, labels[idx]


def load_digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (x float32 (N, 1, 8, 8) in [0, 1], y int64) of one split."""
    images, labels = load_digit_images(split)
    return images[:, None, :, :].astype(np.float32), labels
