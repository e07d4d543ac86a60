"""tag_article: primary vs mentioned events, editions, collisions, boilerplate.

The article texts are written for these tests; they mirror the structure and facts
of the seed pages (site furniture, captions, footers promoting other editions,
colliding acronyms) without reusing their sentences.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import date, datetime, timezone

import pytest

from crawler.events import TAGGER_VERSION, EventTag, builtin_taxonomy, tag_article

CONGRESS = "world-intelligence-congress"
WIE = "world-intelligence-expo"
SCE = "smart-china-expo"
WIMC = "world-intelligent-manufacturing-conference"
INTERNET = "world-internet-conference"

# Mirrors seed 000: an organiser's page, lower-case site header, a title with
# "WIC 2021", the Fifth congress in the body, a source line and a licence footer.
CONGRESS_2021 = dict(
    title="WIC 2021 preparations: mobilisation meeting convened in Tianjin",
    text="""world intelligence congress

WIC 2021 preparations: mobilisation meeting convened in Tianjin

2021-03-19 10:20:36
Favourite  Share

Tianjin officials met this week to push forward the work for the Fifth World Intelligence Congress. A deputy mayor who sits on the organising committee chaired the session, and more than twenty city commissions and district governments sent delegates.

The committee office set out where the overall plan stands for the Fifth World Intelligence Congress and what still has to be done before the opening. Each district reported its progress and the problems it has not yet solved.

The meeting confirmed that the Fifth World Intelligence Congress runs from May 20 to 23 at the Meijiang Convention and Exhibition Center. Planning is essentially finished and the event now moves into implementation.

Speakers noted that the congress has now been staged four years running, but warned that the pandemic could still disrupt travel for guests, so fallback plans are needed early.

Source: Organising Committee Secretariat of the World Intelligence Conference

  • Mini program
  • WeChat
津ICP备00000000号-1
""",
    published=datetime(2021, 3, 19, 2, 20, tzinfo=timezone.utc),
)

# Mirrors seed 001: a wire release about the 2024 expo that explains its two predecessors.
EXPO_2024 = dict(
    title="World Intelligence Expo puts Tianjin's smart industries on show",
    text="""BEIJING, June 21, 2024 /NewsWire/ -- A report from the World Intelligence Expo:

Robots playing football, cars without drivers weaving through traffic and drones circling the city's landmarks greeted visitors at the 2024 World Intelligence Expo (WIE) in Tianjin.

The WIE brings together two older events: the World Intelligence Congress, staged seven times, and the Smart China Expo, staged six times. Tianjin and Chongqing now host the expo jointly and take turns as host city; this year it runs from June 20 to 23 in Tianjin.

Some 550 companies from 49 countries and regions fill eight venues, and more than 100 investment projects have already been signed at the WIE.

Newswire Mosaic
""",
    published=datetime(2024, 6, 21, 8, 0, tzinfo=timezone.utc),
)

# Mirrors seed 002: header and footer promote the 2021 edition (with the organiser's
# own "WMIC" typo) around an article about the 2020 press conference; photo captions.
WIMC_2020 = dict(
    title="2020 WIMC press conference takes place in Beijing",
    text="""2021 WIMC

You are here: HOME > NEWS > Releases

2020 WIMC press conference takes place in Beijing

A press conference for the 2020 World Intelligent Manufacturing Conference (WIMC) was held in Beijing on November 6, where officials from the industry ministry outlined the programme and the Jiangsu provincial government described the preparations for the 2020 WIMC.

The 2020 WIMC will be co-hosted by the Jiangsu provincial government, the industry ministry, the Chinese Academy of Engineering and the China Association for Science and Technology at the Nanjing International Expo Conference Center from November 26 to 28.

Because of the epidemic, most of the 2020 WIMC programme will run online, with a Cloud Expo opening in mid-November and staying open long after the closing ceremony.

Since 2016, WIMC has taken place in Jiangsu four years in a row, and organisers promised the 2020 edition would keep that tradition.

On site at the press conference

Officials answer questions from reporters

2021 WMIC

Nanjing · China

December 08-10
""",
    published=datetime(2020, 11, 6, 4, 0, tzinfo=timezone.utc),
)

# Mirrors seed 003: a translated wire story; no date on the page.
INTERNET_2017 = dict(
    title="4th World Internet Conference to open in Wuzhen next month",
    text="""The fourth World Internet Conference will take place in Wuzhen, Zhejiang Province, from December 3 to 5, the State Council Information Office announced.

Officials said the gathering will showcase leading internet technologies of the year and host around twenty sub-forums on the digital economy, cyberspace governance and new technologies.

Local leaders in Tongxiang said the conference has already drawn hundreds of digital projects to the area over the past three years.

This story first ran on a national broadcaster and was translated by a tech news site.
""",
    published=None,
)

# Mirrors seed 004: a city paper's report on leaders inspecting the projects from the
# 2018 expo and the preparations for the 2019 one.
SCE_2019 = dict(
    title="Chongqing leaders inspect 2018 Smart China Expo (SCE) projects and 2019 SCE preparations",
    text="""Your current location: Home > Exhibition News

Media Center

Release: Chongqing Daily  Time: 2019-07-19 17:30:36

The city's party secretary and mayor toured sites this month to check on projects signed at the 2018 SCE and on the preparations for the 2019 SCE, urging staff to be ready for the approaching SCE in 2019.

With under two months left before the 2019 SCE opens, preparations have reached a critical stage, and the visitors looked at facilities and exhibition plans in detail.

Last year the first SCE ended in success, with many of the projects signed there now being carried out. A self-driving bus service in the park will give visitors a new experience during this year's SCE.

The secretary asked that the projects signed at the 2018 SCE be delivered with high quality and that this year's SCE be organised to the highest standard.

Source: Chongqing Daily
""",
    published=datetime(2019, 7, 19, 9, 30, tzinfo=timezone.utc),
)


def summary(tags: list[EventTag]) -> list[tuple[str, str, int | None, int | None]]:
    return [(t.event, t.role, t.edition, t.year) for t in tags]


def primary_of(tags: list[EventTag]) -> EventTag | None:
    primaries = [t for t in tags if t.role == "primary"]
    assert len(primaries) <= 1
    return primaries[0] if primaries else None


# The DESIGN.md "Events" table.
@pytest.mark.parametrize(
    ("article", "expected"),
    [
        (CONGRESS_2021, [(CONGRESS, "primary", 5, 2021)]),
        (EXPO_2024, [(WIE, "primary", 1, 2024), (CONGRESS, "mentioned", None, None),
                     (SCE, "mentioned", None, None)]),
        (WIMC_2020, [(WIMC, "primary", 5, 2020)]),
        (INTERNET_2017, [(INTERNET, "primary", 4, 2017)]),
        (SCE_2019, [(SCE, "primary", 2, 2019), (SCE, "mentioned", 1, 2018)]),
    ],
    ids=["seed000-congress", "seed001-expo", "seed002-wimc", "seed003-internet", "seed004-sce"],
)
def test_design_table(article: dict, expected: list) -> None:
    tags = tag_article(article["title"], article["text"], published=article["published"])
    assert sorted(summary(tags)) == sorted(expected)
    assert tags[0].role == "primary"


def test_footer_promoting_next_edition_does_not_move_the_year() -> None:
    tags = tag_article(WIMC_2020["title"], WIMC_2020["text"])  # even without a date
    assert summary(tags) == [(WIMC, "primary", 5, 2020)]
    assert all("2021" not in e.match for e in tags[0].evidence)


def test_footer_promoting_another_event_is_not_a_tag() -> None:
    text = SCE_2019["text"] + "\n2021 WIMC\nNanjing · China\nDecember 08-10\n"
    tags = tag_article(SCE_2019["title"], text, published=SCE_2019["published"])
    assert WIMC not in {t.event for t in tags}


def test_promo_only_event_is_never_primary() -> None:
    text = (
        "The city opened a new logistics park on Monday, with rail links to three ports and "
        "warehouses for cold-chain goods.\n\nOperators expect the first trains next month.\n\n"
        "2021 WIMC\nNanjing · China\nDecember 08-10\n"
    )
    assert tag_article("New logistics park opens", text) == []


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        # WIC beside Tianjin / intelligence is the Congress ...
        ("WIC 2021 opens in Tianjin", "Robots and AI chips filled the halls as the WIC got under way "
         "at the Meijiang centre in Tianjin.", CONGRESS),
        # ... beside Wuzhen / internet it is the Internet Conference.
        ("WIC 2017 opens in Wuzhen", "Internet companies from around the world gathered by the canals "
         "of Wuzhen for the WIC.", INTERNET),
        # Chinese context words count too.
        ("WIC开幕", "来自全球的互联网企业齐聚乌镇，参加WIC。", INTERNET),
        # A year outside an event's years rules it out (the Congress began in 2017).
        ("WIC 2015 wrap-up", "Delegates reviewed the outcomes of the WIC 2015 sessions.", INTERNET),
    ],
)
def test_shared_acronym_resolved_by_context(title: str, text: str, expected: str) -> None:
    tags = tag_article(title, text)
    assert [t.event for t in tags] == [expected]
    assert tags[0].role == "primary"


def test_shared_acronym_without_context_is_not_guessed() -> None:
    assert tag_article("WIC opens", "The WIC opened on Tuesday.") == []


def test_source_event_resolves_a_bare_acronym_but_is_never_the_only_evidence() -> None:
    tags = tag_article("WIC opens", "The WIC opened on Tuesday.", source_event=INTERNET)
    assert [t.event for t in tags] == [INTERNET]
    assert any(e.field == "source" for e in tags[0].evidence)
    unrelated = tag_article("Metro line 4 opens", "Trains run every five minutes.", source_event=INTERNET)
    assert unrelated == []


def test_source_event_breaks_a_tie_between_two_events() -> None:
    title, text = "Two expos, one week", "Exhibitors split between the SCE and the WIMC this week."
    assert primary_of(tag_article(title, text)) is None
    assert primary_of(tag_article(title, text, source_event=SCE)).event == SCE
    assert primary_of(tag_article(title, text, source_event=WIMC)).event == WIMC


def test_unknown_source_event_is_a_configuration_error() -> None:
    with pytest.raises(KeyError, match="world-fair"):
        tag_article("x", "y", source_event="world-fair")


def test_url_token_is_a_weak_hint() -> None:
    title, text = "Two expos, one week", "Exhibitors split between the SCE and the WIMC this week."
    tags = tag_article(title, text, "https://www.wimc.example.cn/news/1.html")
    assert primary_of(tags).event == WIMC
    assert tag_article("Metro opens", "Trains run.", "https://www.wimc.example.cn/news/2.html") == []


def test_article_naming_three_events() -> None:
    title = "WIMC 2021 sets its sights on factory software"
    text = (
        "Organisers of the 2021 World Intelligent Manufacturing Conference said this year's "
        "programme in Nanjing will focus on industrial software and robotics.\n\n"
        "Unlike the World Internet Conference in Wuzhen or the Smart China Expo in Chongqing, "
        "the WIMC is aimed squarely at manufacturers, they said.\n\n"
        "The conference runs from December 8 to 10 at the Nanjing International Expo Conference Center."
    )
    tags = tag_article(title, text, published=date(2021, 11, 2))
    assert sorted(summary(tags)) == sorted([
        (WIMC, "primary", 6, 2021),
        (INTERNET, "mentioned", None, None),
        (SCE, "mentioned", None, None),
    ])


def test_roundup_with_no_dominant_event_has_no_primary() -> None:
    text = (
        "Autumn brings three big shows: the World Internet Conference in Wuzhen, the "
        "World Intelligent Manufacturing Conference in Nanjing and the Smart China Expo in Chongqing."
    )
    tags = tag_article("China's autumn event calendar", text)
    assert {t.event for t in tags} == {INTERNET, WIMC, SCE}
    assert {t.role for t in tags} == {"mentioned"}


def test_chinese_only_article_with_ordinal() -> None:
    title = "第五届世界智能大会筹备工作推进会在津召开"
    text = (
        "近日，第五届世界智能大会筹备工作推进会在天津召开。会议指出，"
        "第五届世界智能大会将于5月20日至23日在梅江会展中心举办，目前筹备工作已进入实施阶段。\n"
        "世界智能大会已连续成功举办四届。\n"
        "来源：世界智能大会组委会办公室\n"
    )
    assert summary(tag_article(title, text)) == [(CONGRESS, "primary", 5, 2021)]


def test_chinese_only_article_with_year_and_shared_short_name() -> None:
    title = "2024世界智能产业博览会在天津开幕"
    text = (
        "6月20日，2024世界智能产业博览会在天津开幕。本届智博会由天津市和重庆市人民政府共同主办，"
        "两地轮流承办。\n"
        "智博会期间，来自49个国家和地区的550家企业参展，签约项目超过100个。\n"
    )
    tags = tag_article(title, text, published=date(2024, 6, 20))
    assert summary(tags) == [(WIE, "primary", 1, 2024)]
    # 智博会 alone, in Chongqing before the merger, is the Smart China Expo.
    old = tag_article("2019智博会开幕", "8月26日，2019智博会在重庆国际博览中心开幕。")
    assert summary(old) == [(SCE, "primary", 2, 2019)]


@pytest.mark.parametrize(
    "text",
    [
        "A WICKED problem kept the SCENE crew busy; the WIMCO warehouse stayed shut.",
        "Designers at SCEPTRE studio said the WIEGAND sensors and WICKET gates were late.",
        "Acronyms count only as written: the wic, sce and wimc in this Tianjin note are not events.",
    ],
)
def test_acronym_inside_a_longer_word_does_not_match(text: str) -> None:
    assert tag_article("Weekend arts roundup", text) == []


def test_acronym_glued_to_a_year_still_matches() -> None:
    tags = tag_article("WIMC2020 closes", "The WIMC2020 closed in Nanjing on Saturday after three days.")
    assert summary(tags) == [(WIMC, "primary", 5, 2020)]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("2020 WIMC opens", (5, 2020)),
        ("WIC 2021 closes in Tianjin", (5, 2021)),
        ("Fifth World Intelligence Congress closes", (5, 2021)),
        ("The 5th World Intelligence Congress closes", (5, 2021)),
        ("The fifth edition of the World Intelligence Congress closes", (5, 2021)),
        ("2024世界智能产业博览会开幕", (1, 2024)),
        ("2017年第四届世界互联网大会开幕", (4, 2017)),
        ("首届世界智能大会开幕", (1, 2017)),
        ("第二届智博会在重庆开幕", (2, 2019)),
    ],
)
def test_edition_and_year_attached_to_names(title: str, expected: tuple) -> None:
    tags = tag_article(title, "")
    assert len(tags) == 1
    assert (tags[0].edition, tags[0].year) == expected


def test_unknown_ordinal_keeps_year_unknown_without_a_date() -> None:
    tags = tag_article("Ninth World Internet Conference opens", "")
    assert (tags[0].edition, tags[0].year) == (9, None)


def test_unknown_ordinal_takes_the_publication_year_when_nothing_contradicts() -> None:
    tags = tag_article("Ninth World Internet Conference opens", "", published=date(2022, 11, 9))
    assert (tags[0].edition, tags[0].year) == (9, 2022)
    assert any(e.kind == "published-date" for e in tags[0].evidence)
    # The taxonomy knows the 2019 edition was the sixth: a "ninth" is not dated 2019.
    clash = tag_article("Ninth World Internet Conference opens", "", published=date(2019, 10, 20))
    assert (clash[0].edition, clash[0].year) == (9, None)


def test_shared_short_name_keeps_one_sense_through_the_article() -> None:
    title = "2021智博会人工智能专场活动举行"
    text = (
        "本次活动聚焦智能制造、智能网联汽车和智能家居等领域。\n"
        "主办方表示，已有来自30个国家和地区的企业报名参加智博会。\n"
        "智能终端展区面积较去年扩大一倍，智博会期间还将举办多场智能产业论坛。\n"
    )
    tags = tag_article(title, text, published=date(2021, 6, 1))
    assert summary(tags) == [(SCE, "primary", 4, 2021)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A generic noun with an edition marker refers to the article's own event.
        ("第五届世界智能大会在天津开幕。多家企业表示，已在筹备参加第六届大会。", [(5, 2021), (6, 2022)]),
        ("The World Intelligence Congress closed in Tianjin. Its 2022 edition will be larger.",
         [(6, 2022)]),
        # "the second session" may be any meeting: it names no edition.
        ("The World Intelligence Congress closed in Tianjin after the second session of its forum.",
         [(None, None)]),
    ],
)
def test_edition_phrases_without_the_name(text: str, expected: list) -> None:
    tags = tag_article("", text)
    assert sorted(((t.edition, t.year) for t in tags), key=str) == sorted(expected, key=str)
    assert {t.event for t in tags} == {CONGRESS}


def test_article_about_preparing_next_years_edition() -> None:
    title = "Tianjin starts work on next year's World Intelligence Congress"
    text = (
        "Only weeks after the doors closed, the organising committee met in Tianjin to begin "
        "preparing next year's edition of the World Intelligence Congress, which it wants to make "
        "more international."
    )
    tags = tag_article(title, text, published=date(2020, 9, 1))
    assert summary(tags) == [(CONGRESS, "primary", 5, 2021)]
    # Without a publication date "next year" cannot be placed.
    assert summary(tag_article(title, text)) == [(CONGRESS, "primary", None, None)]


def test_publication_date_is_the_fallback_year_with_lower_confidence() -> None:
    title = "World Internet Conference opens in Wuzhen"
    text = "Thousands of guests arrived in Wuzhen as the World Internet Conference opened on Wednesday."
    dated = tag_article(title, text, published=date(2018, 11, 7))
    undated = tag_article(title, text)
    assert summary(dated) == [(INTERNET, "primary", 5, 2018)]
    assert summary(undated) == [(INTERNET, "primary", None, None)]
    assert dated[0].confidence < undated[0].confidence
    assert any(e.kind == "published-date" for e in dated[0].evidence)


def test_written_year_beats_the_publication_year() -> None:
    tags = tag_article("Looking back at the 2019 SCE", "Organisers reviewed the 2019 SCE results.",
                       published=date(2021, 1, 5))
    assert summary(tags) == [(SCE, "primary", 2, 2019)]


def test_parenthesised_acronym_is_the_same_mention() -> None:
    tags = tag_article("", "The World Internet Conference (WIC) opened today in the town, organisers said.")
    assert summary(tags) == [(INTERNET, "primary", None, None)]
    assert len([e for e in tags[0].evidence if e.field == "text"]) == 1


def test_no_event_no_tags() -> None:
    assert tag_article("", "") == []
    assert tag_article("Weather", "Sunny spells in Tianjin and Wuzhen with light winds.") == []


ALL_ARTICLES = [CONGRESS_2021, EXPO_2024, WIMC_2020, INTERNET_2017, SCE_2019]


@pytest.mark.parametrize("article", ALL_ARTICLES, ids=lambda a: a["title"][:30])
def test_tags_are_frozen_serialisable_and_point_at_their_evidence(article: dict) -> None:
    tags = tag_article(article["title"], article["text"], published=article["published"])
    fields = {"title": article["title"], "text": article["text"]}
    for tag in tags:
        assert 0.0 < tag.confidence <= 1.0
        assert json.loads(json.dumps(tag.to_dict()))["event"] == tag.event
        for evidence in tag.evidence:
            if evidence.field in fields:
                assert fields[evidence.field][evidence.start:evidence.end] == evidence.match
    with pytest.raises(FrozenInstanceError):
        tags[0].year = 1999  # type: ignore[misc]
    assert TAGGER_VERSION


def test_primary_confidence_reflects_a_rival() -> None:
    alone = tag_article("", "The World Internet Conference opened in Wuzhen on Monday.")
    rival = tag_article(
        "", "The World Internet Conference opened in Wuzhen on Monday.\n\n"
            "Some guests came straight from the World Intelligence Congress, held in Tianjin last month."
    )
    assert primary_of(rival).event == INTERNET
    assert primary_of(rival).confidence < primary_of(alone).confidence


def test_default_taxonomy_is_the_builtin_one() -> None:
    title, text = CONGRESS_2021["title"], CONGRESS_2021["text"]
    assert tag_article(title, text) == tag_article(title, text, taxonomy=builtin_taxonomy())
