# SPDX-License-Identifier: MIT
"""The shape of the command line: every subcommand registered the same way from its own
module, no command module importing another, and an option name that means one thing in
every command (``--json`` a switch that prints JSON, ``-o``/``--out`` what the command
writes)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import typer
from typer.core import TyperGroup, TyperOption

from spq.commands import COMMANDS, register_all

COMMANDS_DIR = Path(__file__).resolve().parent.parent / "spq" / "commands"


def _app() -> TyperGroup:
    app = typer.Typer()
    register_all(app)
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


def test_every_command_module_has_one_shape() -> None:
    modules = {p.stem for p in COMMANDS_DIR.glob("*.py") if p.stem != "__init__"}
    assert modules == set(COMMANDS.values())  # one module per subcommand, each registered
    for name in modules:
        module = importlib.import_module(f"spq.commands.{name}")
        assert callable(module.command), name
        assert module.command.__doc__, f"spq.commands.{name}.command has no help text"
        assert not hasattr(module, "register"), name
    assert sorted(_app().commands) == sorted(COMMANDS)


def test_no_command_imports_another() -> None:
    for path in COMMANDS_DIR.glob("*.py"):
        if path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("spq.commands"), (path.name, node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("spq.commands"), (path.name, alias.name)


def test_option_names_mean_one_thing() -> None:
    with_json = []
    for name, cmd in _app().commands.items():
        for param in cmd.params:
            if not isinstance(param, TyperOption):
                continue
            if "--json" in param.opts:
                assert param.is_flag, f"spq {name} --json takes a value"
                with_json.append(name)
            if "-o" in param.opts or "--out" in param.opts:
                assert sorted(param.opts) == ["--out", "-o"], (name, param.opts)
                assert not param.is_flag, name
    # every command that prints a result can print it as JSON
    assert {"eval", "run", "flash", "profile", "boards", "qemu", "import"} <= set(with_json)
