"""``python -m crawler.replica``: serve the replica web in the foreground.

Prints the sources TOML on stdout (redirect it to a file and crawl with
``--sources-file``); Ctrl-C or SIGTERM stops the servers.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import DEFAULT_PAGE_SIZE, ReplicaWeb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.replica", description=__doc__)
    parser.add_argument("--scale", type=int, default=0, help="synthetic articles to add")
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--phase", type=int, default=1, help="publish rounds up to this phase")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ReplicaWeb(scale=args.scale, page_size=args.page_size) as web:
        while web.phase < args.phase and web.publish_next_round():
            pass
        sys.stdout.write(web.sources_toml())
        sys.stdout.flush()
        for name, site in web.sites.items():
            print(f"# {name}: {site.base_url}/", file=sys.stderr)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
