# SPDX-License-Identifier: MIT
"""Event streams: conversion of (x, y, t, p) events to binary frames, and the event-digits
simulator (a DVS camera looking at the 8x8 digits while it makes three saccades).

Events are numpy structured arrays with the fields ``x``, ``y``, ``t`` (microseconds) and
``p`` (polarity: 0 = OFF, 1 = ON), the layout tonic uses. Frames are ``uint8`` arrays of
shape ``(T, 2, H, W)`` with values in {0, 1}: channel 0 holds OFF events, channel 1 ON
events (the channel is the polarity, as in tonic's ``ToFrame``). See docs/data.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from spq.errors import SpqError

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])


def make_events(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Build an event array (``EVENT_DTYPE``) from four equal-length sequences."""
    n = len(x)
    if not (len(y) == len(t) == len(p) == n):
        raise SpqError("event fields x, y, t, p must have the same length")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def events_to_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    time_steps: int,
    size: tuple[int, int] | None = None,
    t_range: tuple[int, int] | None = None,
) -> np.ndarray:
    """Bin an event stream into ``time_steps`` binary frames of shape ``(2, H, W)``.

    Args:
        events: structured array with fields x, y, t, p (any integer/bool dtypes).
        sensor_size: ``(width, height)`` of the sensor the events come from.
        time_steps: number of frames T.
        size: ``(width, height)`` of the frames; coordinates are scaled down with
            ``x_out = x * W_out // W_in`` (no scaling when None).
        t_range: ``(start, stop)``: frame ``k`` takes the events with
            ``start + k*(stop-start)/T <= t < start + (k+1)*(stop-start)/T`` (integer
            arithmetic: ``k = (t - start) * T // (stop - start)``); events outside are dropped.
            When None, ``start`` is the first timestamp and ``stop`` the last plus one.

    Returns:
        ``uint8`` array ``(T, 2, H_out, W_out)``: 1 where at least one event of that polarity
        fell on that pixel in that time bin, else 0. Polarity ``p > 0`` goes to channel 1
        (ON), ``p <= 0`` to channel 0 (OFF).
    """
    if time_steps < 1:
        raise SpqError(f"time_steps must be >= 1, got {time_steps}")
    w_in, h_in = int(sensor_size[0]), int(sensor_size[1])
    w_out, h_out = (w_in, h_in) if size is None else (int(size[0]), int(size[1]))
    if min(w_in, h_in, w_out, h_out) < 1:
        raise SpqError(f"bad sensor or frame size: {sensor_size} -> {size}")
    frames = np.zeros((time_steps, 2, h_out, w_out), dtype=np.uint8)
    names = events.dtype.names or ()
    missing = [f for f in ("x", "y", "t", "p") if f not in names]
    if missing:
        raise SpqError(f"events lack the field(s) {', '.join(missing)}")
    if len(events) == 0:
        return frames
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64)
    t = np.asarray(events["t"], dtype=np.int64)
    p = (np.asarray(events["p"]).astype(np.int64) > 0).astype(np.int64)
    if t_range is None:
        start, stop = int(t.min()), int(t.max()) + 1
    else:
        start, stop = int(t_range[0]), int(t_range[1])
        if stop <= start:
            raise SpqError(f"empty time range {t_range}")
    keep = (t >= start) & (t < stop) & (x >= 0) & (x < w_in) & (y >= 0) & (y < h_in)
    x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    k = (t - start) * time_steps // (stop - start)
    xo = x * w_out // w_in
    yo = y * h_out // h_in
    frames[k, p, yo, xo] = 1
    return frames


# ---------------------------------------------------------------- event-digits simulator


@dataclass(frozen=True)
class SaccadeSpec:
    """Every constant of the event-digits simulator (docs/data.md explains each)."""

    sensor: int = 16  # the sensor is sensor x sensor pixels
    digit: float = 12.0  # the 8x8 digit is drawn 12 x 12 pixels, centred
    vertices: tuple[tuple[float, float], ...] = ((-1.5, -1.0), (1.5, -1.0), (0.0, 1.5))
    samples_per_saccade: int = 16  # rendered frames per saccade (1 ms apart)
    sample_us: int = 1000
    jitter: float = 0.5  # uniform random shift of the whole path, +-pixels
    log_eps: float = 0.1  # log intensity = log(I + log_eps), I in [0, 1]
    threshold: float = 0.25  # contrast threshold (log units)
    threshold_sigma: float = 0.03  # per-pixel mismatch of the threshold
    noise_rate: float = 0.0005  # background events per pixel, polarity and sample

    @property
    def num_samples(self) -> int:
        return len(self.vertices) * self.samples_per_saccade

    @property
    def duration_us(self) -> int:
        return self.num_samples * self.sample_us


SPEC = SaccadeSpec()


def _render(image: np.ndarray, offsets: np.ndarray, spec: SaccadeSpec) -> np.ndarray:
    """Bilinear rendering of an (8, 8) image in [0, 1] onto the sensor at each offset.

    ``offsets`` is (K, 2) of (dx, dy) shifts in sensor pixels; returns (K, S, S) float64.
    """
    n_src = image.shape[0]
    scale = spec.digit / n_src
    origin = (spec.sensor - spec.digit) / 2.0
    centres = np.arange(spec.sensor, dtype=np.float64) + 0.5
    padded = np.zeros((n_src + 2, n_src + 2), dtype=np.float64)
    padded[1:-1, 1:-1] = image

    def coords(shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # source coordinates (pixel centres at integers), then into padded coordinates
        s = (centres[None, :] - origin - shift[:, None]) / scale - 0.5 + 1.0
        s = np.clip(s, 0.0, n_src + 0.999999)
        i0 = np.floor(s).astype(np.int64)
        return i0, s - i0

    x0, fx = coords(offsets[:, 0])  # (K, S)
    y0, fy = coords(offsets[:, 1])
    yi0 = y0[:, :, None]
    yi1 = yi0 + 1
    xi0 = x0[:, None, :]
    xi1 = xi0 + 1
    wx = fx[:, None, :]
    wy = fy[:, :, None]
    top = padded[yi0, xi0] * (1 - wx) + padded[yi0, xi1] * wx
    bot = padded[yi1, xi0] * (1 - wx) + padded[yi1, xi1] * wx
    return top * (1 - wy) + bot * wy


def saccade_path(spec: SaccadeSpec = SPEC) -> np.ndarray:
    """Offsets (num_samples + 1, 2) of the triangle path; row 0 is the starting point."""
    verts = np.asarray((*spec.vertices, spec.vertices[0]), dtype=np.float64)
    points = [verts[0]]
    for a, b in itertools.pairwise(verts):
        for s in range(1, spec.samples_per_saccade + 1):
            points.append(a + (b - a) * s / spec.samples_per_saccade)
    return np.stack(points)


def simulate_events(image: np.ndarray, rng: np.random.Generator,
                    spec: SaccadeSpec = SPEC) -> np.ndarray:
    """Events of a DVS sensor watching ``image`` ((8, 8), values in [0, 1]) during 3 saccades.

    Each pixel keeps a reference log intensity (initialised from the first rendered frame);
    whenever the log intensity moves ``n`` thresholds away from it, the pixel emits ``n``
    events of that polarity at that sample's time and the reference moves ``n`` thresholds.
    Background noise events are added independently. Timestamps are
    ``k * sample_us`` for samples ``k = 1..num_samples``.
    """
    jitter = rng.uniform(-spec.jitter, spec.jitter, size=2)
    thr = np.maximum(
        spec.threshold + spec.threshold_sigma * rng.standard_normal((spec.sensor, spec.sensor)),
        0.05,
    )
    noise = rng.random((spec.num_samples, 2, spec.sensor, spec.sensor)) < spec.noise_rate
    path = saccade_path(spec) + jitter
    log_i = np.log(_render(image, path, spec) + spec.log_eps)  # (num_samples + 1, S, S)
    ref = log_i[0]
    counts = np.zeros((spec.num_samples, 2, spec.sensor, spec.sensor), dtype=np.int64)
    for k in range(1, spec.num_samples + 1):
        n_cross = np.trunc((log_i[k] - ref) / thr)  # signed number of thresholds crossed
        ref = ref + n_cross * thr
        counts[k - 1, 1] = np.maximum(n_cross, 0)
        counts[k - 1, 0] = np.maximum(-n_cross, 0)
    counts += noise
    kk, pp, yy, xx = np.nonzero(counts)
    reps = counts[kk, pp, yy, xx]
    t_us = (kk + 1) * spec.sample_us
    return make_events(np.repeat(xx, reps), np.repeat(yy, reps), np.repeat(t_us, reps),
                       np.repeat(pp, reps))


def event_digit_frames(images: np.ndarray, indices: np.ndarray, time_steps: int,
                       seed: int = 0, spec: SaccadeSpec = SPEC) -> np.ndarray:
    """Frames (N, T, 2, S, S) uint8 of the digits ``images`` (N, 8, 8) in [0, 1].

    Image ``i`` uses the generator ``numpy.random.default_rng([seed, indices[i]])``, so every
    image has its own reproducible stream whatever split or order it is taken in.
    """
    if not 1 <= time_steps <= spec.num_samples:
        raise SpqError(f"event-digits supports 1..{spec.num_samples} time steps, "
                       f"got {time_steps}")
    out = np.zeros((len(images), time_steps, 2, spec.sensor, spec.sensor), dtype=np.uint8)
    t_range = (spec.sample_us, spec.sample_us + spec.duration_us)
    for i, (img, idx) in enumerate(zip(images, indices, strict=True)):
        rng = np.random.default_rng([seed, int(idx)])
        ev = simulate_events(img, rng, spec)
        out[i] = events_to_frames(ev, (spec.sensor, spec.sensor), time_steps, t_range=t_range)
    return out
