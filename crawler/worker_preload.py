"""Imported by the extraction pool's forkserver before it forks any worker.

Everything a worker needs that is slow to set up is done here once: the extractor
and its libraries, datasketch for MinHash, the event taxonomy and the language model.
Each worker forked afterwards (and each replacement for a recycled or killed worker)
inherits it all instead of spending seconds on it.
"""

from crawler import page_work  # noqa: F401  (extraction, dates, tagging, dedup)
from crawler.dedup import text_signature
from crawler.events import builtin_taxonomy
from crawler.language import detect_language

detect_language("warm up the language model before any worker is forked")
text_signature("warm up datasketch before any worker is forked")
builtin_taxonomy()
