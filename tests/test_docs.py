"""The documentation's commands are the ones that run: README first lines, .ci/run, --help."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command

from crawler.cli import app
from conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_starts_with_the_demo_and_the_test_command():
    first, second = readme_commands()[:2]
    assert first.endswith("expowatch demo") and "pip install ." in first
    assert second.endswith("pytest") and '".[test]"' in second


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def all_command_paths():
    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])
    return list(walk(get_command(app), []))


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "expowatch")
def test_every_command_has_help(path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
