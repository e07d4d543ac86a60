"""Turn site templates plus entries into the exact bytes the replica serves.

Pages come from per-site ``string.Template`` files (boilerplate written once per
site); feeds and sitemaps are generated here from the same entries.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from string import Template
from typing import Any, Mapping
from xml.sax.saxutils import escape as xml_escape

from .catalog import Entry, SiteSpec, shown_paragraphs, strip_markup

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# What a JavaScript-rendered site sends before its script runs.
JS_SHELL = Template(
    """<!DOCTYPE html>
<html lang="$lang"><head><meta charset="utf-8"><title>$site_title</title>
<script defer src="/static/js/app.8f3c1d.js"></script></head>
<body><noscript>Please enable JavaScript to view this page.</noscript>
<div id="app"></div></body></html>
"""
)

# RSS items and news-sitemap entries a site keeps (real feeds show only the latest).
FEED_SIZE = 20
NEWS_SITEMAP_SIZE = 50


@dataclass(frozen=True)
class Page:
    """A rendered response body with its media type."""

    body: bytes
    content_type: str


def format_date(value: datetime, fmt: str) -> str:
    """Format ``value`` with ``str.format`` fields Y m d H M S B b (no locale involved)."""
    return fmt.format(
        Y=value.year,
        m=value.month,
        d=value.day,
        H=value.hour,
        M=value.minute,
        S=value.second,
        B=MONTHS[value.month - 1],
        b=MONTHS[value.month - 1][:3],
        I=(value.hour % 12) or 12,
        p="AM" if value.hour < 12 else "PM",
    )


def resolve_links(text: str, bases: Mapping[str, str]) -> str:
    """Replace ``{site-name}`` placeholders with that site's base URL."""
    for name, base in bases.items():
        text = text.replace("{" + name + "}", base)
    return text


def fill(template: Template, values: Mapping[str, str]) -> str:
    """Substitute ``values``; identifiers a page does not use render as empty."""
    defaults = {name: "" for name in template.get_identifiers()}
    defaults.update(values)
    return template.substitute(defaults)


def _snippet(site: SiteSpec, name: str, values: Mapping[str, str]) -> str:
    template = site.snippets.get(name)
    return fill(template, values) if template else ""


def body_html(paragraphs: list[str]) -> str:
    """Paragraph list to HTML; a paragraph starting with ``## `` is a subheading."""
    parts = []
    for paragraph in paragraphs:
        text = html.escape(strip_markup(paragraph), quote=False)
        tag = "h3" if paragraph.startswith("#") else "p"
        parts.append(f"<{tag}>{text}</{tag}>")
    return "\n".join(parts)


def _esc(value: Any) -> str:
    return html.escape(str(value)) if value is not None else ""


def _head(site: SiteSpec, content: Mapping[str, Any] | None, extra: str = "") -> str:
    content = content or {}
    meta = content.get("meta_charset", site.config.get("meta_charset", site.encoding))
    tags = [f'<meta http-equiv="Content-Type" content="text/html; charset={meta}">'] if meta else []
    if extra:
        tags.append(extra)
    return "\n".join(tags)


def content_type(site: SiteSpec, content: Mapping[str, Any] | None = None) -> str:
    """The Content-Type header: the site may declare a wrong charset or none at all."""
    content = content or {}
    charset = content.get("http_charset", site.config.get("http_charset", site.encoding))
    return f"text/html; charset={charset}" if charset else "text/html"


def _layout(
    site: SiteSpec, base: str, title: str, main: str, head: str, canonical: str
) -> str:
    return fill(
        site.templates["layout"],
        {
            "page_title": _esc(title),
            "main": main,
            "lang": site.config.get("html_lang", site.language),
            "head": head,
            "canonical": _esc(canonical),
            "base": base,
            "site_title": _esc(site.config["display_name"]),
        },
    )


def _encode(site: SiteSpec, text: str, content: Mapping[str, Any] | None = None) -> Page:
    return Page(text.encode(site.encoding), content_type(site, content))


def render_article(site: SiteSpec, entry: Entry, bases: Mapping[str, str]) -> Page:
    """The article page exactly as served."""
    content = entry.content
    base = bases[site.name]
    local = entry.published.astimezone(site.tz)
    values: dict[str, str] = {
        key: _esc(resolve_links(str(val), bases))
        for key, val in content.get("fields", {}).items()
    }
    for key in list(values):
        block = site.snippets.get(f"field_{key}")
        if block:
            values[f"{key}_block"] = fill(block, {"value": values[key]})
    figures = "\n".join(
        _snippet(site, "figure", {"src": _esc(f["src"]), "caption": _esc(f["caption"])})
        for f in content.get("figures", [])
    )
    related_items = "\n".join(
        _snippet(
            site,
            "related_item",
            {"href": _esc(resolve_links(r["href"], bases)), "title": _esc(r["title"])},
        )
        for r in content.get("related", [])
    )
    related = _snippet(site, "related_block", {"items": related_items}) if related_items else ""
    values.update(
        {
            "title": _esc(entry.title),
            "date": _esc(format_date(local, site.config["date_format"])),
            "body": body_html(shown_paragraphs(site, entry)),
            "figures": figures,
            "related": related,
            "path": _esc(entry.path),
        }
    )
    main = fill(site.templates["article"], values)
    page_title = site.config.get("title_format", "$title").replace("$title", entry.title)
    text = _layout(site, base, page_title, main, _head(site, content), base + entry.path)
    return _encode(site, text, content)


def render_js_shell(site: SiteSpec) -> Page:
    """A single-page-app shell: no article text until JavaScript runs."""
    text = JS_SHELL.substitute(
        lang=site.language, site_title=_esc(site.config["display_name"])
    )
    return Page(text.encode("utf-8"), "text/html; charset=utf-8")


def _list_items(site: SiteSpec, entries: list[Entry]) -> str:
    return "\n".join(
        _snippet(
            site,
            "list_item",
            {
                "href": _esc(e.link_path),
                "title": _esc(e.title),
                "date": _esc(
                    format_date(
                        e.published.astimezone(site.tz),
                        site.config.get("list_date_format", site.config["date_format"]),
                    )
                ),
            },
        )
        for e in entries
    )


def render_list(
    site: SiteSpec, base: str, entries: list[Entry], page: int, pages: int
) -> Page:
    """List page ``page`` of ``pages`` with its pager (and rel links where the site has them)."""
    prev_path = site.list_path(page - 1) if page > 1 else None
    next_path = site.list_path(page + 1) if page < pages else None
    pager = []
    rel = []
    if prev_path:
        pager.append(_snippet(site, "prev", {"href": _esc(prev_path)}))
        rel.append(f'<link rel="prev" href="{_esc(base + prev_path)}">')
    if next_path:
        pager.append(_snippet(site, "next", {"href": _esc(next_path)}))
        rel.append(f'<link rel="next" href="{_esc(base + next_path)}">')
    main = fill(
        site.templates["list"],
        {
            "items": _list_items(site, entries),
            "pager": "\n".join(pager),
            "page": str(page),
            "pages": str(pages),
        },
    )
    head = _head(site, None, "\n".join(rel) if site.config.get("rel_links") else "")
    title = site.config.get("list_title", site.config["display_name"])
    text = _layout(site, base, title, main, head, base + site.list_path(page))
    return _encode(site, text)


def render_home(site: SiteSpec, base: str, latest: list[Entry]) -> Page:
    """The homepage: latest headlines and a link to the news list."""
    main = fill(
        site.templates["home"],
        {"items": _list_items(site, latest), "list_href": _esc(site.list_path(1))},
    )
    text = _layout(site, base, site.config["display_name"], main, _head(site, None), base + "/")
    return _encode(site, text)


def render_rss(site: SiteSpec, base: str, entries: list[Entry]) -> Page:
    """RSS 2.0 channel with the latest ``FEED_SIZE`` entries."""
    items = []
    for entry in entries[:FEED_SIZE]:
        link = xml_escape(base + entry.link_path)
        first = strip_markup(entry.content.get("body", [""])[0]) if entry.kind == "article" else ""
        items.append(
            "<item>"
            f"<title>{xml_escape(entry.title)}</title>"
            f"<link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<pubDate>{format_datetime(entry.published)}</pubDate>"
            f"<description>{xml_escape(first[:280])}</description>"
            "</item>"
        )
    last = format_datetime(entries[0].published) if entries else ""
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{xml_escape(site.config['display_name'])}</title>"
        f"<link>{xml_escape(base + '/')}</link>"
        f"<description>{xml_escape(site.config.get('feed_description', 'News'))}</description>"
        f"<language>{site.language}</language><lastBuildDate>{last}</lastBuildDate>"
        + "\n".join(items)
        + "</channel></rss>\n"
    )
    return Page(text.encode("utf-8"), "application/rss+xml; charset=utf-8")


def _xml(text: str) -> Page:
    return Page(('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode("utf-8"),
                "application/xml; charset=utf-8")


def render_sitemap(base: str, entries: list[Entry]) -> Page:
    """A plain sitemap (urlset) listing every entry with its lastmod."""
    urls = "\n".join(
        f"<url><loc>{xml_escape(base + e.link_path)}</loc>"
        f"<lastmod>{e.published.isoformat()}</lastmod></url>"
        for e in entries
    )
    return _xml(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}\n</urlset>\n')


def render_news_sitemap(site: SiteSpec, base: str, entries: list[Entry]) -> Page:
    """A Google News sitemap with the latest ``NEWS_SITEMAP_SIZE`` entries."""
    name = xml_escape(site.config["display_name"])
    urls = "\n".join(
        f"<url><loc>{xml_escape(base + e.link_path)}</loc><news:news>"
        f"<news:publication><news:name>{name}</news:name>"
        f"<news:language>{site.language}</news:language></news:publication>"
        f"<news:publication_date>{e.published.isoformat()}</news:publication_date>"
        f"<news:title>{xml_escape(e.title)}</news:title></news:news></url>"
        for e in entries[:NEWS_SITEMAP_SIZE]
    )
    return _xml(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n'
        f"{urls}\n</urlset>\n"
    )


def render_sitemap_index(base: str, children: list[tuple[str, datetime | None]]) -> Page:
    """A sitemap index pointing at the site's child sitemaps."""
    items = "\n".join(
        f"<sitemap><loc>{xml_escape(base + path)}</loc>"
        + (f"<lastmod>{when.isoformat()}</lastmod>" if when else "")
        + "</sitemap>"
        for path, when in children
    )
    return _xml(
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{items}\n</sitemapindex>\n'
    )


def default_robots(site: SiteSpec, base: str) -> str:
    """robots.txt that allows everything and lists the site's top-level sitemaps."""
    lines = ["User-agent: *", "Allow: /", ""]
    lines += [f"Sitemap: {base}{path}" for path in top_sitemaps(site)]
    return "\n".join(lines) + "\n"


def top_sitemaps(site: SiteSpec) -> list[str]:
    """Sitemaps a crawler should start from (the index if the site has one)."""
    sm = site.config.get("sitemaps") or {}
    if sm.get("index"):
        return [sm["index"]]
    return [p for p in (sm.get("urlset"), sm.get("news")) if p]
