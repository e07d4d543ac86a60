"""Small article pages for extraction tests, written for the project (not copied from any site)."""

from __future__ import annotations

ZH_PARAGRAPHS = (
    "本周二，第五届世界智能大会筹备工作推进会在天津召开，市政府有关负责同志出席会议并讲话，"
    "二十多个委办局和区政府的负责人参加了会议。",
    "会上通报了大会的总体方案和筹备进展。大会定于五月下旬在梅江会展中心举办，"
    "届时将同步开展线上展览、智能体验和多项国际赛事，策划阶段已经基本完成。",
    "会议要求各单位提高站位、压实责任，细化接待、安保和疫情防控预案，"
    "确保大会办得更加国际化、专业化，为天津智能产业发展注入新的动力。",
)
ZH_TRADITIONAL_PARAGRAPHS = (
    "本週二，第五屆世界智能大會籌備工作推進會在天津召開，市政府有關負責同志出席會議並講話，"
    "二十多個委辦局和區政府的負責人參加了會議。",
    "會上通報了大會的總體方案和籌備進展。大會定於五月下旬在梅江會展中心舉辦，"
    "屆時將同步開展線上展覽、智能體驗和多項國際賽事，策劃階段已經基本完成。",
)
EN_PARAGRAPHS = (
    "Organisers of the World Intelligence Expo said on Friday that more than five hundred exhibitors "
    "from forty countries have confirmed their stands for this year's edition in Tianjin.",
    "The four-day show will fill eight halls with driverless shuttles, service robots and industrial "
    "software, and a new pavilion is set aside for start-ups working on large language models.",
    "City officials expect the fair to bring in fresh investment, pointing to the contracts signed at "
    "last year's event, several of which have already turned into factories on the city's eastern edge.",
)


def page(
    body: str,
    *,
    title: str = "",
    head: str = "",
    lang: str | None = None,
    charset_meta: str | None = None,
) -> str:
    """A complete HTML document around a body fragment."""
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    lang_attr = f' lang="{lang}"' if lang else ""
    return (
        f"<!DOCTYPE html><html{lang_attr}><head>{meta}<title>{title}</title>{head}</head>"
        f"<body>{body}</body></html>"
    )


def paragraphs(texts: tuple[str, ...]) -> str:
    """<p> elements for paragraphs."""
    return "".join(f"<p>{text}</p>" for text in texts)


def site_chrome(content: str, *, site: str = "Example Expo News") -> str:
    """A body with the navigation, sidebar and footer that surround articles on real sites."""
    nav = "".join(f'<li><a href="/{slug}/">{slug.title()}</a></li>' for slug in ("news", "events", "media", "about"))
    return (
        f'<header><div class="logo"><a href="/">{site}</a></div><nav><ul>{nav}</ul></nav></header>'
        f'<main><div class="article">{content}</div></main>'
        '<footer><p>Copyright © 2024 Example Expo News. All rights reserved.</p></footer>'
    )
