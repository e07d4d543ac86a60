"""Imported by the extraction pool's forkserver before it forks any worker.

Everything a worker needs that is slow to set up is done here once: the extractor
and its libraries (one small page is extracted, so lazy imports happen now),
datasketch for MinHash, the event taxonomy and the language model. Each worker
forked afterwards (and each replacement for a recycled or killed worker) inherits
it all instead of spending seconds on it. gc.freeze() keeps the collector from
touching those objects, so forked workers keep sharing their memory pages.
"""

import gc

from crawler.events import builtin_taxonomy
from crawler.page_work import PageTask, process_page

_WARM_UP_PAGE = (
    b"<html><head><title>Warm-up</title></head><body><h1>Warm-up</h1><p>2024-06-21 09:30</p>"
    + b"<p>The worker extracts one small page before it serves any, so lazy imports happen now.</p>" * 8
    + b"</body></html>"
)

process_page(PageTask(_WARM_UP_PAGE, "http://127.0.0.1/warm-up.html"))
builtin_taxonomy()
gc.freeze()
