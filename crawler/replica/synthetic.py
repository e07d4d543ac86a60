"""Deterministic synthetic articles for benchmarks (``ReplicaWeb(scale=N)``).

Text is assembled from sentence templates with seeded random fills, so any two
synthetic articles share little wording (they must not look like near-duplicates).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Mapping

from .catalog import SITE_NAMES, Entry, SiteSpec, iso_at_precision
from .render import MONTHS

# Fixed seed: the same scale always yields the same articles.
SEED = 20240621
# Synthetic ids start far above hand-written ones so paths never collide.
FIRST_ID = 500000
# Spread of synthetic publication times.
EPOCH_START = datetime(2016, 1, 1)
EPOCH_DAYS = 9 * 365

EVENTS: dict[str, dict[str, Any]] = {
    "world-intelligence-congress": {
        "en": "World Intelligence Congress", "zh": "世界智能大会",
        "city": "Tianjin", "city_zh": "天津", "first": 2017,
    },
    "world-intelligence-expo": {
        "en": "World Intelligence Expo", "zh": "世界智能产业博览会",
        "city": "Tianjin", "city_zh": "天津", "first": 2024,
    },
    "smart-china-expo": {
        "en": "Smart China Expo", "zh": "智博会",
        "city": "Chongqing", "city_zh": "重庆", "first": 2018,
    },
    "world-intelligent-manufacturing-conference": {
        "en": "World Intelligent Manufacturing Conference", "zh": "世界智能制造大会",
        "city": "Nanjing", "city_zh": "南京", "first": 2018,
    },
    "world-internet-conference": {
        "en": "World Internet Conference", "zh": "世界互联网大会",
        "city": "Wuzhen", "city_zh": "乌镇", "first": 2014,
    },
}  # fmt: skip

ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh",
            "Eighth", "Ninth", "Tenth", "Eleventh")  # fmt: skip
ZH_ORDINALS = "一二三四五六七八九十"

TOPICS = ("robotics", "smart logistics", "chip design", "autonomous driving", "cloud services",
          "industrial software", "digital health", "smart grids", "drone delivery",
          "computer vision", "speech recognition", "smart agriculture", "fintech",
          "satellite internet", "battery materials", "smart ports", "edge computing",
          "quantum sensing", "digital twins", "open-source models")  # fmt: skip
ZH_TOPICS = ("机器人", "智慧物流", "芯片设计", "自动驾驶", "云服务", "工业软件", "数字医疗",
             "智能电网", "无人机配送", "计算机视觉", "语音识别", "智慧农业", "金融科技",
             "卫星互联网", "电池材料", "智慧港口", "边缘计算", "数字孪生")  # fmt: skip
ORGS = ("the organising committee", "the municipal commerce bureau", "a provincial think tank",
        "the exhibition office", "an industry alliance", "the host district government",
        "a university research institute", "the investment promotion agency")  # fmt: skip
VERBS = ("signed", "unveiled", "showcased", "announced", "tested", "previewed", "launched")
THINGS = ("pilot projects", "cooperation agreements", "prototype systems", "training programmes",
          "data platforms", "testing zones", "venture funds", "standards drafts")  # fmt: skip

EN_SENTENCES = (
    "{Org} said {n1} companies from {n2} countries had registered for the {event} in {city}.",
    "Exhibitors {verb} {n3} {thing} focused on {topic} during the first {n4} days.",
    "Hall {n4} will host a {topic} zone covering about {n5} square meters, officials said.",
    "{Org} expects contracts worth some {n6} billion yuan to be {verb} this year.",
    "A forum on {topic} drew {n7} speakers, including {n2} from overseas institutions.",
    "Visitors queued to try {topic} demonstrations set up by {n3} local start-ups.",
    "The {city} venue added {n1} shuttle routes and {n4} new entrances for visitors.",
    "Researchers presented {n3} papers on {topic}, a figure {org} called a record.",
    "Registration for the {topic} competition closes after {n4} weeks, {org} said.",
    "Some {n5} volunteers were trained to guide guests through the {topic} pavilion.",
)  # fmt: skip
ZH_SENTENCES = (
    "{org}表示，已有来自{n2}个国家和地区的{n1}家企业报名参加{city}{event}。",
    "展会前{n4}天，参展商围绕{topic}发布了{n3}项新成果。",
    "{n4}号馆将设立约{n5}平方米的{topic}专区。",
    "主办方预计今年签约金额约{n6}亿元，涉及{topic}等领域。",
    "{topic}论坛吸引了{n7}位嘉宾发言，其中{n2}位来自海外机构。",
    "{n3}家本地初创企业在现场搭建了{topic}体验区，吸引观众排队体验。",
    "{city}会场新增{n1}条接驳线路和{n4}个观众入口。",
    "研究人员围绕{topic}发布论文{n3}篇，数量创历届新高。",
    "{topic}大赛报名将在{n4}周后截止。",
    "约{n5}名志愿者接受培训，将在{topic}展馆引导观众参观。",
)  # fmt: skip
ZH_ORGS = ("组委会", "市商务局", "大会办公室", "产业联盟", "承办区政府", "投资促进局")

SENTENCES_PER_PARAGRAPH = 3
PARAGRAPHS = 5


def _num(rng: random.Random, low: int, high: int) -> int:
    """randint without its overhead (generation of thousands of articles is dominated by it)."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[int(rng.random() * len(items))]


def _fills(rng: random.Random, event: Mapping[str, Any], zh: bool) -> dict[str, Any]:
    org = _pick(rng, ZH_ORGS if zh else ORGS)
    return {
        "org": org,
        "Org": org[:1].upper() + org[1:],
        "event": event["zh"] if zh else event["en"],
        "city": event["city_zh"] if zh else event["city"],
        "topic": _pick(rng, ZH_TOPICS if zh else TOPICS),
        "verb": _pick(rng, VERBS),
        "thing": _pick(rng, THINGS),
        "n1": _num(rng, 40, 900),
        "n2": _num(rng, 3, 60),
        "n3": _num(rng, 5, 300),
        "n4": _num(rng, 2, 12),
        "n5": _num(rng, 1000, 90000),
        "n6": _num(rng, 5, 400),
        "n7": _num(rng, 10, 120),
    }


def _paragraphs(rng: random.Random, event: Mapping[str, Any], zh: bool) -> list[str]:
    templates = ZH_SENTENCES if zh else EN_SENTENCES
    joiner = "" if zh else " "
    return [
        joiner.join(
            _pick(rng, templates).format(**_fills(rng, event, zh))
            for _ in range(SENTENCES_PER_PARAGRAPH)
        )
        for _ in range(PARAGRAPHS)
    ]


def english_paragraphs(rng: random.Random) -> list[str]:
    """The paragraphs of one synthetic English article about a random event (distinct wording each call)."""
    return _paragraphs(rng, EVENTS[_pick(rng, tuple(EVENTS))], zh=False)


def _title(rng: random.Random, event: Mapping[str, Any], year: int, zh: bool) -> tuple[str, int | None]:
    edition = year - event["first"] + 1
    stated = 1 <= edition <= len(ZH_ORDINALS) and rng.random() < 0.5
    if zh:
        name = f"第{ZH_ORDINALS[edition - 1]}届{event['zh']}" if stated else f"{year}{event['zh']}"
        return f"{name}{rng.choice(ZH_TOPICS)}专场活动第{rng.randint(2, 99)}期举行", (edition if stated else None)
    name = f"{ORDINALS[edition - 1]} {event['en']}" if stated else f"{year} {event['en']}"
    topic = rng.choice(TOPICS)
    return f"{name} Sets Out {topic.title()} Agenda for Session {rng.randint(2, 99)}", (
        edition if stated else None
    )


def generate_entries(specs: Mapping[str, SiteSpec], scale: int) -> list[Entry]:
    """``scale`` synthetic phase-1 articles spread round-robin over the sites."""
    rng = random.Random(SEED)
    entries = []
    for index in range(scale):
        spec = specs[SITE_NAMES[index % len(SITE_NAMES)]]
        entries.append(_entry(rng, spec, FIRST_ID + index))
    return entries


def _entry(rng: random.Random, spec: SiteSpec, ident: int) -> Entry:
    config = spec.config
    synth = config["synthetic"]
    slug = rng.choice(synth["events"])
    event = EVENTS[slug]
    zh = spec.language == "zh"
    naive = EPOCH_START + timedelta(seconds=rng.randrange(EPOCH_DAYS * 86400))
    if naive.year < event["first"]:  # not before the event existed (Feb 29 cannot move years)
        naive = naive.replace(year=event["first"], day=min(naive.day, 28))
    year = naive.year
    published = naive.replace(tzinfo=spec.tz)
    if config["published_precision"] != "seconds":
        published = published.replace(second=0)
    title, edition = _title(rng, event, year, zh)
    body = _paragraphs(rng, event, zh)
    dates = {"Y": published.year, "m": published.month, "d": published.day, "id": ident}
    path = synth["path"].format(**dates)
    month = MONTHS[published.month - 1]
    fields = {key: text.format(**dates, B=month) for key, text in synth.get("fields", {}).items()}
    first_sentence = body[0].split("。" if zh else ". ")[0]
    expected = {
        "url": path,
        "title": title,
        "published": iso_at_precision(published, config["published_precision"]),
        "timezone": spec.timezone,
        "language": spec.language,
        "must_contain": [first_sentence, body[2][:40], body[-1][-40:]],
        "must_not_contain": spec.boilerplate,
        "primary_event": slug,
        "edition": edition,
        "year": year,
        "mentioned_events": [],
        "duplicate_group": None,
        "phase": 1,
        "synthetic": True,
    }
    content = {"path": path, "title": title, "published": published.isoformat(),
               "body": body, "fields": fields}  # fmt: skip
    return Entry(spec.name, f"synthetic-{ident}", "article", path, title, published, content, expected)
