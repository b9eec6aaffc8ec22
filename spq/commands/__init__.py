# SPDX-License-Identifier: MIT
"""One module per subcommand; each exposes `register(app)`."""

from __future__ import annotations

import importlib

import typer

# module names under spq.commands, in the order `spq --help` lists them
COMMANDS = ["train", "eval", "export", "run", "flash", "profile", "boards", "qemu",
            "nir_import", "nir_export"]


def register_all(app: typer.Typer) -> None:
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"spq.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"spq.commands.{name}":
                continue  # not built yet
            raise
        module.register(app)
