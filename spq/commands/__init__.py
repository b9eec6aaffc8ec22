# SPDX-License-Identifier: MIT
"""One module per subcommand, all of one shape: a module-level function ``command`` (its
docstring is the ``--help`` text, its parameters the options, ``@handle_errors`` on it)
that :func:`register` adds to a typer app under its name in :data:`COMMANDS`."""

from __future__ import annotations

import importlib

import typer

# name on the command line -> module under spq.commands, in the order `spq --help` lists them
COMMANDS = {
    "train": "train",
    "eval": "eval",
    "export": "export",
    "run": "run",
    "flash": "flash",
    "profile": "profile",
    "boards": "boards",
    "qemu": "qemu",
    "import": "nir_import",
    "export-nir": "nir_export",
}


def register(app: typer.Typer, name: str) -> None:
    """Add subcommand ``name`` to ``app`` (its module is imported only now)."""
    module = importlib.import_module(f"spq.commands.{COMMANDS[name]}")
    app.command(name)(module.command)


def register_all(app: typer.Typer) -> None:
    for name in COMMANDS:
        register(app, name)
