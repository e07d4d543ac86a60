"""Alerts: tell the user what is new, through Apprise channels (mail, webhooks, chat).

    rules.py     the alerts file (TOML): rules, channels, delivery policy; validated
    outbox.py    matching new articles and health changes into the outbox (replayable)
    messages.py  the text, HTML and JSON of one delivery
    channels.py  Apprise: checking a channel URL, hiding its secrets, sending one message
    delivery.py  sending through Apprise, retries with backoff, giving up
    service.py   AlertService: one pass (match, digest, deliver) for the CLI and the scheduler

See docs/alerts.md.
"""
