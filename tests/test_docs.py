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


READ_COMMANDS = ("search", "show", "export", "events", "runs")  # what the README's examples do on the demo store


def everyday_examples() -> list[str]:
    """The README's everyday commands that only read the store."""
    import shlex

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Everyday use", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    lines = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [" ".join(shlex.quote(w) for w in words) for words in lines
            if words[:1] == ["expowatch"] and words[1] in READ_COMMANDS]


def test_the_readme_names_its_demo_examples():
    assert len(everyday_examples()) >= 6


@pytest.mark.integration
@pytest.mark.parametrize("example", everyday_examples())
def test_readme_examples_show_results_on_the_demo_store(demo_store, tmp_path, cli_env, example):
    import json
    import shlex
    import subprocess
    import sys

    words = shlex.split(example)[1:]
    proc = subprocess.run([sys.executable, "-m", "crawler.cli", *words, "--db", demo_store], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**cli_env, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    if "-o" in words:  # export to a file: the file holds the selection
        written = (tmp_path / words[words.index("-o") + 1]).read_text(encoding="utf-8").splitlines()
        assert len(written) >= 2, written  # a header and at least one article
        return
    assert proc.stdout.strip(), proc.stderr
    if words[0] == "search":
        assert "no matching articles" not in proc.stderr
        if "--format" in words:
            assert json.loads(proc.stdout)
        else:
            assert len(proc.stdout.splitlines()) >= 2  # the header and at least one article
