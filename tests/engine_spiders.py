"""A spider module for tests/test_engine.py: a source whose spider raises when it is made.

The engine loads it with SPIDER_MODULES = ["spiders", "tests.engine_spiders"] (from the
repository root); the source declared as BROKEN_SOURCE then crawls with this class (the
spider loader: a Python spider named like a declared source is that source's base class).
"""

from spiders.generic import GenericSourceSpider

BROKEN_SOURCE = "small-00001"


class BrokenSpider(GenericSourceSpider):
    name = BROKEN_SOURCE

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        raise RuntimeError("this spider is broken on purpose")
