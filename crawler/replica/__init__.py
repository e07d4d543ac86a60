"""The bundled replica web: six watched sites served on 127.0.0.1 for the demo and tests.

    from crawler.replica import ReplicaWeb
    with ReplicaWeb() as web:
        web.write_sources_file(tmp_path / "sources.toml")
        ...

See README.md in this package for the data layout.
"""

from .catalog import EVENT_SLUGS, SITE_NAMES, ReplicaDataError
from .server import REQUEST_KINDS, SITE_MODES, ExpectedArticle, ReplicaWeb, Site

__all__ = [
    "EVENT_SLUGS",
    "REQUEST_KINDS",
    "SITE_MODES",
    "SITE_NAMES",
    "ExpectedArticle",
    "ReplicaDataError",
    "ReplicaWeb",
    "Site",
]
