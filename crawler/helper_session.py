"""Imported first by the forkserver (crawler.extraction_pool.FORKSERVER_PRELOAD): the helper
processes (extraction workers, the store writer) leave the crawl's process group.

A signal sent to the crawl's whole process group (what timeout(1), Docker, systemd's
KillMode=control-group and Ctrl-C at a terminal do) then reaches the crawl process only: it
stops crawling, lets the helpers finish the pages in hand, records its run and closes them.
Killed together with the crawl, a helper died under pages still in flight: a pool thread
blocked writing to a dead worker and the crawl hung, or hundreds of fetched pages were lost.
The helpers still end with the crawl process: the forkserver when its pipe from the crawl
closes, the workers when their task channel does.
"""

import os

try:
    os.setsid()  # a session (and process group) of its own; the forkserver is never a group leader
except OSError:  # already a session leader (started by hand): it has a group of its own anyway
    pass
