"""The live progress line of a crawl on a terminal: the right number of sources, counts that only grow."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from crawler.replica import ReplicaWeb

pytestmark = pytest.mark.integration  # crawls the replica web

LINE = re.compile(r"crawling (\d+) sources? \((\d+) done\): (\d+) pages, (\d+) new, (\d+) duplicate, "
                  r"(\d+) skipped, (\d+) errors")


def test_progress_names_every_source_from_the_first_line_and_never_counts_down(tmp_path, cli_env):
    with ReplicaWeb() as web:
        sources_file = web.write_sources_file(tmp_path / "sources.toml")
        names = sorted(web.sites)
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "crawl", "--sources-file", str(sources_file),
             "--db", str(tmp_path / "store.db"), *names],
            stdout=subprocess.DEVNULL, stderr=slave, env=cli_env)
        os.close(slave)
        out = b""
        while True:  # until the crawl closes the terminal
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=240) == 0
        os.close(master)
    updates = [tuple(map(int, m.groups())) for m in LINE.finditer(out.decode("utf-8", "replace"))]
    assert len(updates) >= 2, out
    assert all(u[0] == len(names) for u in updates)  # six sources from the first line on
    for before, after in zip(updates, updates[1:]):
        assert all(later >= earlier for earlier, later in zip(before[1:], after[1:])), (before, after)
    last = updates[-1]
    assert last[1] == len(names) and last[3] >= 40  # every source done, every new article counted
