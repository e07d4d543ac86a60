"""Source declarations: valid files load; every kind of mistake names file, source and key."""

from __future__ import annotations

import pytest

from spiders.sources import SourceError, builtin_sources, load_sources, load_sources_file, parse_sources

GOOD = """
[[source]]
name = "example-expo"
list_pages = ["https://example.org/news/"]
feeds = ["https://example.org/rss.xml"]
article_pattern = '/news/\\d+\\.html$'
language = "en"
timezone = "Asia/Shanghai"
schedule = "*/30 * * * *"
[source.selectors]
title = "h1.title"
drop_phrases = ["Collection Collection"]
"""


def test_good_file_loads(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD)
    (source,) = load_sources_file(path)
    assert source.name == "example-expo"
    assert source.feeds == ("https://example.org/rss.xml",)
    assert source.article_regex.search("https://example.org/news/12.html")
    assert source.selectors.title == "h1.title"
    assert source.selectors.drop_phrases == ("Collection Collection",)
    merged = load_sources(path)
    assert "example-expo" in merged and set(s.name for s in builtin_sources()) <= set(merged)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (('name = "example-expo"', 'name = "example-expo"\ncolour = "red"'), "colour", "unknown key"),
        (("'/news/\\d+\\.html$'", "'/news/(unclosed'"), "article_pattern", "bad regular expression"),
        (('"*/30 * * * *"', '"every tuesday"'), "schedule", "bad cron"),
        (('"Asia/Shanghai"', '"Asia/Atlantis"'), "timezone", "unknown time zone"),
        (('language = "en"', 'language = "klingon"'), "language", "must be one of"),
        (('feeds = ["https://example.org/rss.xml"]', 'feeds = ["example.org/rss.xml"]'), "feeds", "absolute"),
        (('[source.selectors]', '[source.selectors]\ncolour = "x"'), "selectors.colour", "unknown key"),
    ],
)
def test_each_mistake_names_file_source_and_key(tmp_path, change, key, words):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(SourceError) as err:
        load_sources_file(path)
    message = str(err.value)
    assert str(path) in message and "example-expo" in message and f"'{key}'" in message and words in message


def test_duplicate_name_is_refused():
    with pytest.raises(SourceError, match="duplicate source name"):
        parse_sources(GOOD + GOOD, where="x.toml")


def test_broken_toml_names_the_file():
    with pytest.raises(SourceError, match=r"^x\.toml: not valid TOML"):
        parse_sources("[[source]\nname=", where="x.toml")


def test_list_pages_need_a_pattern():
    with pytest.raises(SourceError, match="article_pattern"):
        parse_sources('[[source]]\nname = "a"\nlist_pages = ["https://a.example/"]\n', where="x.toml")


def test_cli_reports_bad_file_and_crawls_nothing(tmp_path, run_cli):
    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace('"Asia/Shanghai"', '"Mars/Olympus"'))
    proc = run_cli("crawl", "--sources-file", str(path), "--db", str(tmp_path / "s.db"))
    assert proc.returncode == 1
    assert "Mars/Olympus" in proc.stderr and "timezone" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s.db").exists()
