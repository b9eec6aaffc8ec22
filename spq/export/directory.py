# SPDX-License-Identifier: MIT
"""An export directory (``spq-export MODEL.pt -o OUT``): the one place that knows what is in
it, checks it and writes it.

``OUT`` holds ``NAME.h``, ``NAME.c``, ``samples.npz`` and ``manifest.json``. The manifest
carries a marker (``"format": "spq-export"``, ``"manifest_version"``), the sha256 of the three
other files (``"files"``) and a checksum of its own content (``"checksum"``), so that

* every reader (:func:`open_export`: ``spq run``, ``spq qemu``, ``spq profile``,
  :class:`spq.runtime.HostModel`, the firmware build) refuses, with one line, an export whose
  files were changed after ``spq-export`` or do not belong together, instead of running it
  and blaming the runtime or the device;
* the writer (:func:`plan_write`, :func:`write_export`) recognises its own earlier export and
  replaces only the files it wrote itself, leaving everything else in ``OUT`` alone.

Inputs enter here too (:func:`read_npy`, :meth:`ExportDir.load_inputs`,
:meth:`InputSpec.prepare`), with one set of rules for ``spq run``, ``spq qemu``,
``spq profile`` and ``HostModel``. docs/formats.md describes the format.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spq.errors import SpqError, SpqFormatError
from spq.export.packing import INPUT_KINDS
from spq.files import file_head
from spq.ir import FORMAT_VERSION

MANIFEST = "manifest.json"
SAMPLES = "samples.npz"
MARKER = "spq-export"  # manifest["format"]
MANIFEST_VERSION = 2  # manifest["manifest_version"]; manifests without it predate checksums
LAYER_TYPES = ("conv", "linear", "maxpool", "sumpool", "readout", "spike_readout")
NEURON_TYPES = ("conv", "linear", "spike_readout")  # layers that emit spikes
SYNAPSE_TYPES = ("conv", "linear", "readout", "spike_readout")  # layers with weights
TMP_SUFFIX = ".spq-tmp"  # the writer's temporary files: .<file>.<random>.spq-tmp
BAK_SUFFIX = ".spq-bak"  # its backups of replaced files while it writes
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NPY_MAGIC = b"\x93NUMPY"


# ---------------------------------------------------------------- hashes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj: Any) -> bytes:
    """The bytes the manifest checksum covers: sorted keys, no spaces, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def manifest_checksum(manifest: Mapping[str, Any]) -> str:
    """sha256 of the manifest without its ``checksum`` field, in canonical JSON."""
    return sha256_bytes(canonical_json({k: v for k, v in manifest.items() if k != "checksum"}))


def export_files(name: str) -> tuple[str, str, str]:
    """The files of export ``name`` that the manifest records: NAME.h, NAME.c, samples.npz."""
    return f"{name}.h", f"{name}.c", SAMPLES


def seal(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> dict[str, Any]:
    """``manifest`` with the marker, the sha256 of ``files`` and its own checksum added."""
    name = manifest["name"]
    out = {"format": MARKER, "manifest_version": MANIFEST_VERSION,
           **{k: v for k, v in manifest.items() if k not in ("files", "checksum")}}
    out["files"] = {f: sha256_bytes(files[f]) for f in export_files(name)}
    out["checksum"] = manifest_checksum(out)
    return out


# ---------------------------------------------------------------- inputs


def native(arr: np.ndarray) -> np.ndarray:
    """``arr`` in the machine's byte order (a big-endian .npy is converted, not refused)."""
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def read_npy(path: Path) -> np.ndarray:
    """One numeric array from a .npy file; every problem is one SpqError naming the file."""
    path = Path(path)
    head = file_head(path, len(NPY_MAGIC), "a .npy file")
    if head.startswith(b"PK"):
        raise SpqError(f"{path} is an .npz archive; give a .npy file with one array")
    if head != NPY_MAGIC:
        what = "an empty file" if not head else "no NumPy header"
        raise SpqError(f"{path} is not a .npy file ({what})")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise SpqError(f"{path} holds Python objects (an object array), not numbers; "
                           "save a numeric array") from None
        raise SpqError(f"{path} is a damaged .npy file ({str(exc)[:160]})") from None
    except (OSError, EOFError) as exc:
        raise SpqError(f"{path} is a damaged .npy file ({str(exc)[:160]})") from None
    return native(np.asarray(arr))


def as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise SpqError(f"input must be a numeric array, got dtype {arr.dtype}")
    return native(arr)


def _quantize_static(x: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8 with spq.nn.quantize_input (docs/semantics.md s2),
    which refuses NaN and values outside [0, 1]."""
    import torch

    from spq.nn import quantize_input

    q_t = quantize_input(torch.from_numpy(np.ascontiguousarray(x)))
    return np.asarray(q_t.numpy()).astype(np.uint8)


def events_u8(arr: np.ndarray) -> np.ndarray:
    """0/1 event values of any numeric dtype -> uint8; anything else is refused."""
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise SpqError("event input must contain only 0 and 1")
    return arr.astype(np.uint8)


@dataclass(frozen=True)
class InputSpec:
    """What one inference of an export reads: ``kind``, one frame ``(C, H, W)``, ``T``."""

    kind: str  # "static" | "events"
    frame_shape: tuple[int, int, int]
    time_steps: int

    @property
    def shape(self) -> tuple[int, ...]:
        """One input as spq_run reads it: ``(C, H, W)`` or ``(T, C, H, W)``."""
        if self.kind == "static":
            return self.frame_shape
        return (self.time_steps, *self.frame_shape)

    def prepare(self, x: Any) -> tuple[np.ndarray, bool]:
        """Check and convert one input or a batch to what spq_run reads: ``(N, ...)`` uint8
        and whether ``x`` was a batch. Static: uint8 pixels, or floats in [0, 1] quantized
        like spq.nn (outside [0, 1] is refused, never clamped). Events: 0/1 values."""
        arr = as_array(x)
        full = self.shape
        what = "static" if self.kind == "static" else "event"
        if arr.ndim not in (len(full), len(full) + 1) or tuple(arr.shape[-len(full):]) != full:
            raise SpqError(f"{what} input must have shape {full} or (N, *{full}), "
                           f"got {tuple(arr.shape)}")
        batched = arr.ndim == len(full) + 1
        if self.kind == "events":
            q = events_u8(arr)
        elif arr.dtype == np.uint8:
            q = arr
        elif arr.dtype.kind == "f":
            q = _quantize_static(arr)
        else:
            raise SpqError(f"static input must be uint8 pixels or floats in [0, 1], "
                           f"got dtype {arr.dtype}")
        if not batched:
            q = q[None]
        return np.ascontiguousarray(q, dtype=np.uint8), batched


def samples_npz(inputs: np.ndarray, logits_int: np.ndarray, spike_counts: np.ndarray,
                synops: np.ndarray) -> bytes:
    """The bytes of samples.npz (docs/formats.md): the verification inputs and what every
    runtime computes on them (``synops`` of the synapse layers only)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        inputs=inputs.astype(np.uint8),
        logits_int=logits_int.astype(np.int64),
        spike_counts=spike_counts.astype(np.int64),
        synops=synops.astype(np.int64),
    )
    return buf.getvalue()


@dataclass
class Inputs:
    """Inputs of one command: ``data`` ``(N, ...)`` uint8 as spq_run reads them, whether the
    user gave a batch, and the samples.npz arrays when the inputs came from there."""

    data: np.ndarray
    batched: bool
    samples: dict[str, np.ndarray] | None

    def first(self, n: int) -> Inputs:
        """The first ``n`` inputs (and their samples.npz arrays)."""
        samples = None if self.samples is None else {k: v[:n] for k, v in self.samples.items()}
        return Inputs(self.data[:n], self.batched, samples)


# ---------------------------------------------------------------- reading


def _inconsistent(out: Path, what: str) -> SpqFormatError:
    return SpqFormatError(f"{out} is an inconsistent export: {what}")


def _read_manifest_json(out: Path) -> Any:
    path = out / MANIFEST
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpqFormatError(f"{path} is corrupted: {exc}") from None
    except OSError as exc:
        raise SpqFormatError(f"cannot read {path} ({exc.strerror})") from None


def _legacy(data: Any) -> bool:
    """A manifest of an spq-export from before the marker and checksums."""
    return (isinstance(data, dict) and "format" not in data
            and str(data.get("generator", "")).startswith("spq ")
            and isinstance(data.get("name"), str) and "layers" in data)


def header_defines(spec: InputSpec, num_classes: int, num_layers: int,
                   memory: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """The integer macros of NAME.h, ``(suffix, value, comment)``: spq-export writes each as
    ``#define NAME_<suffix> <value>`` and :func:`open_export` checks NAME.h against them.
    ``memory`` is the manifest's record; a figure missing from it is left out."""
    c, h, w = spec.frame_shape
    defines = [
        ("ARENA_SIZE", memory.get("arena_bytes"),
         f"Arena bytes for the default ({memory.get('schedule')}-major) schedule"),
        ("ARENA_SIZE_TIME", memory.get("arena_bytes_time"),
         "Arena bytes for the time-major schedule"),
        ("ARENA_SIZE_LAYER", memory.get("arena_bytes_layer"),
         "Arena bytes for the layer-major schedule"),
        ("TIME_STEPS", spec.time_steps, "Time steps per inference"),
        ("NUM_CLASSES", num_classes, "Integer logits spq_run writes"),
        ("INPUT_C", c, "Input channels"),
        ("INPUT_H", h, "Input height"),
        ("INPUT_W", w, "Input width"),
        ("INPUT_BYTES", math.prod(spec.shape),
         "Bytes spq_run reads: C*H*W pixels (static) or T*C*H*W 0/1 bytes (events)"),
        ("INPUT_KIND", INPUT_KINDS[spec.kind],
         "::spq_input_kind_t of the input: 0 SPQ_INPUT_STATIC, 1 SPQ_INPUT_EVENTS"),
        ("NUM_LAYERS", num_layers, "Entries in the layer table"),
        ("WEIGHTS_BYTES", memory.get("weights_bytes"), "Packed weight bytes (flash)"),
    ]
    return [(suffix, value, comment) for suffix, value, comment in defines
            if isinstance(value, int) and not isinstance(value, bool)]


def _header_macros(text: str, name: str) -> tuple[str | None, dict[str, int]]:
    """The #define prefix of NAME.h (NAME as written or upper-cased) and its integer macros."""
    for prefix in (name, name.upper()):
        found = dict(re.findall(rf"^\s*#define\s+{re.escape(prefix)}_([A-Z_]+)\s+(\d+)u?\b",
                                text, re.M))
        if "ARENA_SIZE" in found:
            return prefix, {k: int(v) for k, v in found.items()}
    return None, {}


@dataclass(frozen=True)
class ExportDir:
    """A checked export directory (see :func:`open_export`)."""

    path: Path
    manifest: dict[str, Any]
    name: str
    input: InputSpec
    num_classes: int
    out_scale: float
    layer_types: tuple[str, ...]
    macro_prefix: str
    files: dict[str, str] = field(repr=False)

    @property
    def c_file(self) -> Path:
        return self.path / f"{self.name}.c"

    @property
    def h_file(self) -> Path:
        return self.path / f"{self.name}.h"

    @property
    def time_steps(self) -> int:
        return self.input.time_steps

    @property
    def neuron_layers(self) -> list[int]:
        """Indices of the layers that emit spikes (conv, linear)."""
        return [i for i, t in enumerate(self.layer_types) if t in NEURON_TYPES]

    @property
    def synapse_layers(self) -> list[int]:
        """Indices of the layers with weights (conv, linear, readout)."""
        return [i for i, t in enumerate(self.layer_types) if t in SYNAPSE_TYPES]

    def load_samples(self) -> dict[str, np.ndarray]:
        """samples.npz, checked against its sha256 in the manifest."""
        path = self.path / SAMPLES
        if not path.is_file():
            raise SpqError(f"{self.path} has no {SAMPLES}; give an input with --input X.npy")
        if sha256_file(path) != self.files[SAMPLES]:
            raise _inconsistent(self.path, f"{SAMPLES} was changed after spq-export "
                                "(its sha256 differs from the one in manifest.json)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                samples = {k: np.asarray(npz[k]) for k in npz.files}
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise SpqFormatError(f"{path} is corrupted ({str(exc)[:160]})") from None
        if "inputs" not in samples:
            raise SpqFormatError(f"{path} has no 'inputs' array")
        return samples

    def load_inputs(self, input_path: Path | None) -> Inputs:
        """``--input X.npy`` (one input or a batch), else the inputs of samples.npz, checked
        and converted by :meth:`InputSpec.prepare`."""
        samples = None
        if input_path is not None:
            x = read_npy(input_path)
        else:
            samples = self.load_samples()
            x = samples["inputs"]
        data, batched = self.input.prepare(x)
        return Inputs(data, batched, samples)


def open_export(out_dir: str | os.PathLike[str]) -> ExportDir:
    """Read OUT/manifest.json and check that OUT is one whole, unchanged spq-export: the
    marker and version, the manifest's checksum, NAME.h and NAME.c against their sha256,
    NAME.h's macros against the manifest. Raises one-line SpqError/SpqFormatError."""
    out = Path(out_dir)
    if not out.is_dir():
        raise SpqError(f"{out} is not a directory (expected an spq export folder)")
    if not (out / MANIFEST).is_file():
        raise SpqFormatError(f"{out} has no {MANIFEST}: not an spq export folder")
    data = _read_manifest_json(out)
    path = out / MANIFEST
    if _legacy(data):
        raise SpqFormatError(f"{out} was written by an older spq-export (a manifest without "
                             "checksums): export the model again")
    if not isinstance(data, dict) or data.get("format") != MARKER:
        raise SpqFormatError(f"{path} is not an spq-export manifest "
                             f'(no "format": "{MARKER}")')
    version = data.get("manifest_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SpqFormatError(f"{path} is corrupted (bad manifest_version {version!r})")
    if version > MANIFEST_VERSION:
        raise SpqFormatError(f"{path} has manifest_version {version}, newer than this spq "
                             f"reads ({MANIFEST_VERSION}); upgrade spq")
    if version < MANIFEST_VERSION:
        raise SpqFormatError(f"{out} was written by an older spq-export (manifest_version "
                             f"{version}): export the model again")
    try:
        checksum_ok = data.get("checksum") == manifest_checksum(data)
    except ValueError:  # NaN or inf somewhere: not what spq-export writes
        checksum_ok = False
    if not checksum_ok:
        raise _inconsistent(out, f"{MANIFEST} was changed after spq-export (its checksum "
                                 "does not match its content)")
    export = _parse(out, data)
    return dataclasses.replace(export, macro_prefix=_check_c_files(export))


def _parse(out: Path, data: dict[str, Any]) -> ExportDir:
    path = out / MANIFEST
    try:
        name = data["name"]
        kind = data["input"]["kind"]
        shape = tuple(int(v) for v in data["input"]["shape"])
        time_steps = int(data["time_steps"])
        num_classes = int(data["num_classes"])
        out_scale = float(data["out_scale"])
        layer_types = tuple(str(rec["type"]) for rec in data["layers"])
        files = {str(k): str(v) for k, v in data["files"].items()}
        c_version = data["format_version"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpqFormatError(f"{path} is corrupted (bad or missing field {exc})") from None
    if not isinstance(name, str) or not _IDENT.match(name):
        raise SpqFormatError(f"{path} is corrupted (bad model name {name!r})")
    if kind == "events" and len(shape) == 4 and shape[0] == time_steps:
        shape = shape[1:]  # the whole input of one inference, (T, C, H, W)
    if kind not in ("static", "events") or len(shape) != 3 or min(shape) < 1:
        raise SpqFormatError(f"{path} is corrupted (bad input kind or shape)")
    if time_steps < 1 or num_classes < 1 or not np.isfinite(out_scale):
        raise SpqFormatError(f"{path} is corrupted (bad time_steps, num_classes or out_scale)")
    bad = [t for t in layer_types if t not in LAYER_TYPES]
    if not layer_types or bad:
        raise SpqFormatError(f"{path} is corrupted (layer types {bad or 'missing'})")
    if sorted(files) != sorted(export_files(name)):
        raise SpqFormatError(f"{path} is corrupted (files {sorted(files)}, expected "
                             f"{sorted(export_files(name))})")
    if c_version != FORMAT_VERSION:
        raise SpqFormatError(f"{out} was exported for C runtime format {c_version!r}; this "
                             f"spq's runtime is format {FORMAT_VERSION}: export the model again")
    spec = InputSpec(kind, (shape[0], shape[1], shape[2]), time_steps)
    return ExportDir(out, data, name, spec, num_classes, out_scale, layer_types, name, files)


def _check_c_files(export: ExportDir) -> str:
    """Check NAME.h and NAME.c against the manifest; return NAME.h's macro prefix."""
    out = export.path
    for f in (export.h_file, export.c_file):
        if not f.is_file():
            raise SpqFormatError(f"{out} is an incomplete export: {f.name} is missing "
                                 "(run spq-export again)")
        if f.stat().st_size == 0:
            raise _inconsistent(out, f"{f.name} is empty (it was changed after spq-export)")
        if sha256_file(f) != export.files[f.name]:
            raise _inconsistent(out, f"{f.name} was changed after spq-export (its sha256 "
                                     "differs from the one in manifest.json)")
    text = export.h_file.read_text(errors="replace")
    prefix, macros = _header_macros(text, export.name)
    if prefix is None or f"{export.name}_model" not in text:
        raise _inconsistent(out, f"{export.h_file.name} is incomplete (no "
                                 f"{export.name}_ARENA_SIZE or {export.name}_model)")
    memory = export.manifest.get("memory")
    defines = header_defines(export.input, export.num_classes, len(export.layer_types),
                             memory if isinstance(memory, dict) else {})
    for key, want, _ in defines:
        if key in macros and macros[key] != want:
            raise _inconsistent(out, f"{export.h_file.name} says {prefix}_{key} "
                                     f"{macros[key]}, manifest.json {want}")
    return prefix


# ---------------------------------------------------------------- writing


@dataclass
class WritePlan:
    """What :func:`write_export` may touch in ``out`` (from :func:`plan_write`)."""

    out: Path
    name: str
    previous: str | None = None  # NAME of the export already in ``out``
    # files of that export -> their sha256 in its manifest (None: not recorded)
    previous_files: dict[str, str | None] = field(default_factory=dict)


@dataclass
class WriteReport:
    manifest: dict[str, Any]  # as written: sealed
    written: list[Path]
    notes: list[str]


def _same_file(a: Path, keep: Iterable[Path]) -> bool:
    for k in keep:
        with contextlib.suppress(OSError):
            if os.path.samefile(a, k):
                return True
    return False


def plan_write(out: Path, name: str, keep: Iterable[Path] = ()) -> WritePlan:
    """Check that ``spq-export`` may write export ``name`` into ``out`` (a new directory or
    an existing one, whatever else it holds): none of NAME.h, NAME.c, samples.npz exists
    unless as a file of the earlier export recorded in ``out``'s manifest.json, and that
    manifest is spq-export's own. A target that is one of ``keep`` (the checkpoint being
    exported) is refused too. Nothing is written."""
    out = Path(out)
    keep = list(keep)
    if out.exists() and not out.is_dir():
        raise SpqError(f"output {out} exists and is not a directory")
    probe = Path(os.path.abspath(out))
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise SpqError(f"cannot create {out}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SpqError(f"cannot write to {probe}: permission denied")
    plan = WritePlan(out, name)
    if not out.is_dir():
        return plan
    manifest = out / MANIFEST
    if manifest.exists() or manifest.is_symlink():
        plan.previous, plan.previous_files = _previous_export(out)
    for fname in (*export_files(name), MANIFEST):
        target = out / fname
        if not (target.exists() or target.is_symlink()):
            continue
        if target.is_dir() and not target.is_symlink():
            raise SpqError(f"{target} is a directory; spq-export writes a file of that name")
        if _same_file(target, keep):
            raise SpqError(f"{target} is the checkpoint being exported; spq-export would "
                           "overwrite it: choose another --name or -o")
        if fname != MANIFEST and fname not in plan.previous_files:
            raise SpqError(f"{target} exists and is not a file of an earlier spq-export in "
                           f"{out}: move it away or choose another --name or -o")
    return plan


def _previous_export(out: Path) -> tuple[str, dict[str, str | None]]:
    """NAME and recorded files of the export in ``out``; a manifest.json that spq-export did
    not write is refused."""
    path = out / MANIFEST
    try:
        data = json.loads(path.read_bytes()) if path.is_file() else None
    except (OSError, ValueError):
        data = None
    ours = isinstance(data, dict) and (data.get("format") == MARKER or _legacy(data))
    name = data.get("name") if isinstance(data, dict) else None
    if not ours or not isinstance(name, str) or not _IDENT.match(name):
        raise SpqError(f"{out} holds a {MANIFEST} that spq-export did not write; refusing "
                       "to write there (choose another -o)")
    assert isinstance(data, dict)
    recorded = data.get("files") if isinstance(data.get("files"), dict) else {}
    try:
        intact = data.get("checksum") == manifest_checksum(data)
    except ValueError:
        intact = False
    if not intact:  # an edited manifest proves nothing about the files
        recorded = {}
    files: dict[str, str | None] = {}
    for fname in export_files(name):
        sha = recorded.get(fname)
        files[fname] = sha if isinstance(sha, str) else None
    return name, files


def _tmp_name(out: Path, fname: str, suffix: str) -> Path:
    return out / f".{fname}.{secrets.token_hex(4)}{suffix}"


def _write_tmp(out: Path, fname: str, data: bytes) -> Path:
    path = _tmp_name(out, fname, TMP_SUFFIX)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _backup(target: Path) -> Path:
    bak = _tmp_name(target.parent, target.name, BAK_SUFFIX)
    try:
        os.link(target, bak, follow_symlinks=False)
    except OSError:  # no hard links here: a copy does as well
        shutil.copy2(target, bak, follow_symlinks=False)
    return bak


def _make_dirs(out: Path) -> list[Path]:
    """Create ``out`` and missing parents; return the directories created, deepest first."""
    created: list[Path] = []
    probe = Path(os.path.abspath(out))
    while not probe.exists():
        created.append(probe)
        probe = probe.parent
    for d in reversed(created):
        d.mkdir()
    return created


def write_export(out: Path, manifest: Mapping[str, Any], files: Mapping[str, bytes],
                 keep: Iterable[Path] = ()) -> WriteReport:
    """Write export ``manifest["name"]`` into ``out``: ``files`` (NAME.h, NAME.c,
    samples.npz) and the manifest with their hashes (:func:`seal`). Only the files of the
    export already there are replaced. Each file is written to a temporary name in ``out``
    first; they are renamed into place (manifest.json last) only when all are written; on any
    failure the files that were replaced are restored, the temporary files removed and
    ``out`` is as it was. Afterwards the earlier export's NAME.h / NAME.c under another NAME
    are removed when they still hold what its manifest recorded, and kept (with a note)
    otherwise."""
    keep = list(keep)
    name = manifest["name"]
    sealed = seal(manifest, files)
    files = {**files, MANIFEST: (json.dumps(sealed, indent=2) + "\n").encode()}
    plan = plan_write(out, name, keep)  # again: OUT may have changed during the export
    order = [*export_files(name), MANIFEST]  # manifest.json last
    created: list[Path] = []
    tmps: dict[str, Path] = {}
    backups: dict[str, Path] = {}
    replaced: list[str] = []
    notes: list[str] = []
    try:
        created = _make_dirs(out)
        for fname in order:
            tmps[fname] = _write_tmp(out, fname, files[fname])
        for fname in order:
            target = out / fname
            if target.exists() or target.is_symlink():
                backups[fname] = _backup(target)
                notes += _edited_note(plan, fname, backups[fname])
            os.replace(tmps[fname], target)
            del tmps[fname]
            replaced.append(fname)
    except BaseException as exc:
        for fname in reversed(replaced):
            with contextlib.suppress(OSError):
                if fname in backups:
                    os.replace(backups.pop(fname), out / fname)
                else:
                    (out / fname).unlink()
        for p in [*tmps.values(), *backups.values()]:
            with contextlib.suppress(OSError):
                p.unlink()
        for d in created:
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, OSError):
            what = exc.strerror or str(exc)
            raise SpqError(f"cannot write the export into {out}: {what}; {out} is "
                           "unchanged") from None
        raise
    for bak in backups.values():
        with contextlib.suppress(OSError):
            bak.unlink()
    notes += _remove_previous(plan, keep)
    return WriteReport(sealed, [out / f for f in order], notes)


def _edited_note(plan: WritePlan, fname: str, old: Path) -> list[str]:
    """A note when a generated file of the same NAME is replaced although it was edited
    since the earlier export (``old``: a backup of its content)."""
    sha = plan.previous_files.get(fname) if plan.previous == plan.name else None
    if fname == SAMPLES or sha is None or sha256_file(old) == sha:
        return []
    return [f"replaced {fname}, which had been edited since the earlier export"]


def _remove_previous(plan: WritePlan, keep: list[Path]) -> list[str]:
    """Remove the earlier export's own NAME.h / NAME.c under another NAME when unchanged."""
    if plan.previous is None or plan.previous == plan.name:
        return []
    notes = []
    kept: dict[str, list[str]] = {}
    for fname, sha in plan.previous_files.items():
        if fname == SAMPLES:
            continue  # replaced by the new export's
        path = plan.out / fname
        if not path.is_file() or path.is_symlink():
            continue
        if _same_file(path, keep):
            kept.setdefault("the checkpoint being exported", []).append(fname)
        elif sha is None:
            kept.setdefault("no checksum recorded to prove them unchanged", []).append(fname)
        elif sha256_file(path) != sha:
            kept.setdefault("they were changed since", []).append(fname)
        else:
            try:
                path.unlink()
            except OSError as exc:
                notes.append(f"could not remove {fname} of the earlier export "
                             f"({exc.strerror})")
    for why, fnames in kept.items():
        notes.append(f"kept {', '.join(fnames)} of the earlier export '{plan.previous}' "
                     f"({why}); remove by hand what is not needed")
    return notes


__all__ = [
    "MANIFEST",
    "MANIFEST_VERSION",
    "MARKER",
    "SAMPLES",
    "ExportDir",
    "InputSpec",
    "Inputs",
    "WritePlan",
    "WriteReport",
    "canonical_json",
    "manifest_checksum",
    "open_export",
    "plan_write",
    "read_npy",
    "samples_npz",
    "seal",
    "sha256_file",
    "write_export",
]
