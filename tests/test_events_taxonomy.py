"""The event taxonomy: built-in data, user files that extend it, and bad files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from crawler.events import (
    EVENTS_ENV_VAR,
    EventsFileError,
    builtin_taxonomy,
    load_taxonomy,
    tag_article,
)

BUILTIN_SLUGS = {
    "world-intelligence-congress",
    "world-intelligence-expo",
    "smart-china-expo",
    "world-intelligent-manufacturing-conference",
    "world-internet-conference",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_events_iterate_and_look_up_by_slug() -> None:
    taxonomy = builtin_taxonomy()
    assert {event.slug for event in taxonomy} == BUILTIN_SLUGS
    assert len(taxonomy) == len(BUILTIN_SLUGS)
    congress = taxonomy["world-intelligence-congress"]
    assert congress.name_zh == "世界智能大会"
    assert "WIC" in congress.acronyms
    assert "Tianjin" in congress.cities
    assert "world-internet-conference" in taxonomy
    assert taxonomy.get("no-such-event") is None
    with pytest.raises(KeyError, match="no-such-event"):
        taxonomy["no-such-event"]


@pytest.mark.parametrize(
    ("slug", "ordinal", "year"),
    [
        ("world-intelligence-congress", 5, 2021),
        ("world-internet-conference", 4, 2017),
        ("world-intelligent-manufacturing-conference", 5, 2020),
        ("smart-china-expo", 1, 2018),
    ],
)
def test_known_editions_link_ordinal_and_year(slug: str, ordinal: int, year: int) -> None:
    taxonomy = builtin_taxonomy()
    editions = taxonomy.editions_for(slug)
    assert [e.year for e in editions] == sorted(e.year for e in editions)
    event = taxonomy[slug]
    assert event.edition_for_ordinal(ordinal).year == year
    assert event.edition_for_year(year).ordinal == ordinal


def test_builtin_facts_from_the_issue() -> None:
    taxonomy = builtin_taxonomy()
    assert taxonomy["world-intelligence-congress"].first_year == 2017
    assert taxonomy["smart-china-expo"].first_year == 2018
    assert taxonomy["world-intelligent-manufacturing-conference"].first_year == 2016
    assert taxonomy["world-internet-conference"].first_year == 2014
    wie = taxonomy["world-intelligence-expo"]
    assert wie.edition_for_year(2024).city == "Tianjin"
    assert taxonomy["smart-china-expo"].successor == wie.slug
    assert taxonomy["world-intelligence-congress"].successor == wie.slug
    # Shared acronym, two events: the tagger has to use context.
    wic = [e.slug for e in taxonomy if "WIC" in e.acronyms]
    assert sorted(wic) == ["world-intelligence-congress", "world-internet-conference"]


def test_event_to_dict_is_json_ready() -> None:
    import json

    data = builtin_taxonomy()["world-intelligence-congress"].to_dict()
    assert json.loads(json.dumps(data))["editions"][4]["start"] == "2021-05-20"


USER_EVENT = """
[[event]]
slug = "china-asean-expo"
name_en = "China-ASEAN Expo"
name_zh = "中国—东盟博览会"
names_zh = ["东博会"]
acronyms = ["CAEXPO"]
cities = ["Nanning", "南宁"]
first_year = 2004

[[event.edition]]
ordinal = 20
year = 2023
city = "Nanning"
"""


def test_user_file_adds_an_event_that_the_tagger_then_finds(tmp_path: Path) -> None:
    taxonomy = load_taxonomy(write(tmp_path, USER_EVENT))
    assert "china-asean-expo" in taxonomy
    assert BUILTIN_SLUGS < {e.slug for e in taxonomy}
    tags = tag_article(
        "Nanning gets ready for the 20th China-ASEAN Expo",
        "Exhibitors from ten ASEAN countries are setting up stands in Nanning, where the "
        "20th China-ASEAN Expo (CAEXPO) opens next week with a focus on digital trade.",
        taxonomy=taxonomy,
    )
    assert [(t.event, t.role, t.edition, t.year) for t in tags] == [
        ("china-asean-expo", "primary", 20, 2023)
    ]
    zh = tag_article("第二十届东博会在南宁开幕", "", taxonomy=taxonomy)
    assert [(t.event, t.edition, t.year) for t in zh] == [("china-asean-expo", 20, 2023)]


def test_user_file_extends_a_builtin_event(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[event]]
slug = "world-intelligence-expo"
names_en = ["World Intelligent Industry Expo"]

[[event.edition]]
year = 2024
ordinal = 1

[[event.edition]]
year = 2025
city = "Chongqing"
""")
    taxonomy = load_taxonomy(path)
    wie = taxonomy["world-intelligence-expo"]
    assert wie.name_en == "World Intelligence Expo"  # untouched fields stay
    assert [(e.year, e.ordinal, e.city) for e in wie.editions] == [
        (2024, 1, "Tianjin"),  # merged: the user's ordinal, the built-in city
        (2025, None, "Chongqing"),
    ]
    tags = tag_article(
        "World Intelligent Industry Expo opens in Chongqing", "",
        taxonomy=taxonomy, published=date(2025, 9, 5),
    )
    assert [(t.event, t.year) for t in tags] == [("world-intelligence-expo", 2025)]
    # The built-in taxonomy itself is not changed by loading a user file.
    assert "World Intelligent Industry Expo" not in builtin_taxonomy()[wie.slug].names_en


def test_events_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVENTS_ENV_VAR, str(write(tmp_path, USER_EVENT)))
    assert "china-asean-expo" in load_taxonomy()
    monkeypatch.delenv(EVENTS_ENV_VAR)
    assert "china-asean-expo" not in load_taxonomy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[event]]\nslug = "x-expo"\nname_en = "X Expo"\nhost = "Tianjin"\n',
         r"event #1 \('x-expo'\): unknown key 'host'"),
        ('[[event]]\nslug = "X Expo"\nname_en = "X Expo"\n',
         r"event #1: key 'slug': expected a lowercase-hyphenated string"),
        ('[[event]]\nname_en = "X Expo"\n', r"event #1: key 'slug'"),
        ('[[event]]\nslug = "a-expo"\nname_en = "A Expo"\n\n'
         '[[event]]\nslug = "b-expo"\nname_en = "B Expo"\nacronyms = "BE"\n',
         r"event #2 \('b-expo'\): key 'acronyms': expected a list of strings"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\nacronyms = ["be"]\n',
         r"event #1 \('b-expo'\): key 'acronyms': 'be' must be"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\nfirst_year = "2019"\n',
         r"event #1 \('b-expo'\): key 'first_year': expected an integer"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\n[[event.edition]]\nyear = 2020\nstart = "May 5"\n',
         r"event #1 \('b-expo'\): edition #1: key 'start': expected a TOML date"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\n[[event.edition]]\ncity = "Nanning"\n',
         r"event #1 \('b-expo'\): edition #1: needs 'ordinal' or 'year'"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\nfirst_year = 2019\n'
         '[[event.edition]]\nyear = 2012\n',
         r"event #1 \('b-expo'\): edition year 2012 is outside first_year"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\n\n[[event]]\nslug = "b-expo"\n',
         r"event #2 \('b-expo'\): slug appears twice"),
        ('[[event]]\nslug = "b-expo"\nname_zh = "世界智能大会"\n',
         r"event 'b-expo': key 'name_zh': name '世界智能大会' already belongs to "
         r"'world-intelligence-congress'"),
        ('[[event]]\nslug = "b-expo"\nname_en = "B Expo"\nsuccessor = "c-expo"\n',
         r"event 'b-expo': key 'successor': unknown event 'c-expo'"),
        ('[[event]]\nslug = "b-expo"\n', r"event 'b-expo': needs name_en or name_zh"),
        ('[[event]\nslug = "b-expo"\n', r"not valid TOML"),
        ('[events]\nslug = "b-expo"\n', r"unknown top-level key 'events'"),
    ],
)
def test_bad_events_file_names_file_entry_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(EventsFileError, match=expected) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value)


def test_missing_events_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(EventsFileError, match="events file not found") as info:
        load_taxonomy(missing)
    assert str(missing) in str(info.value)


def test_events_package_imports_no_crawler_or_database_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, crawler.events, crawler.events.evaluation\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'scrapy', 'twisted', 'sqlalchemy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_examples_in_the_builtin_file_header_load(tmp_path: Path) -> None:
    from crawler.events import BUILTIN_EVENTS_FILE

    text = BUILTIN_EVENTS_FILE.read_text(encoding="utf-8")
    header = text.split("# A user file adding")[1].split("# Edition facts")[0]
    examples = [
        "\n".join(line[4:] for line in block.splitlines() if line.startswith("#   "))
        for block in header.split("# and one extending")
    ]
    assert len(examples) == 2 and all("[[event]]" in e for e in examples)
    added = load_taxonomy(write(tmp_path, examples[0]))
    assert added["china-asean-expo"].edition_for_ordinal(20).year == 2023
    extended = load_taxonomy(write(tmp_path, examples[1]))
    assert extended["world-intelligence-expo"].edition_for_year(2025).city == "Chongqing"
