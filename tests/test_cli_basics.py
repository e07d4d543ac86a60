"""The command line itself as a new user meets it: --version, --help, usage errors (real processes)."""

from __future__ import annotations

import inspect
import re

import pytest
from typer.main import get_command

from crawler.cli import app
from crawler.cli.app import COMMAND_ORDER

pytestmark = pytest.mark.integration  # most tests run the command line as a process


def test_version_prints_the_package_version(run_cli):
    from crawler.cli.app import package_version

    proc = run_cli("--version", check=True)
    assert proc.stdout.strip() == f"expowatch {package_version()}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", package_version())


def test_help_lists_commands_in_reading_order_with_a_one_line_summary(run_cli):
    proc = run_cli("--help", check=True, env={"COLUMNS": "200"})
    listed = re.findall(r"^│ ([a-z]+) {2,}(\S.*?)\s*│$", proc.stdout, re.M)
    names = [name for name, _ in listed]
    expected = [n for n in COMMAND_ORDER if n in get_command(app).commands]
    assert names[:len(expected)] == expected, names
    assert set(names) == set(get_command(app).commands)
    for name, summary in listed:  # one row each at 200 columns: a one-line summary
        assert summary and len(summary) <= 110, (name, summary)
    assert "Usage: expowatch " in proc.stdout


def command_paths():
    def walk(cmd, path):
        for name, sub in cmd.commands.items():
            yield [*path, name]
            if hasattr(sub, "commands"):
                yield from walk(sub, [*path, name])
    return list(walk(get_command(app), []))


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_summary_is_one_line(path):
    cmd = get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    first = inspect.cleandoc(cmd.help or "").split("\n\n")[0]
    assert first and "\n" not in first and len(first) <= 110, first


def test_flags_show_no_bool_metavar_and_repeatable_options_no_list_type(run_cli):
    for args in (["--help"], ["search", "--help"], ["runs", "--help"], ["crawl", "--help"]):
        proc = run_cli(*args, check=True, env={"COLUMNS": "200"})
        options = [line for line in proc.stdout.splitlines() if re.match(r"│ --", line)]
        assert options and not [line for line in options if "<bool>" in line or "list[" in line], args
    search_help = run_cli("search", "--help", check=True, env={"COLUMNS": "200"}).stdout
    assert re.search(r"--event\s+-e\s+<str>", search_help)


@pytest.mark.parametrize("args, message", [
    (["search", "--limit", "abc"], "Invalid value for '--limit'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["search", "--no-such-flag"], "No such option: --no-such-flag"),
])
def test_a_wrong_command_line_is_one_line_and_exit_2(run_cli, args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("expowatch: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_group_without_a_command_prints_its_help(run_cli):
    proc = run_cli("db")
    assert proc.returncode == 0 and "upgrade" in proc.stdout and "copy" in proc.stdout


def test_shell_completion_script_is_offered(run_cli):
    proc = run_cli("--show-completion", "bash", check=True, env={"SHELL": "/bin/bash"})
    assert "_EXPOWATCH_COMPLETE" in proc.stdout
