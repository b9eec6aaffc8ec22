# SPDX-License-Identifier: MIT
"""The export directory (spq.export.directory): spq-export never loses a user's files, and
every command that reads an export refuses one that was changed after spq-export, with one
`error:` line (issue 9, items 2, 3 and 5). The CLI runs for real, in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import spq
import spq.nn as snn
from spq.errors import SpqError, SpqFormatError
from spq.export.directory import open_export
from spq.export.pipeline import export
from spq.nn.testing import random_model
from tests.support import (
    modelgen,  # independent of spq.export: seal() recomputes the hashes by hand
)

BIN = Path(sys.executable).parent
TEMP_SUFFIXES = (".spq-tmp", ".spq-bak", ".tmp", ".old")


# host libraries and firmware of these tests go to the session's fresh cache (real compiles)
pytestmark = pytest.mark.usefixtures("fw_cache")


def spq_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spq", *args], capture_output=True,
                          text=True, check=False, cwd=cwd, timeout=300)


def spq_export(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "spq-export"), *args], capture_output=True, text=True,
                          check=False, cwd=cwd, timeout=300)


def one_error(proc: subprocess.CompletedProcess[str], fragment: str) -> str:
    """Exit 2, one `error:` line holding `fragment`, no traceback; returns the line."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def snapshot(root: Path) -> dict[str, Any]:
    """Every file's bytes, every symlink's target and every directory under root."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath, d)
            out[str(p.relative_to(root)) + "/"] = os.readlink(p) if p.is_symlink() else "dir"
        for f in filenames:
            p = Path(dirpath, f)
            rel = str(p.relative_to(root))
            out[rel] = ("link", os.readlink(p)) if p.is_symlink() else p.read_bytes()
    return out


def leftovers(*dirs: Path) -> list[str]:
    return [p.name for d in dirs if d.exists() for p in d.iterdir()
            if p.name.endswith(TEMP_SUFFIXES)]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_manifest(out: Path, edit: Any, *, seal: bool = False) -> None:
    m = json.loads((out / "manifest.json").read_text())
    edit(m)
    (out / "manifest.json").write_text(json.dumps(m, indent=2))
    if seal:
        modelgen.seal(out)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints of a static and an event model."""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for kind, seed in (("static", 61), ("events", 62)):
        out[kind] = root / f"{kind}.pt"
        spq.save(random_model(seed, input_kind=kind, conv=True), out[kind])
    return out


@pytest.fixture(scope="module")
def exported(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for kind, ckpt in models.items():
        export(ckpt, root / kind, name=f"{kind}_net", verify_n=4)
        out[kind] = root / kind
    return out


def copy_export(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ====================================================================== A: no data loss


def test_manifest_records_marker_hashes_and_checksum(exported: dict[str, Path]) -> None:
    out = exported["static"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "spq-export" and m["manifest_version"] == 2
    assert m["files"] == {f: sha(out / f) for f in
                          ("static_net.h", "static_net.c", "samples.npz")}
    assert m["checksum"] == modelgen.manifest_checksum(m)
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "samples.npz", "static_net.c", "static_net.h"]


def test_issue_scenario_git_repo_with_foreign_manifest_survives(
        models: dict[str, Path], tmp_path: Path) -> None:
    """Issue 9 item 2, as reported: `spq-export net.pt -o .` in a git repository holding a
    manifest.json of its own deleted .git, src/ and net.pt. Now: refused, every byte kept."""
    p = tmp_path / "p"
    (p / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=p, check=True)
    (p / "manifest.json").write_text("{}\n")
    (p / "src" / "main.c").write_text("x\n")
    shutil.copy(models["static"], p / "net.pt")
    os.symlink("src/main.c", p / "link.c")
    subprocess.run(["git", "add", "-A"], cwd=p, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   cwd=p, check=True)
    before = snapshot(p)
    one_error(spq_export("net.pt", "-o", ".", cwd=p),
              "holds a manifest.json that spq-export did not write")
    assert snapshot(p) == before
    # without the foreign manifest: the four files are added, nothing else changes
    (p / "manifest.json").unlink()
    before = snapshot(p)
    proc = spq_export("net.pt", "-o", ".", "--verify", "2", cwd=p)
    assert proc.returncode == 0, proc.stderr
    after = snapshot(p)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["manifest.json", "net.c", "net.h", "samples.npz"]
    status = subprocess.run(["git", "status", "--porcelain"], cwd=p, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    assert sorted(status) == [" M manifest.json", "?? net.c", "?? net.h", "?? samples.npz"]
    fsck = subprocess.run(["git", "fsck", "--no-progress"], cwd=p, capture_output=True,
                          text=True, check=False)
    assert fsck.returncode == 0, fsck.stderr


@pytest.mark.parametrize("content", ["{}", "[]", "{ not json", '{"name": "net"}',
                                     '{"format": "other", "name": "net"}', ""])
def test_foreign_manifest_is_refused(models: dict[str, Path], tmp_path: Path,
                                     content: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(content)
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    one_error(spq_export(str(models["static"]), "-o", str(out)), "did not write")
    assert snapshot(out) == before and leftovers(out, tmp_path) == []


def test_export_next_to_its_checkpoint_keeps_it_and_user_files(
        models: dict[str, Path], tmp_path: Path) -> None:
    """`spq-export D/m.pt -o D` over an earlier export deleted m.pt and every user file."""
    d = tmp_path / "D"
    d.mkdir()
    shutil.copy(models["events"], d / "m.pt")
    (d / "notes.txt").write_text("my notes\n")
    (d / "sub").mkdir()
    (d / "sub" / "x.bin").write_bytes(bytes(range(256)))
    user = {k: v for k, v in snapshot(d).items()}
    for verify in ("2", "3"):  # the second run replaces the first export
        proc = spq_export(str(d / "m.pt"), "-o", str(d), "--verify", verify)
        assert proc.returncode == 0, proc.stderr
        after = snapshot(d)
        assert {k: after[k] for k in user} == user
        assert sorted(set(after) - set(user)) == ["m.c", "m.h", "manifest.json", "samples.npz"]
        assert leftovers(d, tmp_path) == []
    assert json.loads((d / "manifest.json").read_text())["verified"]["inputs"] == 3
    proc = spq_cli("run", str(d))
    assert proc.returncode == 0 and "identical to samples.npz" in proc.stdout, proc.stderr


def test_checkpoint_is_never_a_target(models: dict[str, Path], tmp_path: Path) -> None:
    d = tmp_path / "D"
    d.mkdir()
    shutil.copy(models["static"], d / "m.c")  # a checkpoint that happens to be named m.c
    before = snapshot(d)
    one_error(spq_export(str(d / "m.c"), "-o", str(d)), "is the checkpoint being exported")
    assert snapshot(d) == before
    # an earlier export named m: its m.c is the checkpoint now; still refused
    ok = spq_export(str(d / "m.c"), "-o", str(d), "--name", "other", "--verify", "1")
    assert ok.returncode == 0, ok.stderr
    m = json.loads((d / "manifest.json").read_text())
    m.update(name="m", files={"m.h": "0" * 64, "m.c": sha(d / "m.c"), "samples.npz": "0" * 64})
    m["checksum"] = modelgen.manifest_checksum(m)
    (d / "manifest.json").write_text(json.dumps(m))
    before = snapshot(d)
    one_error(spq_export(str(d / "m.c"), "-o", str(d)), "is the checkpoint being exported")
    assert snapshot(d) == before
    # and exporting another name over it never removes it although its hash matches
    proc = spq_export(str(d / "m.c"), "-o", str(d), "--name", "third", "--verify", "1")
    assert proc.returncode == 0, proc.stderr
    assert (d / "m.c").read_bytes() == models["static"].read_bytes()
    assert "kept m.c of the earlier export 'm' (the checkpoint being exported)" in \
        " ".join(proc.stdout.split())


def test_previous_export_under_another_name(models: dict[str, Path], tmp_path: Path) -> None:
    """The earlier export's own files go when they still hold what its manifest recorded;
    edited ones stay, and the summary says so. Same-name files are always rewritten."""
    out = tmp_path / "out"
    assert spq_export(str(models["static"]), "-o", str(out), "--name", "old",
                      "--verify", "1").returncode == 0
    (out / "user.txt").write_text("u")
    proc = spq_export(str(models["static"]), "-o", str(out), "--name", "new", "--verify", "1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "new.c", "new.h", "samples.npz", "user.txt"]
    assert "note:" not in proc.stdout
    # an edited file of the earlier export is kept
    with (out / "new.c").open("a") as f:
        f.write("/* my change */\n")
    edited = (out / "new.c").read_bytes()
    proc = spq_export(str(models["events"]), "-o", str(out), "--name", "third", "--verify", "1")
    assert proc.returncode == 0, proc.stderr
    assert (out / "new.c").read_bytes() == edited and not (out / "new.h").exists()
    assert "kept new.c of the earlier export 'new' (they were changed since)" in \
        " ".join(proc.stdout.split())
    # the same name: third.c is rewritten even when edited, with a note
    (out / "third.c").write_text("edited\n")
    proc = spq_export(str(models["events"]), "-o", str(out), "--name", "third", "--verify", "1")
    assert proc.returncode == 0, proc.stderr
    assert "replaced third.c, which had been edited" in " ".join(proc.stdout.split())
    assert spq_cli("run", str(out)).returncode == 0
    assert (out / "user.txt").read_text() == "u" and leftovers(out, tmp_path) == []


def test_legacy_export_is_recognised_and_its_files_kept(
        exported: dict[str, Path], models: dict[str, Path], tmp_path: Path) -> None:
    """An export by an spq from before the marker (manifest without "format"): replaced in
    place, its differently named files kept (no hashes to prove them unchanged); readers ask
    for a new export."""
    out = copy_export(exported["static"], tmp_path / "legacy")
    edit_manifest(out, lambda m: [m.pop(k) for k in ("format", "manifest_version", "files",
                                                     "checksum")])
    one_error(spq_cli("run", str(out)), "older spq-export")
    proc = spq_export(str(models["static"]), "-o", str(out), "--name", "fresh", "--verify", "1")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "fresh.c", "fresh.h", "manifest.json", "samples.npz", "static_net.c", "static_net.h"]
    assert "kept static_net.h, static_net.c" in " ".join(proc.stdout.split())


@pytest.mark.parametrize("fail_at", ["write", "replace"])
def test_failure_while_writing_leaves_out_as_it_was(
        models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fail_at: str) -> None:
    """A disk that fills up (or a rename that fails) half-way: the earlier export comes back
    byte for byte, no temporary file stays; a new OUT is not created."""
    from typer.testing import CliRunner

    from spq.export import directory
    from tests.test_export import APP

    out = tmp_path / "out"
    assert CliRunner().invoke(APP, ["export", str(models["static"]), "-o", str(out),
                                    "--verify", "1", "--name", "first"]).exit_code == 0
    (out / "user.txt").write_text("u")
    before = snapshot(out)
    calls = {"n": 0}
    real_replace, real_write = os.replace, directory._write_tmp

    def failing_replace(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    def failing_write(o: Path, fname: str, data: bytes) -> Path:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_write(o, fname, data)

    if fail_at == "replace":
        monkeypatch.setattr(directory.os, "replace", failing_replace)
    else:
        monkeypatch.setattr(directory, "_write_tmp", failing_write)
    for target, name in ((out, "again"), (out, "first"), (tmp_path / "new" / "deep", None)):
        calls["n"] = 0
        args = ["export", str(models["static"]), "-o", str(target), "--verify", "1"]
        res = CliRunner().invoke(APP, args + (["--name", name] if name else []))
        assert res.exit_code == 2, res.stdout
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], res.stderr
        assert "is unchanged" in lines[0]
        assert snapshot(out) == before
        assert leftovers(out, tmp_path) == []
    assert not (tmp_path / "new").exists()


def test_out_is_written_in_place_never_renamed(models: dict[str, Path],
                                               tmp_path: Path) -> None:
    """OUT keeps its inode (the old writer renamed the whole directory, which cannot work
    for a mount point and took everything else in it along)."""
    out = tmp_path / "out"
    out.mkdir()
    ino = out.stat().st_ino
    for name in ("a", "b"):
        assert spq_export(str(models["static"]), "-o", str(out), "--name", name,
                          "--verify", "1").returncode == 0
        assert out.stat().st_ino == ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_out_that_is_a_mount_point(models: dict[str, Path], tmp_path: Path) -> None:
    """A real tmpfs mount in a private mount namespace (unshare): spq-export writes into it
    twice, nothing is left beside it."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("no mount namespace here (unshare); test_out_is_written_in_place_never"
                    "_renamed covers the mechanism")
    script = (
        'set -e; mount -t tmpfs none "$1"; echo mine > "$1/keep.txt"; '
        '"$2" "$3" -o "$1" --verify 1 >/dev/null; '
        '"$2" "$3" -o "$1" --name again --verify 1 >/dev/null; '
        'mountpoint -q "$1"; ls -a "$1"; cat "$1/keep.txt"'
    )
    proc = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh",
                           str(mnt), str(BIN / "spq-export"), str(models["static"])],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert sorted(n for n in names if n not in (".", "..", "mine")) == [
        "again.c", "again.h", "keep.txt", "manifest.json", "samples.npz"]
    assert names[-1] == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnt"]


# ====================================================================== B: inconsistent exports

READERS = ("run", "qemu", "profile")


def readers_refuse(out: Path, fragment: str) -> None:
    """spq run, spq qemu, spq profile, HostModel, the firmware build: one line."""
    from spq.runtime import HostModel
    from spq.tools.boards import get_board
    from spq.tools.firmware import build_firmware

    for cmd in READERS:
        one_error(spq_cli(cmd, str(out)), fragment)
    for reader in (HostModel, open_export, lambda o: build_firmware(get_board("mps2-an386"), o)):
        with pytest.raises(SpqFormatError, match=fragment.replace("(", r"\(")):
            reader(out)


def test_out_scale_edit_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    """out_scale x -10 gave wrong float logits with matches_samples: true."""
    out = copy_export(exported["static"], tmp_path / "o")
    edit_manifest(out, lambda m: m.update(out_scale=m["out_scale"] * -10))
    readers_refuse(out, "is an inconsistent export: manifest.json was changed after spq-export")


def test_layers_cut_to_two_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    """`spq qemu` blamed the device ("differs in 64 places")."""
    out = copy_export(exported["static"], tmp_path / "o")
    n = len(json.loads((out / "manifest.json").read_text())["layers"])
    edit_manifest(out, lambda m: m.update(layers=m["layers"][:2]))
    readers_refuse(out, "manifest.json was changed after spq-export")
    # even with the checksums recomputed NAME.h disagrees (and the C descriptor: see
    # test_runtime_host.py::test_manifest_and_model_must_agree)
    modelgen.seal(out)
    readers_refuse(out, f"static_net.h says static_net_NUM_LAYERS {n}, manifest.json 2")


@pytest.mark.parametrize("macro,value", [("NUM_LAYERS", "2"), ("NUM_CLASSES", "9")])
def test_header_edit_is_refused(exported: dict[str, Path], tmp_path: Path, macro: str,
                                value: str) -> None:
    """NAME.h NUM_LAYERS 2 gave an IndexError traceback in device_counts; NUM_CLASSES 9 passed
    `spq run` and HardFaulted the firmware."""
    out = copy_export(exported["static"], tmp_path / "o")
    h = out / "static_net.h"
    text = h.read_text()
    line = next(ln for ln in text.splitlines() if f"static_net_{macro} " in ln)
    h.write_text(text.replace(line, f"#define static_net_{macro} {value}"))
    readers_refuse(out, "static_net.h was changed after spq-export")
    modelgen.seal(out)  # checksums recomputed: the macros still disagree with the manifest
    readers_refuse(out, f"static_net.h says static_net_{macro} {value}, manifest.json")


# every macro docs/formats.md lists for NAME.h
HEADER_MACROS = ("ARENA_SIZE", "ARENA_SIZE_TIME", "ARENA_SIZE_LAYER", "TIME_STEPS",
                 "NUM_CLASSES", "INPUT_C", "INPUT_H", "INPUT_W", "INPUT_BYTES", "INPUT_KIND",
                 "NUM_LAYERS", "WEIGHTS_BYTES")


def test_every_header_macro_is_checked(exported: dict[str, Path], tmp_path: Path) -> None:
    """open_export compares each of NAME.h's macros with the manifest (the hashes recomputed
    after the edit, as someone who edits both would)."""
    for kind in ("static", "events"):
        text = (exported[kind] / f"{kind}_net.h").read_text()
        for macro in HEADER_MACROS:
            out = copy_export(exported[kind], tmp_path / f"{kind}_{macro}")
            line = next(ln for ln in text.splitlines()
                        if ln.startswith(f"#define {kind}_net_{macro} "))
            (out / f"{kind}_net.h").write_text(text.replace(line, f"#define {kind}_net_{macro} 7"))
            modelgen.seal(out)
            with pytest.raises(SpqFormatError, match=f"{kind}_net.h says {kind}_net_{macro} 7, "
                                                     "manifest.json"):
                open_export(out)


def test_c_source_and_samples_edits(exported: dict[str, Path], tmp_path: Path) -> None:
    out = copy_export(exported["events"], tmp_path / "o")
    c = out / "events_net.c"
    c.write_text(c.read_text().replace("static const", "static  const", 1))
    readers_refuse(out, "events_net.c was changed after spq-export")
    shutil.copy(exported["events"] / "events_net.c", c)
    with np.load(out / "samples.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["logits_int"][0, 0] += 1
    np.savez(out / "samples.npz", **arrays)
    one_error(spq_cli("run", str(out)), "samples.npz was changed after spq-export")
    np.save(tmp_path / "x.npy", arrays["inputs"][:1])  # with --input it is not needed
    assert spq_cli("run", str(out), "--input", str(tmp_path / "x.npy")).returncode == 0


def test_empty_or_missing_header(exported: dict[str, Path], tmp_path: Path) -> None:
    """An empty .h gave `#error ... format version` from the compiler."""
    out = copy_export(exported["static"], tmp_path / "o")
    (out / "static_net.h").write_text("")
    readers_refuse(out, "static_net.h is empty")
    (out / "static_net.h").unlink()
    one_error(spq_cli("run", str(out)), "incomplete export: static_net.h is missing")


def test_versions(exported: dict[str, Path], tmp_path: Path) -> None:
    out = copy_export(exported["static"], tmp_path / "o")
    edit_manifest(out, lambda m: m.update(manifest_version=3), seal=True)
    one_error(spq_cli("run", str(out)), "newer than this spq reads (2); upgrade spq")
    edit_manifest(out, lambda m: m.update(manifest_version=2, format_version=99), seal=True)
    one_error(spq_cli("qemu", str(out)), "exported for C runtime format 99")


def test_device_counts_refuses_a_result_of_another_model(exported: dict[str, Path]) -> None:
    """A device result with fewer layers than the manifest: one SpqError, not IndexError."""
    from spq.tools.device import device_counts
    from spq.tools.protocol import InferResult, LayerStats

    export = open_export(exported["static"])
    n = len(export.layer_types)
    fields = LayerStats.__dataclass_fields__
    layer = LayerStats(**{k: 0 for k in fields})
    good = InferResult(0, "instructions", 1, 0, [0] * export.num_classes, [layer] * n)
    assert len(device_counts(good, export)["spike_counts"]) > 0
    short = InferResult(0, "instructions", 1, 0, [0] * export.num_classes, [layer] * 2)
    with pytest.raises(SpqError, match=f"device reports 2 layers .* the export {n}"):
        device_counts(short, export)


# ====================================================================== B/C: inputs


def test_static_float_input_outside_unit_range_is_refused(
        exported: dict[str, Path], tmp_path: Path) -> None:
    """0..255 floats, 2.0, -1.0, NaN were clamped without a word and changed predictions."""
    from spq.runtime import HostModel

    out = exported["static"]
    x = np.load(out / "samples.npz")["inputs"]
    cases = {"f255": x.astype(np.float32), "two": np.full(x.shape, 2.0),
             "neg": np.full(x.shape, -1.0), "nan": np.full(x.shape, np.nan)}
    for key, arr in cases.items():
        np.save(tmp_path / f"{key}.npy", arr)
        frag = "NaN" if key == "nan" else "static float input must be in [0, 1]"
        # qemu and profile load inputs as run does (ExportDir.load_inputs): two cases each
        for cmd in ("run", "qemu", "profile") if key in ("f255", "two") else ("run",):
            one_error(spq_cli(cmd, str(out), "--input", str(tmp_path / f"{key}.npy")), frag)
        with pytest.raises(SpqError, match=r"NaN|\[0, 1\]"):
            HostModel(out).prepare_input(arr)
    # uint8 stays 0..255; floats in [0, 1] quantize to the same pixels
    want = np.load(out / "samples.npz")["logits_int"]
    for arr in (x, x.astype(np.float64) / 255):
        np.save(tmp_path / "ok.npy", arr)
        proc = spq_cli("run", str(out), "--input", str(tmp_path / "ok.npy"), "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["logits_int"] == want.tolist()


def test_big_endian_npy_is_converted(exported: dict[str, Path], tmp_path: Path) -> None:
    out = exported["static"]
    s = np.load(out / "samples.npz")
    np.save(tmp_path / "be.npy", (s["inputs"].astype(np.float64) / 255).astype(">f8"))
    proc = spq_cli("run", str(out), "--input", str(tmp_path / "be.npy"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["logits_int"] == s["logits_int"].tolist()
    ev = exported["events"]
    e = np.load(ev / "samples.npz")
    np.save(tmp_path / "be_ev.npy", e["inputs"].astype(">i8"))
    proc = spq_cli("run", str(ev), "--input", str(tmp_path / "be_ev.npy"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["logits_int"] == e["logits_int"].tolist()


@pytest.mark.qemu
def test_big_endian_npy_in_spq_qemu(exported: dict[str, Path], tmp_path: Path) -> None:
    out = exported["static"]
    s = np.load(out / "samples.npz")
    np.save(tmp_path / "be.npy", (s["inputs"][:1].astype(np.float64) / 255).astype(">f8"))
    proc = spq_cli("qemu", str(out), "--input", str(tmp_path / "be.npy"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["logits_int"] == s["logits_int"][:1].tolist()


def test_files_that_are_not_npy(exported: dict[str, Path], tmp_path: Path) -> None:
    out = exported["events"]
    (tmp_path / "text.npy").write_text("1 2 3\n")
    (tmp_path / "empty.npy").write_bytes(b"")
    np.savez(tmp_path / "arch.npy", a=np.zeros(3))
    os.replace(tmp_path / "arch.npy.npz", tmp_path / "arch.npy")
    np.save(tmp_path / "cplx.npy", np.zeros((2, 2), dtype=np.complex64))
    for cmd in ("run", "qemu"):
        one_error(spq_cli(cmd, str(out), "-i", str(tmp_path / "text.npy")),
                  "text.npy is not a .npy file (no NumPy header)")
        one_error(spq_cli(cmd, str(out), "-i", str(tmp_path / "empty.npy")),
                  "is not a .npy file (an empty file)")
        one_error(spq_cli(cmd, str(out), "-i", str(tmp_path / "arch.npy")),
                  "is an .npz archive")
        one_error(spq_cli(cmd, str(out), "-i", str(tmp_path / "cplx.npy")),
                  "must be a numeric array, got dtype complex64")
        one_error(spq_cli(cmd, str(out), "-i", str(tmp_path)), "is a directory, not a .npy")


# ====================================================================== C: checkpoints


def _payload(ckpt: Path) -> dict[str, Any]:
    return torch.load(ckpt, weights_only=True)


def test_negative_batchnorm_variance_names_layer_and_value(
        models: dict[str, Path], tmp_path: Path) -> None:
    d = _payload(models["static"])
    key = next(k for k in d["state_dict"] if k.endswith("running_var"))
    d["state_dict"][key] = d["state_dict"][key].clone()
    d["state_dict"][key][1] = -0.5
    bad = tmp_path / "negvar.pt"
    torch.save(d, bad)
    layer = key.rsplit(".", 1)[0]
    frag = f"layer {layer} (BatchNorm"
    for proc in (spq_cli("eval", str(bad), "--dataset", "digits"),
                 spq_export(str(bad), "-o", str(tmp_path / "o"))):
        line = one_error(proc, frag)
        assert "running_var[1] = -0.5 is negative" in line
    assert not (tmp_path / "o").exists()


def _huge_checkpoint(tmp_path: Path) -> Path:
    net = snn.Sequential(snn.Flatten(), snn.QuantLinear(64, 32, weight_bits=4),
                         snn.BatchNorm1d(32), snn.QuantLIF(levels=3), snn.QuantLinear(32, 10),
                         time_steps=2, input_kind="static", input_shape=(1, 8, 8))
    spq.save(net, tmp_path / "small.pt")
    d = _payload(tmp_path / "small.pt")
    spec = json.loads(d["spec"])
    spec["layers"][1]["out_features"] = 4_000_000  # 1 GB of float32 weights
    spec["layers"][2]["num_features"] = 4_000_000
    spec["layers"][4]["in_features"] = 4_000_000
    d["spec"] = json.dumps(spec)
    path = tmp_path / "huge.pt"
    torch.save(d, path)
    assert path.stat().st_size < 64 * 1024
    return path


def test_huge_layer_in_spec_is_refused_before_allocation(tmp_path: Path) -> None:
    """A 32 KB checkpoint whose spec declares out_features 4e6 made spq-export allocate
    GBs before it noticed: the shapes are compared first, on the meta device."""
    huge = _huge_checkpoint(tmp_path)
    line = one_error(spq_export(str(huge), "-o", str(tmp_path / "o")),
                     "tensor layers.1.weight has shape (32, 64), but the architecture spec "
                     "declares (4000000, 64)")
    assert "do not match" in line
    code = ("import resource, sys, spq\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    spq.load(sys.argv[1])\nexcept spq.SpqFormatError:\n    pass\n"
            "print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    proc = subprocess.run([sys.executable, "-c", "import torch\n" + code, str(huge)],
                          capture_output=True, text=True, check=True)
    base_kb, peak_kb = (int(v) for v in proc.stdout.split())
    assert peak_kb - base_kb < 100 * 1024, (base_kb, peak_kb)  # not the 1 GB the spec asks


def test_complex_weights_are_refused(models: dict[str, Path], tmp_path: Path) -> None:
    d = _payload(models["static"])
    key = next(k for k in d["state_dict"] if k.endswith("weight"))
    d["state_dict"][key] = d["state_dict"][key].to(torch.complex64)
    bad = tmp_path / "complex.pt"
    torch.save(d, bad)
    one_error(spq_export(str(bad), "-o", str(tmp_path / "o")),
              f"tensor {key} is complex (torch.complex64)")
    with pytest.raises(SpqFormatError, match="complex"):
        spq.load(bad)


def test_eval_on_a_directory_says_so(tmp_path: Path) -> None:
    one_error(spq_cli("eval", str(tmp_path), "--dataset", "digits"),
              "is a directory, not a checkpoint")
    one_error(spq_cli("eval", str(tmp_path / "none.pt"), "--dataset", "digits"),
              "no such checkpoint")
