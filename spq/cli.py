# SPDX-License-Identifier: MIT
"""The `spq` command line. Each subcommand lives in its own module under spq.commands."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from spq.errors import SpqError

F = TypeVar("F", bound=Callable[..., Any])

# Arguments and options that mean the same in every command, defined once.
ExportDirArg = Annotated[Path, typer.Argument(
    metavar="OUT", help="export folder (spq-export MODEL.pt -o OUT)")]
BoardOption = Annotated[str, typer.Option("--board", "-b", help="board (spq boards)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print the result as one JSON object")]
InputOption = Annotated[Path | None, typer.Option(
    "--input", "-i", help=".npy input (one or a batch); default: the export's samples.npz")]
PortOption = Annotated[str | None, typer.Option(
    "--port", help="serial port of the flashed board: /dev/ttyACM0 or socket://HOST:PORT "
    "(default: QEMU)")]
TimeoutOption = Annotated[float, typer.Option(help="seconds to wait for each device reply")]

app = typer.Typer(
    name="spq",
    help="SpQuant-SNN: train, export, run and profile integer spiking networks on Cortex-M.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str) -> typer.Exit:
    """Print one `error:` line on stderr and return the Exit to raise (code 2)."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def check_out_file(out: Path, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an output file path that cannot be written (before any work is done)."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise SpqError(f"output directory does not exist: {parent}")
    if out.is_dir():
        raise SpqError(f"output path is a directory: {out}")
    if not os.access(parent, os.W_OK):
        raise SpqError(f"output directory is not writable: {parent}")
    if suffixes and out.suffix not in suffixes:
        raise SpqError(f"{out}: the output name must end in {' or '.join(suffixes)}")


def handle_errors(fn: F) -> F:
    """Turn SpqError (and a few OS errors) into one `error:` line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpqError as exc:
            raise fail(str(exc)) from None
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            raise fail(f"{exc.strerror}: {exc.filename}") from None
        except KeyboardInterrupt:
            raise fail("interrupted") from None

    return wrapper  # type: ignore[return-value]


def _register() -> None:
    # Imported here so that `spq --help` stays fast and each module owns its command.
    from spq.commands import register_all

    register_all(app)


def main() -> None:
    _register()
    app()


def export_main() -> None:
    """`spq-export ...` is `spq export ...` as a command of its own."""
    from spq.commands import register

    single = typer.Typer(name="spq-export", pretty_exceptions_enable=False,
                         add_completion=False)
    register(single, "export")
    single()
