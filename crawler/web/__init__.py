"""The read-only web view over the store: search, articles, events, sources, a JSON API, feeds.

`expowatch serve` runs it with uvicorn; `create_app(WebConfig(db_url=...))` gives the
Starlette app. Pages are server-rendered Jinja2 (autoescaped) and work without
JavaScript; the queries are storage.queries' own, the same as the CLI's.
"""
