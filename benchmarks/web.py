"""Latency of the web view's search page and JSON API against the CLI's own query time.

    python benchmarks/web.py [--articles 100000] [--repeat 5] [--store PATH]

Uses the store benchmarks/search.py builds (generated English and Chinese articles,
one in twenty a copy, each tagged with its event; --store PATH reuses one) and its
20 searches (ten broad, ten selective). It starts `expowatch serve` on it as a real
process on 127.0.0.1 and, for each search, --repeat times:

- the search page (GET /: one page of results, the total, the facet counts beside
  the filters, rendered HTML);
- the API (GET /api/search: one page of results and the total, as JSON);
- the CLI's query work, in this process: storage.queries.search_and_count(), what
  `expowatch search` runs for its table (no interpreter start-up counted), and
  search() alone (one page, what `--format json` runs).

It prints p50/p95 of each and the ratios page/CLI and API/CLI, and the CPU time per
call (the server process's, read from /proc, for the page and the API): on a loaded
machine wall times grow, CPU times much less. Goal: page p95 under 200 ms at 100,000
articles. The server and this client share the machine: run it on an otherwise idle
one (the load average is printed with the figures).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402

import search as search_bench  # noqa: E402  (benchmarks/search.py: the store and the queries)
from storage.engine import session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.queries import SearchQuery, count, search, search_and_count  # noqa: E402

PAGE_GOAL_MS = 200
START_TIMEOUT_S = 120
ADDRESS = re.compile(r"read-only at (http://\S+/)")


def params_of(query: SearchQuery) -> dict[str, object]:
    """The web parameters that ask for query (the same names as `expowatch search`'s options)."""
    params: dict[str, object] = {}
    if query.text:
        params["q"] = query.text
    for name, key in (("events", "event"), ("years", "year"), ("languages", "lang"), ("sources", "source")):
        if getattr(query, name):
            params[key] = list(getattr(query, name))
    if query.since:
        params["since"] = query.since.isoformat()
    if query.sort != "published":
        params["sort"] = query.sort.replace("_", "-")
    return params


def start_server(store: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "serve", "--port", "0", "--db", str(store)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            cwd=HERE.parent)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        found = ADDRESS.search(line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise SystemExit(f"expowatch serve did not start: {proc.stderr.read()}")


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def server_cpu_ms(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def measure(session, client: httpx.Client, queries, repeat: int, server_pid: int) -> dict[str, list[float]]:
    """Wall ms per call by kind, and the CPU ms (server process, or this one for the CLI) of each kind's calls."""
    samples: dict[str, list[float]] = {"page": [], "api": [], "cli": [], "search": [],
                                       "page cpu": [], "api cpu": [], "cli cpu": []}

    def page(params):
        response = client.get("/", params=params)
        assert response.status_code == 200, response.text[:300]

    def api(params):
        response = client.get("/api/search", params=params)
        assert response.status_code == 200, response.text[:300]
        return response.json()

    def cli(query):
        return search_and_count(session, query)

    for query in queries:
        params = params_of(query)
        body = api(params)  # warm-up, and the check that the API answers what the CLI answers
        hits, total = cli(query)
        if [r["id"] for r in body["results"]] != [h.id for h in hits] or body["total"] != total:
            raise SystemExit(f"API and CLI disagree on {search_bench.describe(query)!r}")
        if [h.id for h in search(session, query)] != [h.id for h in hits] or count(session, query) != total:
            raise SystemExit(f"search_and_count() disagrees with search() and count() on {search_bench.describe(query)!r}")
        page(params)
        timings = {}
        for kind, call, cpu in (("page", lambda: page(params), lambda: server_cpu_ms(server_pid)),
                                ("api", lambda: api(params), lambda: server_cpu_ms(server_pid)),
                                ("cli", lambda: cli(query), lambda: time.process_time() * 1000),
                                ("search", lambda: search(session, query), None)):
            used = cpu() if cpu else 0.0
            timings[kind] = [timed(call) for _ in range(repeat)]
            if cpu:
                samples[f"{kind} cpu"].append(cpu() - used)
        for kind, values in timings.items():
            samples[kind] += values
        print(f"  {search_bench.describe(query)[:46]:<46} {total:>6} "
              + " ".join(f"{statistics.median(timings[k]):>8.1f}" for k in ("page", "api", "cli", "search"))
              + " " + " ".join(f"{samples[k][-1] / repeat:>8.1f}" for k in ("page cpu", "api cpu", "cli cpu")))
    return samples


def summary(name: str, samples: dict[str, list[float]]) -> tuple[float, float]:
    p = {k: [search_bench.percentile(v, q) for q in search_bench.PERCENTILES] for k, v in samples.items()
         if not k.endswith(" cpu")}
    print(f"{name:<24} page p50 {p['page'][0]:6.1f} p95 {p['page'][1]:6.1f} ms | API p50 {p['api'][0]:6.1f} "
          f"p95 {p['api'][1]:6.1f} ms | CLI search+count p50 {p['cli'][0]:6.1f} p95 {p['cli'][1]:6.1f} ms | "
          f"search() alone p50 {p['search'][0]:6.1f} p95 {p['search'][1]:6.1f} ms | "
          f"page/CLI p95 {p['page'][1] / p['cli'][1]:4.2f}x  API/CLI p95 {p['api'][1] / p['cli'][1]:4.2f}x")
    calls = len(samples["page"])
    print(f"{'':<24} CPU per call (what an idle machine would take, about): page {sum(samples['page cpu']) / calls:.1f} "
          f"ms, API {sum(samples['api cpu']) / calls:.1f} ms (server process), CLI search+count "
          f"{sum(samples['cli cpu']) / calls:.1f} ms")
    return p["page"][1], p["api"][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests of each search and kind")
    parser.add_argument("--store", type=Path, help="SQLite file to reuse or create and keep")
    args = parser.parse_args()

    tmp = None
    if args.store is None:
        tmp = tempfile.TemporaryDirectory(prefix="expowatch-web-bench-")
        args.store = Path(tmp.name) / "store.db"
    db_url = f"sqlite:///{args.store.resolve()}"
    if args.store.exists():
        upgrade(db_url)
        print(f"store: {args.store} (reused)")
    else:
        seconds = search_bench.build_store(db_url, args.articles)
        print(f"store: {args.articles:,} generated articles built in {seconds:.0f} s")
    load_before = os.getloadavg()[0]
    proc, address = start_server(args.store)
    try:
        with session_factory(db_url, for_writing=False)() as session, \
                httpx.Client(base_url=address, timeout=60) as client:
            stored = count(session, SearchQuery(all_copies=True))
            print(f"expowatch serve at {address} over {stored:,} articles; {args.repeat} timed requests per search")
            print(f"  {'query':<46} {'total':>6} {'page ms':>8} {'API ms':>8} {'CLI ms':>8} {'search':>8} "
                  f"{'page CPU':>8} {'API CPU':>8} {'CLI CPU':>8}  (wall: medians; CPU: means)")
            groups = {}
            for name, queries in (("broad", search_bench.BROAD), ("selective", search_bench.SELECTIVE)):
                print(f"{name}:")
                groups[name] = measure(session, client, queries, args.repeat, proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()
    print()
    summary("broad (10 searches)", groups["broad"])
    summary("selective (10 searches)", groups["selective"])
    page_p95, _ = summary("all 20 searches", {k: groups["broad"][k] + groups["selective"][k] for k in groups["broad"]})
    print(f"load average while measuring: {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
          f"on {os.cpu_count()} cores")
    print(f"goal: search page p95 under {PAGE_GOAL_MS} ms: {'met' if page_p95 < PAGE_GOAL_MS else 'NOT met'} "
          f"({page_p95:.0f} ms)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
