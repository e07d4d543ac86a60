"""`expowatch alerts`: the commands as real processes (a bad file, list, check, status)."""

from __future__ import annotations

import json

import pytest

from alert_receivers import WebhookReceiver
from storage.migrate import ensure_schema
from test_alerts_outbox import add_article

pytestmark = pytest.mark.integration  # a dozen CLI processes


def test_a_bad_alerts_file_is_one_clear_line_and_nothing_is_sent(tmp_path, sqlite_url, run_cli):
    ensure_schema(sqlite_url)
    add_article(sqlite_url, "Expo opens in Tianjin", "The expo opened in Tianjin today.")
    with WebhookReceiver() as hook:
        bad = tmp_path / "alerts.toml"
        bad.write_text(f'[[rule]]\nname = "good"\nchannels = ["{hook.url()}"]\n\n'
                       f'[[rule]]\nname = "typo"\nchannels = ["{hook.url("other")}"]\nmode = "daily"\n',
                       encoding="utf-8")
        for args in (("alerts", "send", "--once", "--backfill", "--db", sqlite_url), ("alerts", "list"),
                     ("alerts", "check", "good", "--db", sqlite_url), ("schedule", "--once", "--db", sqlite_url)):
            proc = run_cli(*args, "--alerts-file", str(bad))
            assert proc.returncode == 1, (args, proc.stderr)
            assert proc.stderr == (f"expowatch: error: {bad}: rule 'typo': key 'mode': must be one of each, digest, "
                                   f"got 'daily'\n"), args
        env_proc = run_cli("alerts", "send", "--once", "--db", sqlite_url, env={"EXPOWATCH_ALERTS": str(bad)})
        assert env_proc.returncode == 1 and "rule 'typo': key 'mode'" in env_proc.stderr
        assert hook.requests == []
    status = run_cli("alerts", "status", "--db", sqlite_url, check=True)
    assert status.stdout == "no alert deliveries yet\n"
    missing = run_cli("alerts", "list")
    assert missing.returncode == 1 and "--alerts-file" in missing.stderr


def test_list_check_and_status(tmp_path, sqlite_url, run_cli):
    ensure_schema(sqlite_url)
    first = add_article(sqlite_url, "Expo opens in Tianjin", "The expo opened in Tianjin today.")
    with WebhookReceiver() as hook:
        rules = tmp_path / "alerts.toml"
        rules.write_text(f'[[rule]]\nname = "tianjin"\nchannels = ["{hook.url()}", "mailto://u:s3cret@127.0.0.1:9'
                         f'?from=a@example.org&to=b@example.org"]\n[rule.match]\nquery = "Tianjin"\n', encoding="utf-8")
        args = ("--db", sqlite_url, "--alerts-file", str(rules))
        listed = json.loads(run_cli("alerts", "list", "--format", "json", "--alerts-file", str(rules), check=True).stdout)
        assert listed[0]["name"] == "tianjin" and listed[0]["kind"] == "each" and listed[0]["match"] == "'Tianjin'"
        assert "s3cret" not in json.dumps(listed)

        new_rule = run_cli("alerts", "check", "tianjin", *args, check=True).stdout
        assert "0 new matching stories (a new rule starts from now)" in new_rule
        backfill = run_cli("alerts", "check", "tianjin", "--backfill", *args, check=True).stdout
        assert "1 new matching story in the store" in backfill and "Expo opens in Tianjin" in backfill
        assert hook.requests == []  # a dry run sends nothing
        assert run_cli("alerts", "status", "--db", sqlite_url, check=True).stdout == "no alert deliveries yet\n"
        unknown = run_cli("alerts", "check", "nosuch", *args)
        assert unknown.returncode == 1 and "no rule 'nosuch'" in unknown.stderr

        sent = run_cli("alerts", "send", "--once", "--backfill", *args)  # the mail server is not there
        assert sent.returncode == 0 and len(hook.requests) == 1
        assert "(rule tianjin) to mailto://u:****@127.0.0.1:9/b%40example.org failed (try 1 of 8)" in sent.stderr
        assert "s3cret" not in sent.stderr
        assert hook.documents()[0]["articles"][0]["id"] == first
        status = json.loads(run_cli("alerts", "status", "--format", "json", "--db", sqlite_url, check=True).stdout)
        assert sorted((c["sent"], c["pending"]) for c in status["channels"]) == [(0, 1), (1, 0)]
        table = run_cli("alerts", "status", "--db", sqlite_url, check=True).stdout
        assert "tianjin" in table and "s3cret" not in table
