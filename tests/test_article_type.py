"""One article type: extraction's ExtractedArticle is what the store, re-extraction and export map from, by name."""

from __future__ import annotations

from dataclasses import fields

from crawler.extract.extraction import ExtractedArticle
from storage.models import EXTRACTED_COLUMNS, STORE_COLUMNS, Article, extracted_values
from storage.queries import EXPORT_COLUMNS


def test_every_column_extraction_fills_is_a_field_of_the_article_type():
    assert set(EXTRACTED_COLUMNS) <= {f.name for f in fields(ExtractedArticle)}
    assert {c.key for c in Article.__table__.columns} == set(EXTRACTED_COLUMNS) | STORE_COLUMNS


def test_the_store_reads_the_extraction_columns_by_name():
    doc = ExtractedArticle(url="https://a.example/1", title="T", text="x", date_timezone="Asia/Shanghai",
                           date_source="byline", canonical_url="https://elsewhere.example/")
    values = extracted_values(doc)
    assert (values["title"], values["date_timezone"], values["date_source"]) == ("T", "Asia/Shanghai", "byline")
    assert "canonical_url" not in values and "url" not in values  # the store decides the article's URL


def test_export_has_every_column_but_the_minhash():
    assert set(EXTRACTED_COLUMNS) <= set(EXPORT_COLUMNS)
    assert "minhash" not in EXPORT_COLUMNS and {"url", "source", "events", "urls"} <= set(EXPORT_COLUMNS)
