"""A DNS the tests control, installed in a crawl process (run_measured's prelude).

Each name in the REBINDING_DNS environment variable (JSON: name -> [first, later]) answers
`first` to the first lookup and `later` to every lookup after it: DNS rebinding with a zero
TTL. Every lookup path of the process sees it (getaddrinfo, gethostbyname), whichever of
them the guard or Twisted would use.

    prelude = "import sys; sys.path.insert(0, TESTS); import rebinding_dns; rebinding_dns.install()"
"""

from __future__ import annotations

import json
import os
import socket
import threading

ENV = "REBINDING_DNS"


def install() -> None:
    table = {name.lower(): answers for name, answers in json.loads(os.environ.get(ENV, "{}")).items()}
    asked: dict[str, int] = {}
    lock = threading.Lock()
    real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def answer(host) -> str | None:
        name = (host.decode() if isinstance(host, bytes) else str(host or "")).rstrip(".").lower()
        if name not in table:
            return None
        with lock:
            count = asked.get(name, 0)
            asked[name] = count + 1
        first, later = table[name]
        return first if count == 0 else later

    def getaddrinfo(host, port, *args, **kwargs):
        return real_getaddrinfo(answer(host) or host, port, *args, **kwargs)

    def gethostbyname(host):
        return answer(host) or real_gethostbyname(host)

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
