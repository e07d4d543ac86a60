"""`python -m crawler.engine CONFIG_JSON`: one crawl engine on stdin/stdout (see crawler.engine.process)."""

import signal
import sys

# A SIGTERM during the imports (seconds) is remembered, and drains the engine once it runs.
_terminated: list[int] = []
signal.signal(signal.SIGTERM, lambda signum, _frame: _terminated.append(signum))

from crawler.engine.process import EngineConfig, serve  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m crawler.engine CONFIG_JSON", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(EngineConfig.from_json(sys.argv[1]), terminated=lambda: bool(_terminated)))
