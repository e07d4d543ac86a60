"""Spider loader that makes one spider per source declaration (built-in and TOML)."""

from __future__ import annotations

from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader

from spiders.generic import GenericSourceSpider
from spiders.sources import Source, load_sources


def spider_class_for(source: Source, base: type[GenericSourceSpider] = GenericSourceSpider) -> type:
    """A spider class crawling one declared source."""
    return type(
        f"{base.__name__}_{source.name.replace('-', '_')}",
        (base,),
        {"name": source.name, "source": source, "__module__": base.__module__},
    )


class SourceSpiderLoader(SpiderLoader):
    """Python spiders from SPIDER_MODULES, plus a generic spider for each declared source.

    A Python spider whose name matches a declared source crawls that declaration.
    """

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        for name, source in load_sources(settings.get("EXPOWATCH_SOURCES_FILE")).items():
            base = self._spiders.get(name, GenericSourceSpider)
            self._spiders[name] = spider_class_for(source, base)
