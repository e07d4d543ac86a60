"""Pure parts of querying: the search syntax, FTS5 quoting, command-line dates, CSV cell safety."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from storage.exports import escape_formula, read_csv, unescape_formula, write_csv
from storage.queries import SearchQuery, parse_when, saved_query_name
from storage.query_syntax import MAX_CLAUSES, Clause, QueryTooLong, fts5_expression, fts5_phrase, parse_query

NOW = datetime(2024, 6, 20, 12, 30, tzinfo=timezone.utc)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("query, clauses", [
    ("robots Tianjin", [Clause(("robots",)), Clause(("Tianjin",))]),
    ('"smart china expo" 2019', [Clause(("smart china expo",)), Clause(("2019",))]),
    ("expo -robots", [Clause(("expo",)), Clause(("robots",), negated=True)]),
    ('expo -"brain computer"', [Clause(("expo",)), Clause(("brain computer",), negated=True)]),
    ("智博会 OR 世界智能大会 重庆", [Clause(("智博会", "世界智能大会")), Clause(("重庆",))]),
    ("a OR b OR c", [Clause(("a", "b", "c"))]),
    ("expo or fair", [Clause(("expo",)), Clause(("or",)), Clause(("fair",))]),
    ("OR expo OR", [Clause(("expo",))]),
    ("expo OR OR fair", [Clause(("expo",)), Clause(("fair",))]),
    ("expo OR -fair", [Clause(("expo",)), Clause(("fair",), negated=True)]),
    ("-expo OR fair", [Clause(("expo",), negated=True), Clause(("fair",))]),
    ("C++ who's *", [Clause(("C++",)), Clause(("who's",)), Clause(("*",))]),
    ('"', []),
    ('"unclosed phrase', [Clause(("unclosed phrase",))]),
    ('say "hi', [Clause(("say",)), Clause(("hi",))]),
    ("- expo", [Clause(("-",)), Clause(("expo",))]),
    ("expo expo", [Clause(("expo",))]),
    ("a\x00b", [Clause(("a",)), Clause(("b",))]),
    ("   ", []),
    (None, []),
])
def test_parse_query(query, clauses):
    assert list(parse_query(query)) == clauses


def test_too_many_terms_is_a_clear_error():
    parse_query(" ".join(f"w{i}" for i in range(MAX_CLAUSES)))
    with pytest.raises(QueryTooLong, match=str(MAX_CLAUSES)):
        parse_query(" ".join(f"w{i}" for i in range(MAX_CLAUSES + 1)))


@pytest.mark.parametrize("text", [
    'C++', '"', "who's", "*", "'; DROP TABLE articles; --", 'x" OR 1=1 --', "NEAR(a b)", "title:foo",
    "^abc", "(((", ")", "a AND", "NOT", "{title text}: x", '"""', "\\", "%_", "🙂🙂🙂", "a" * 5000,
])
def test_fts5_expression_of_any_input_is_valid_fts5(text):
    """Whatever the user types, the expression we build parses in a real FTS5 trigram table."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(title, text, tokenize='trigram')")
    db.execute("INSERT INTO t VALUES (?, ?)", (text, text))
    clauses = tuple(Clause((term,)) for term in text.split() if len(term) >= 3) or (Clause((text,)),)
    expression = fts5_expression(clauses)
    db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()
    if all(len(c.terms[0]) >= 3 for c in clauses):  # every term is in the row, so it must be found
        assert db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).fetchone()[0] == 1


def test_fts5_expression_quotes_every_term_and_subtracts_exclusions():
    clauses = (Clause(("expo", 'say "hi"')), Clause(("robots",), negated=True))
    assert fts5_expression(clauses) == '(("expo" OR "say ""hi""")) NOT ("robots")'
    assert fts5_phrase('a"b') == '"a""b"'
    assert fts5_expression((Clause(("robots",), negated=True),)) is None


@pytest.mark.parametrize("text, tz, end, expected", [
    ("7d", timezone.utc, False, NOW - timedelta(days=7)),
    ("12h", timezone.utc, False, NOW - timedelta(hours=12)),
    ("30m", timezone.utc, False, NOW - timedelta(minutes=30)),
    ("2w", timezone.utc, False, NOW - timedelta(weeks=2)),
    ("2024-06-01", timezone.utc, False, datetime(2024, 6, 1, tzinfo=timezone.utc)),
    ("2024-06-01", timezone.utc, True, datetime(2024, 6, 2, tzinfo=timezone.utc)),
    ("2024-06-01", SHANGHAI, False, datetime(2024, 5, 31, 16, tzinfo=timezone.utc)),
    ("2024-06-01T09:00", SHANGHAI, False, datetime(2024, 6, 1, 1, tzinfo=timezone.utc)),
    ("2024-06-01T09:00+02:00", SHANGHAI, False, datetime(2024, 6, 1, 7, tzinfo=timezone.utc)),
    ("2024-06-01T09:00Z", SHANGHAI, True, datetime(2024, 6, 1, 9, tzinfo=timezone.utc)),
    ("today", SHANGHAI, False, datetime(2024, 6, 19, 16, tzinfo=timezone.utc)),
    ("yesterday", timezone.utc, False, datetime(2024, 6, 19, tzinfo=timezone.utc)),
])
def test_parse_when(text, tz, end, expected):
    assert parse_when(text, tz=tz, end=end, now=NOW) == expected


@pytest.mark.parametrize("text", ["last week", "2024-13-01", "7x", "", "2024/06/01"])
def test_parse_when_names_the_bad_value(text):
    with pytest.raises(ValueError, match="cannot read the date"):
        parse_when(text, now=NOW)


def test_search_query_rejects_what_it_cannot_run():
    with pytest.raises(ValueError, match="sort"):
        SearchQuery(sort="random")
    with pytest.raises(ValueError, match="naive"):
        SearchQuery(since=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="role"):
        SearchQuery(roles=("host",))


def test_saved_query_name_is_stable_and_fits_the_column():
    a = SearchQuery("robots", events=("b", "a"), limit=5)
    b = SearchQuery("robots", events=("a", "b"), limit=50, sort="relevance")
    assert saved_query_name(a) == saved_query_name(b)
    assert saved_query_name(a) != saved_query_name(SearchQuery("robots"))
    long = saved_query_name(SearchQuery("x" * 500))
    assert len(long) <= 200 and long != saved_query_name(SearchQuery("x" * 499))


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "'=1", "''+1", "'plain", "a=b", ""])
def test_formula_escape_is_safe_and_reversible(cell):
    escaped = escape_formula(cell)
    assert not escaped[:1] in ("=", "+", "-", "@", "\t", "\r")
    assert unescape_formula(escaped) == cell


def test_csv_cells_round_trip_through_a_plain_csv_reader():
    rows = [{"a": "=HYPERLINK(\"http://x\")", "b": "line1\r\nline2, \"quoted\"", "n": 3, "l": ["x", "中文"]},
            {"a": None, "b": "-minus", "n": None, "l": []}]
    buf = io.StringIO(newline="")
    write_csv(rows, buf, ["a", "b", "n", "l"])
    buf.seek(0)
    plain = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert plain[1][0].startswith("'=") and plain[2][1] == "'-minus"
    import json

    assert list(read_csv(buf, {"n": int, "l": json.loads})) == [
        {"a": rows[0]["a"], "b": rows[0]["b"], "n": 3, "l": ["x", "中文"]},
        {"a": None, "b": "-minus", "n": None, "l": []},
    ]


def test_full_select_lists_the_columns_in_full_article_field_order():
    from dataclasses import fields

    from storage.queries import FULL_SELECT, FullArticle

    names = ["url" if c.key == "canonical_url" else c.key for c in FULL_SELECT]
    assert names == [f.name for f in fields(FullArticle)][:len(FULL_SELECT)]
    assert [f.name for f in fields(FullArticle)][len(FULL_SELECT):] == ["events", "urls"]
