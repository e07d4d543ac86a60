"""Names a user types (event slugs, source names) that name nothing are errors listing the known ones."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration  # runs the command line as a process

KNOWN_EVENTS = ("world-intelligence-congress, world-intelligence-expo, smart-china-expo, "
                "world-intelligent-manufacturing-conference, world-internet-conference")


@pytest.fixture
def bad_event_sources(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text('[[source]]\nname = "x-expo"\nlist_pages = ["http://127.0.0.1:9/news/"]\n'
                    'article_pattern = "/news/"\nevent = "no-such-event"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["crawl"], ["sources", "check", "x-expo"], ["retag"], ["reextract"]],
                         ids=" ".join)
def test_a_sources_file_naming_an_unknown_event_is_refused(bad_event_sources, tmp_path, run_cli, command):
    proc = run_cli(*command, "--sources-file", str(bad_event_sources),
                   *(["--db", str(tmp_path / "s.db")] if command[0] != "sources" else []))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"expowatch: error: {bad_event_sources}: source 'x-expo': event 'no-such-event' is not a "
                           f"known event (known: {KNOWN_EVENTS}; add yours with --events-file)\n")


def test_an_event_from_the_users_events_file_is_accepted(bad_event_sources, tmp_path, run_cli):
    events = tmp_path / "events.toml"
    events.write_text('[[event]]\nslug = "no-such-event"\nname_en = "No Such Event"\n', encoding="utf-8")
    proc = run_cli("retag", "--sources-file", str(bad_event_sources), "--events-file", str(events),
                   "--db", str(tmp_path / "s.db"))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", ["search", "export"])
def test_search_for_an_unknown_event_is_an_error_naming_the_known_ones(demo_store, run_cli, command):
    proc = run_cli(command, "--event", "no-such-event", "--db", demo_store)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (f"expowatch: error: --event 'no-such-event': no such event (known: {KNOWN_EVENTS}; "
                           "`expowatch events list` shows them)\n")
    assert run_cli(command, "--event", "smart-china-expo", "--db", demo_store, check=True).stdout


def test_reextract_of_a_demo_source_without_its_sources_file_names_the_flag(demo_store, run_cli):
    proc = run_cli("reextract", "--source", "cq-daily", "--db", demo_store)
    assert proc.returncode == 1
    assert proc.stderr == ("expowatch: error: --source 'cq-daily': the store holds articles of 'cq-daily', but no "
                           "sources file declares it: add --sources-file FILE, the file it was crawled with "
                           "(or set EXPOWATCH_SOURCES)\n")
    unknown = run_cli("reextract", "--source", "nope", "--db", demo_store)
    assert unknown.returncode == 1
    assert unknown.stderr == ("expowatch: error: unknown source 'nope': the store holds cq-daily, prwire, technews, "
                              "wic-tianjin, wimc-nanjing, zh-organiser (a source that is not built in needs "
                              "--sources-file FILE, the file it was crawled with)\n")


def test_retag_of_an_unknown_event_names_the_known_ones(demo_store, run_cli):
    proc = run_cli("retag", "--event", "no-such-event", "--db", demo_store)
    assert proc.returncode == 1
    assert proc.stderr == f"expowatch: error: --event 'no-such-event': no such event (known: {KNOWN_EVENTS})\n"
