"""Docs that tests keep honest: every setting and every command is in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from app.cli import cli
from app.core.settings import SETTINGS

README_PATH = Path(__file__).resolve().parent.parent / "README.md"
README = README_PATH.read_text()


def test_every_setting_is_in_the_readme():
    missing = [s.name for s in SETTINGS if f"`TOUCHPOINT_{s.name}`" not in README]
    assert missing == []


def test_every_setting_has_help():
    assert all(len(s.help) > 20 for s in SETTINGS)


def _commands(group: click.Group, prefix: str = "touchpoint") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


def test_every_command_is_in_the_readme_with_help():
    commands = _commands(cli)
    assert "touchpoint migrate" in commands and "touchpoint token create" in commands
    for path in commands:
        assert f"`{path}" in README, path
        assert f"<code>{path} --help</code>" in README, path
    for command in cli.commands.values():
        assert command.help or command.short_help


def test_the_command_line_section_is_the_commands_own_help():
    """What `make test` checks with cog, with the difference shown: `make docs` fixes it."""
    cog = Path(sys.executable).parent / "cog"
    result = subprocess.run(
        [str(cog), "--check", "--diff", str(README_PATH)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_starts_with_the_two_commands():
    head = README[:1500]
    assert "make run" in head and "make test" in head
