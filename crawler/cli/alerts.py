"""`expowatch alerts ...`: alert rules (--alerts-file), a dry run, sending, and delivery status."""

from __future__ import annotations

import json
import logging
import signal
import threading
from datetime import datetime, timezone
from typing import Annotated

import typer

from crawler.cli.app import DbOption, SourcesFileOption, app, fail, open_store, redact
from crawler.cli.output import ListFormat

alerts_app = typer.Typer(help="Alerts: new matching articles and source health, sent through Apprise.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

AlertsFileOption = Annotated[
    str | None,
    typer.Option("--alerts-file", envvar="EXPOWATCH_ALERTS", show_envvar=True,
                 help="TOML file of \\[\\[rule]] alert rules (see docs/alerts.md)."),
]
DEFAULT_INTERVAL = 60.0  # seconds between passes of `alerts send` when nothing falls due sooner
FAILED_SHOWN = 20  # failed deliveries listed by `alerts status`


def load_alerts(alerts_file: str | None):
    """The validated alerts file, or one clear error naming file, rule and key (exit 1)."""
    from crawler.alerts.rules import AlertsFileError, alerts_path, load_alerts_file

    path = alerts_path(alerts_file)
    if path is None:
        fail("no alerts file: give --alerts-file FILE or set EXPOWATCH_ALERTS")
    try:
        return load_alerts_file(path)
    except AlertsFileError as exc:
        fail(str(exc))


def alert_service(db_url: str, alerts_file: str | None, sources_file: str | None):
    """An AlertService for the CLI and the scheduler (one clear error for a bad file)."""
    from crawler.alerts.service import AlertService
    from crawler.cli.sources import load_registry

    config = load_alerts(alerts_file)
    registry = load_registry(sources_file) if any(r.health for r in config.rules) else {}
    return AlertService(db_url, config, registry)


@alerts_app.command("list")
def list_rules(
    alerts_file: AlertsFileOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the alert rules: what each matches, how it sends (each, digest + cron, health), where."""
    from crawler.alerts.channels import redact_channel

    config = load_alerts(alerts_file)
    rows = [{"name": r.name, "kind": r.kind, "match": "source health" + (
                 f" of {', '.join(r.match.sources)}" if r.match.sources else "") if r.health else r.match.describe(),
             "cron": r.cron, "timezone": r.timezone, "channels": [redact_channel(c) for c in r.channels]}
            for r in config.rules]
    if fmt is ListFormat.json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo(f"no rules in {config.path}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("rule", "sends", "matches", "channels", highlight=False)
    for row in rows:
        sends = row["kind"] + (f" at {row['cron']!r} ({row['timezone']})" if row["cron"] else "")
        table.add_row(row["name"], sends, row["match"], "\n".join(row["channels"]))
    Console(soft_wrap=False).print(table, markup=False)


@alerts_app.command()
def check(
    rule: Annotated[str, typer.Argument(help="The rule's name.")],
    alerts_file: AlertsFileOption = None,
    sources_file: SourcesFileOption = None,
    backfill: Annotated[bool, typer.Option(help="As a new rule would with --backfill: every stored article.")] = False,
    db: DbOption = None,
) -> None:
    """Dry run: what RULE would send now (new matches, deliveries waiting); sends and changes nothing."""
    from crawler.alerts import outbox
    from crawler.alerts.channels import redact_channel
    from crawler.alerts.messages import render
    from crawler.alerts.outbox import channel_key, delivery_id
    from storage.engine import session_factory

    config = load_alerts(alerts_file)
    chosen = config.rule(rule)
    if chosen is None:
        fail(f"no rule {rule!r} in {config.path} (rules: {', '.join(r.name for r in config.rules) or 'none'})")
    url = open_store(db)
    now = datetime.now(timezone.utc)
    with session_factory(url, for_writing=False)() as session:
        pending = session.execute(outbox.select_rule_rows(chosen.name)).scalars().all()
        if chosen.health:
            _check_health(chosen, url, sources_file, session)
        else:
            state = outbox.rule_state(session, chosen.name)
            start = state.last_article_id if state else (0 if backfill else outbox.newest_article_id(session))
            ids = outbox.new_matches(session, chosen, start, outbox.newest_article_id(session))
            where = "since its last match" if state else ("in the store" if backfill else "(a new rule starts from now)")
            typer.echo(f"rule {chosen.name}: {len(ids)} new matching stor{'y' if len(ids) == 1 else 'ies'} {where}")
            for channel in chosen.channels:
                key = channel_key(channel)
                if chosen.mode == "digest":
                    waiting = [r.article_id for r in pending if r.channel == key and r.status == "waiting"] + ids
                    due = outbox.next_digest_at(chosen, state, now) if state else None
                    when = f"due {due.isoformat(timespec='seconds')}" if due else "first cron slot after registration"
                    typer.echo(f"-> {redact_channel(channel)}: a digest of {len(waiting)} article(s), {when}")
                    messages = [render(session, delivery_id=delivery_id(chosen.name, key, "digest:(next)"), rule=chosen,
                                       kind="digest", article_id=None, payload={"articles": waiting})] if waiting else []
                else:
                    messages = [render(session, delivery_id=delivery_id(chosen.name, key, f"story:{i}"), rule=chosen,
                                       kind="article", article_id=i, payload={}) for i in ids]
                    typer.echo(f"-> {redact_channel(channel)}: {len(messages)} message(s)")
                for message in messages:
                    if message is not None:
                        typer.echo(f"\nSubject: {message.subject}\n{message.text}\n")
        for row in pending:
            if row.status == "pending":
                typer.echo(f"waiting to be sent: {row.kind} {row.item} -> {row.channel_label} "
                           f"(tries {row.tries}, next {row.next_try_at.isoformat(timespec='seconds')})")


def _check_health(rule, url, sources_file, session) -> None:
    from crawler.alerts.outbox import health_change
    from crawler.cli.sources import load_registry
    from scheduler.monitor import health_report
    from storage.models import AlertHealthState

    registry = load_registry(sources_file)
    wanted = set(rule.match.sources)
    report = health_report(url, [s for s in registry.values() if s.enabled and (not wanted or s.name in wanted)])
    for health in report:
        state = session.get(AlertHealthState, (rule.name, health.source))
        told = state.status if state else None
        change = health_change(told, health.status)
        verdict = f"would send: {'turned unhealthy' if change == 'unhealthy' else change}" if change else "no message"
        typer.echo(f"{health.source}: {health.status} (last told: {told or 'nothing'}): {verdict}")
        for problem in health.problems:
            typer.echo(f"  {problem}")


@alerts_app.command()
def send(
    once: Annotated[bool, typer.Option("--once", help="One pass (match, digests due, send what is due) and exit: "
                                                      "for system cron.")] = False,
    backfill: Annotated[bool, typer.Option(help="A rule seen for the first time alerts on every stored article, "
                                                "not only those stored from now on.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Without --once: seconds between passes at most.")]
        = DEFAULT_INTERVAL,
    alerts_file: AlertsFileOption = None,
    sources_file: SourcesFileOption = None,
    db: DbOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each pass's summary even with --once in cron.")]
        = False,
) -> None:
    """Send alerts: new matching articles, digests on their cron, source health changes.

    Without --once: keeps passing (retries fall due, digests on their cron) until
    SIGTERM / SIGINT. Exits 1 when a delivery was given up on in this run.
    """
    from sqlalchemy.exc import OperationalError

    from crawler.cli.schedule import configure_logging

    url = open_store(db, writable=True)
    service = alert_service(url, alerts_file, sources_file)
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    configure_logging(verbose, once=once)  # each failed try is a warning line; each pass an info line
    failed = 0
    try:
        while True:
            report = service.run_pass(backfill=backfill)
            failed += report.delivery.failed
            logging.getLogger("expowatch.alerts").info("alerts: %s", report.summary())
            if once or stop.is_set():
                break
            wakeup = service.next_wakeup()
            wait = interval if wakeup is None else (wakeup - datetime.now(timezone.utc)).total_seconds()
            stop.wait(max(0.05, min(interval, wait)))
            if stop.is_set():
                break
    except OperationalError as exc:
        fail(f"the store {redact(url)} failed: {exc.orig}")
    if failed:
        fail(f"{failed} alert deliver{'y' if failed == 1 else 'ies'} given up on (see `expowatch alerts status`)")


@alerts_app.command()
def status(
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """Deliveries per rule and channel: pending, waiting for a digest, sent, failed; and the failures."""
    from crawler.alerts import outbox
    from storage.engine import session_factory

    url = open_store(db)
    with session_factory(url, for_writing=False)() as session:
        counts = outbox.status_counts(session)
        failures = outbox.failed_deliveries(session, FAILED_SHOWN)
    if fmt is ListFormat.json:
        typer.echo(json.dumps({
            "channels": [c.__dict__ for c in counts],
            "failed": [{"delivery_id": f.delivery_id, "rule": f.rule, "channel": f.channel_label, "kind": f.kind,
                        "item": f.item, "tries": f.tries, "last_error": f.last_error} for f in failures],
        }, indent=2, ensure_ascii=False))
        return
    if not counts:
        typer.echo("no alert deliveries yet")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("rule", "channel", "pending", "waiting", "sent", "failed", highlight=False)
    for c in counts:
        table.add_row(c.rule, c.channel, str(c.pending), str(c.waiting), str(c.sent),
                      f"[red]{c.failed}[/]" if c.failed else "0")
    console = Console(soft_wrap=False)
    console.print(table)
    for f in failures:
        console.print(f"failed: {f.rule} -> {f.channel_label}: {f.kind} {f.item} after {f.tries} tries "
                      f"(delivery {f.delivery_id}): {f.last_error}", markup=False)
