# SPDX-License-Identifier: MIT
"""spq.save / spq.load: round trips and refusal of every kind of bad file."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import pytest
import torch

import spq
import spq.nn as snn
from spq.checkpoint import FORMAT_VERSION, check_finite
from spq.errors import SpqError, SpqFormatError
from spq.nn.testing import random_input, random_model

CASES = [
    {"weight_bits": 2, "levels": 2, "input_kind": "static", "pool": "max", "conv": True},
    {"weight_bits": 4, "levels": 3, "input_kind": "events", "pool": "avg", "conv": True},
    {
        "weight_bits": 8,
        "levels": 5,
        "input_kind": "static",
        "pool": "avg",
        "conv": True,
        "prune": True,
    },
    {
        "weight_bits": 4,
        "levels": 16,
        "input_kind": "events",
        "pool": "max",
        "conv": True,
        "prune": True,
    },
    {"weight_bits": 8, "levels": 3, "input_kind": "events", "conv": False, "prune": True},
    {"weight_bits": 2, "levels": 16, "input_kind": "static", "conv": False},
]


@pytest.mark.parametrize("seed", range(len(CASES)))
def test_round_trip_identical_int_logits(tmp_path, seed):
    net = random_model(seed + 40, **CASES[seed])
    x = random_input(net, 6, seed)
    p = tmp_path / "m.pt"
    spq.save(net, p)
    back = spq.load(p)
    assert isinstance(back, snn.Sequential) and not back.training
    assert torch.equal(back.int_logits(x), net.int_logits(x))
    assert all(torch.equal(a, b) for a, b in zip(back.spikes(x), net.spikes(x), strict=True))
    assert back.out_scale == net.out_scale
    assert back.spec() == net.spec()
    for a, b in zip(back.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # the file is a plain dict that torch loads without code
    d = torch.load(p, weights_only=True)
    assert d["format_version"] == FORMAT_VERSION and isinstance(d["spec"], str)
    json.loads(d["spec"])


def test_round_trip_randomized_many(tmp_path):
    p = tmp_path / "m.pt"
    for seed in range(100, 112):
        net = random_model(seed, prune=seed % 2 == 0)
        x = random_input(net, 4, seed)
        spq.save(net, p)
        assert torch.equal(spq.load(p).int_logits(x), net.int_logits(x))


def test_build_from_spec_has_the_architecture():
    net = random_model(3)
    again = snn.build(json.dumps(net.spec()))
    assert [type(m) for m in again.layers] == [type(m) for m in net.layers]
    again.load_state_dict(net.state_dict())
    again.eval()
    x = random_input(net, 2, 0)
    assert torch.equal(again.int_logits(x), net.int_logits(x))


@pytest.fixture()
def good(tmp_path):
    net = random_model(1)
    p = tmp_path / "good.pt"
    spq.save(net, p)
    return p


def _refused(path, match: str) -> None:
    with pytest.raises(SpqFormatError, match=match):
        spq.load(path)


def test_missing_and_directory(tmp_path):
    _refused(tmp_path / "nope.pt", "no such file")
    _refused(tmp_path, "directory")


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, 0.9, -1])
def test_truncated(tmp_path, good, keep):
    data = good.read_bytes()
    n = (
        int(len(data) * keep)
        if isinstance(keep, float)
        else (keep if keep >= 0 else len(data) - 20)
    )
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[:n])
    _refused(bad, "truncated|corrupt|empty")


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint\n" * 10)
    _refused(text, "not a torch checkpoint")
    for junk in (b"garbage\n", b"\x00\x01\x02binary", b"GIF89a...."):
        other_bytes = tmp_path / "junk.pt"
        other_bytes.write_bytes(junk)
        _refused(other_bytes, "not a torch checkpoint")
    z = tmp_path / "z.pt"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.txt", "x")
    _refused(z, "corrupt|not")
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.ones(3)}, other)
    _refused(other, "not an spq checkpoint")
    lst = tmp_path / "list.pt"
    torch.save([torch.ones(2)], lst)
    _refused(lst, "not an spq checkpoint")


def _rewrite(good, tmp_path, **changes):
    d = torch.load(good, weights_only=True)
    d.update(changes)
    p = tmp_path / "changed.pt"
    torch.save(d, p)
    return p, d


def test_newer_format_and_bad_contents(good, tmp_path):
    p, _ = _rewrite(good, tmp_path, format_version=FORMAT_VERSION + 1)
    _refused(p, "newer")
    p, _ = _rewrite(good, tmp_path, format_version="1")
    _refused(p, "format_version")
    p, _ = _rewrite(good, tmp_path, spec="{not json")
    _refused(p, "JSON")
    spec = json.loads(torch.load(good, weights_only=True)["spec"])
    spec["layers"][0]["type"] = "Conv9000"
    p, _ = _rewrite(good, tmp_path, spec=json.dumps(spec))
    _refused(p, "unknown layer")
    spec = json.loads(torch.load(good, weights_only=True)["spec"])
    spec["layers"][-1] = {"type": "Flatten"}  # no readout: grammar refuses it
    p, _ = _rewrite(good, tmp_path, spec=json.dumps(spec))
    _refused(p, "readout")
    spec = json.loads(torch.load(good, weights_only=True)["spec"])
    lif = next(s for s in spec["layers"] if s["type"] == "QuantLIF")
    lif["levels"] = "three"
    p, _ = _rewrite(good, tmp_path, spec=json.dumps(spec))
    _refused(p, "bad arguments")
    for broken in ([], {"layers": 3}, {"layers": [], "time_steps": 2}):
        p, _ = _rewrite(good, tmp_path, spec=json.dumps(broken))
        _refused(p, "spec")
    d = torch.load(good, weights_only=True)
    sd = dict(d["state_dict"])
    k = next(k for k in sd if k.endswith("out_mask"))
    sd[k] = torch.full_like(sd[k], 0.5)
    p, _ = _rewrite(good, tmp_path, state_dict=sd)
    _refused(p, "0 and 1")
    sd = dict(d["state_dict"])
    sd.pop(next(iter(sd)))
    p, _ = _rewrite(good, tmp_path, state_dict=sd)
    _refused(p, "do not match")
    sd = dict(d["state_dict"])
    k = next(k for k in sd if k.endswith("weight"))
    sd[k] = torch.zeros(1)
    p, _ = _rewrite(good, tmp_path, state_dict=sd)
    _refused(p, "do not match")


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvilOpen:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        import builtins

        return (builtins.open, (self.target, "w"))


def test_pickles_with_code_are_refused_and_never_run(tmp_path, good):
    made = tmp_path / "pwned"
    made2 = tmp_path / "pwned2"
    cases = []
    p1 = tmp_path / "evil_torch.pt"
    torch.save(
        {
            "spq_checkpoint": "spq.nn.Sequential",
            "format_version": 1,
            "spec": "{}",
            "state_dict": {},
            "x": _Evil(str(made)),
        },
        p1,
    )
    cases.append(p1)
    p2 = tmp_path / "evil_pickle.pt"
    with open(p2, "wb") as f:
        pickle.dump(_EvilOpen(str(made2)), f)
    cases.append(p2)
    p3 = tmp_path / "evil_pickle_sys.pt"
    with open(p3, "wb") as f:
        pickle.dump({"a": _Evil(str(made))}, f, protocol=2)
    cases.append(p3)
    for p in cases:
        _refused(p, "refused")
    assert not made.exists() and not made2.exists()


def test_save_is_atomic_and_checks_type(tmp_path):
    with pytest.raises(SpqError):
        spq.save(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_check_finite():
    net = random_model(2)
    check_finite(net)
    with torch.no_grad():
        net.readout.weight[0, 0] = float("nan")
    with pytest.raises(SpqError, match="NaN"):
        check_finite(net)
    with pytest.raises(SpqError, match="non-finite"):
        net.int_logits(random_input(net, 1, 0))
