"""The alerts file: every mistake is one clear error naming the file, the rule and the key."""

from __future__ import annotations

import pytest

from crawler.alerts.rules import AlertsFileError, DeliveryPolicy, load_alerts_file, parse_alerts

GOOD_CHANNEL = "json://127.0.0.1:9/hook"


def rule(body: str, name: str = "wie-news") -> str:
    return f'[[rule]]\nname = "{name}"\nchannels = ["{GOOD_CHANNEL}"]\n{body}\n'


def test_a_full_file_is_read():
    config = parse_alerts("""
[delivery]
max_tries = 3
backoff_seconds = 5

[[rule]]
name = "wie-news"
channels = ["json://127.0.0.1:9/hook", "mailto://127.0.0.1:2525?from=a@example.org&to=b@example.org"]
mode = "digest"
cron = "0 8 * * 1-5"
timezone = "Asia/Shanghai"
[rule.match]
query = 'robot OR 机器人 -"press conference"'
event = "World-Intelligence-Expo"
year = 2024
sources = ["wic-tianjin", "prwire"]
language = ["en", "zh"]

[[rule]]
name = "broken"
health = true
channels = ["json://127.0.0.1:9/health"]
match = { sources = ["wic-tianjin"] }
""", where="alerts.toml")
    wie, broken = config.rules
    assert wie.kind == "digest" and wie.cron == "0 8 * * 1-5" and wie.timezone == "Asia/Shanghai"
    query = wie.match.search_query()
    assert query.events == ("world-intelligence-expo",) and query.years == (2024,)
    assert query.sources == ("wic-tianjin", "prwire") and query.languages == ("en", "zh")
    assert query.limit is None and not query.all_copies  # one row per story
    assert broken.kind == "health" and broken.match.sources == ("wic-tianjin",)
    assert config.delivery == DeliveryPolicy(max_tries=3, backoff_seconds=5.0)


@pytest.mark.parametrize("body, key, words", [
    ('colour = "red"', "colour", "unknown key"),
    ('mode = "weekly"', "mode", "each, digest"),
    ('mode = "digest"', "cron", "needs cron"),
    ('mode = "digest"\ncron = "61 * * * *"', "cron", "bad cron"),
    ('cron = "0 8 * * *"', "cron", "only a digest rule"),
    ('timezone = "Mars/Olympus"', "timezone", "unknown time zone"),
    ('health = "yes"', "health", "true or false"),
    ('health = true\nmode = "digest"\ncron = "0 8 * * *"', "mode", "each change"),
    ('match = { colour = "red" }', "match.colour", "unknown key"),
    ('match = { year = 2024 }', "match.year", "needs match.event"),
    ('match = { event = "smart-china-expo", edition = 0 }', "match.edition", "positive whole number"),
    ('match = { query = 5 }', "match.query", "search syntax"),
    ('match = { sources = [1] }', "match.sources", "list of strings"),
    ('health = true\nmatch = { query = "x" }', "match.query", "sources only"),
    ('match = "robot"', "match", "must be a table"),
])
def test_a_bad_rule_names_file_rule_and_key(body, key, words):
    with pytest.raises(AlertsFileError) as raised:
        parse_alerts(rule(body), where="/etc/expowatch/alerts.toml")
    message = str(raised.value)
    assert message.startswith("/etc/expowatch/alerts.toml: rule 'wie-news': ")
    assert f"key {key!r}" in message and words in message


@pytest.mark.parametrize("channels, words", [
    ("[]", "one or more Apprise URLs"),
    ('"json://x"', "one or more Apprise URLs"),
    ('["nosuchscheme://host"]', "Apprise cannot use"),
    ('["just-text"]', "not an Apprise URL"),
    (f'["{GOOD_CHANNEL}", "{GOOD_CHANNEL}"]', "listed twice"),
])
def test_bad_channels_are_named(channels, words):
    text = f'[[rule]]\nname = "r1"\nchannels = {channels}\n'
    with pytest.raises(AlertsFileError, match=rf"^f\.toml: rule 'r1': key 'channels': .*{words}"):
        parse_alerts(text, where="f.toml")


def test_a_channel_password_never_appears_in_an_error():
    text = '[[rule]]\nname = "r1"\nchannels = ["mailto://user:s3cret@"]\n'
    with pytest.raises(AlertsFileError) as raised:
        parse_alerts(text, where="f.toml")
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("text, words", [
    ("[[rule]]\nchannels = []\n", "rule without a name: key 'name'"),
    ('[[rule]]\nname = "Bad Name"\n', "key 'name': required"),
    (rule("") + rule("", name="wie-news"), "rule 'wie-news': key 'name': duplicate rule name"),
    ("rule = 5\n", "'rule' must be an array of tables"),
    ("[[rules]]\nname = 'x'\n", "unknown top-level key 'rules'"),
    ("[[rule]\n", "not valid TOML"),
    ("[delivery]\nmax_tries = 0\n", "[delivery]: key 'max_tries'"),
    ("[delivery]\nbackoff = 1\n", "[delivery]: key 'backoff': unknown key"),
])
def test_file_level_mistakes(text, words):
    with pytest.raises(AlertsFileError) as raised:
        parse_alerts(text, where="f.toml")
    assert str(raised.value).startswith("f.toml: ") and words in str(raised.value)


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(AlertsFileError, match=r"missing\.toml: cannot read alerts file"):
        load_alerts_file(tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes(b'[[rule]]\nname = "caf\xe9"\n')
    with pytest.raises(AlertsFileError, match=r"latin1\.toml: not UTF-8"):
        load_alerts_file(tmp_path / "latin1.toml")


def test_backoff_doubles_and_is_capped():
    policy = DeliveryPolicy(max_tries=30, backoff_seconds=10)
    assert [policy.delay_after(n) for n in (1, 2, 3)] == [10, 20, 40]
    assert policy.delay_after(30) == 6 * 3600
