"""Every replica article extracts to its expected JSON; every replica non-article gets a skip reason.

Pages are fetched over real HTTP from the bundled replica web (so the charset
is the one the server declares, honest or not) and extracted with the hints
the source's TOML declaration gives. The "generic" variant drops every
selector and phrase list, to show the extractor does not lean on them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from replica_cases import ReplicaCase, catalog_ids, replica_cases

from crawler.extract.extraction import ExtractedArticle, ExtractionHints, extract_article
from crawler.replica import ReplicaWeb

pytestmark = pytest.mark.integration

ARTICLE_IDS = catalog_ids("article")
NON_ARTICLE_IDS = [case for case in catalog_ids() if case not in ARTICLE_IDS]
# What extraction says about a page that is not an article, by replica entry kind.
SKIP_REASON_BY_KIND = {"js_shell": "js_shell", "missing": "soft_404"}


@pytest.fixture(scope="module")
def cases() -> dict[str, ReplicaCase]:
    with ReplicaWeb() as web:
        return replica_cases(web)


def generic(hints: ExtractionHints) -> ExtractionHints:
    """Only what any source declares: language, time zone, founding year; no selectors or phrase lists."""
    return dataclasses.replace(
        hints, title_selector=None, date_selector=None, body_selector=None, drop_selectors=(), drop_phrases=()
    )


def check_published(doc: ExtractedArticle, expected: str, zone: str) -> None:
    """Same instant where the page shows a time; same local day (and day precision) where it shows a date."""
    if len(expected) == len("2021-03-19"):
        assert doc.published_precision == "day", doc.published_raw
        local = datetime.combine(datetime.fromisoformat(expected).date(), time(), ZoneInfo(zone))
        assert doc.published_at == local, doc.published_raw
    else:
        assert doc.published_at == datetime.fromisoformat(expected), doc.published_raw
        assert doc.published_precision in ("minute", "second")


@pytest.mark.parametrize("variant", ["declared", "generic"])
@pytest.mark.parametrize("case_id", ARTICLE_IDS)
def test_replica_article_matches_expected(cases, case_id, variant):
    case = cases.get(case_id)
    assert case is not None, f"{case_id} is not served by the replica"
    hints = case.hints if variant == "declared" else generic(case.hints)
    doc = extract_article(case.body, case.url, http_charset=case.http_charset, hints=hints)
    expected = case.expected

    assert doc.skip_reason is None, doc.warnings
    assert doc.title == expected["title"]
    check_published(doc, expected["published"], expected["timezone"])
    assert doc.language == expected["language"]
    for snippet in expected["must_contain"]:
        assert snippet in doc.text
    for boilerplate in expected["must_not_contain"]:
        assert boilerplate not in doc.text


@pytest.mark.parametrize("case_id", NON_ARTICLE_IDS)
def test_replica_non_article_is_skipped(cases, case_id):
    case = cases[case_id]
    doc = extract_article(case.body, case.url, http_charset=case.http_charset, hints=case.hints)
    assert doc.skip_reason == SKIP_REASON_BY_KIND[case.kind]
