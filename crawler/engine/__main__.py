"""`python -m crawler.engine CONFIG_JSON`: one crawl engine on stdin/stdout (see crawler.engine.process)."""

import sys

from crawler.engine.process import EngineConfig, serve

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m crawler.engine CONFIG_JSON", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(EngineConfig.from_json(sys.argv[1])))
