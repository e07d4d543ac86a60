"""Pure extraction: bytes of one page in, an article's fields out.

Nothing here imports Scrapy or SQLAlchemy (an import-linter contract checks it), so
every function is testable from a saved HTML file alone.
"""
