"""The webhook as the worker and replay use it: filter, shape and queue; close at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from friction_detector.detectors.alerts import Alert
from friction_detector.detectors.config import Config, ConfigError
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.outcomes import Outcome
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.webhook.metrics import WebhookMetrics
from friction_detector.streams.webhook.policy import RetryPolicy
from friction_detector.streams.webhook.records import (
    RecordFilter,
    alert_record,
    finding_record,
    outcome_record,
)
from friction_detector.streams.webhook.sender import WebhookSender
from friction_detector.streams.webhook.settings import (
    WebhookSettings,
    check_url,
    load_webhook_settings,
)
from prometheus_client import CollectorRegistry


class WebhookSink:
    """Hands findings, outcomes and alerts that pass the filter to the sender; never blocks,
    never raises into detection."""

    def __init__(self, settings: WebhookSettings, sender: WebhookSender) -> None:
        self.settings = settings
        self.filter = RecordFilter(settings)
        self.sender = sender

    @property
    def metrics(self) -> WebhookMetrics:
        return self.sender.metrics

    def findings(self, findings: Iterable[Finding]) -> None:
        wanted = self.filter.finding
        self.sender.offer(finding_record(f) for f in findings if wanted(f))

    def outcomes(self, outcomes: Iterable[Outcome]) -> None:
        wanted = self.filter.outcome
        self.sender.offer(outcome_record(o) for o in outcomes if wanted(o))

    def alerts(self, alerts: Iterable[Alert]) -> None:
        wanted = self.filter.alert
        self.sender.offer(alert_record(a) for a in alerts if wanted(a))

    def alert(self, alert: Alert) -> None:
        """One alert: the shape of replay's alert sink."""
        self.alerts((alert,))

    def close(self, progress: Callable[[int], None] | None = None) -> int:
        """Deliver what is queued within `flush_timeout_s`; returns how many records were not."""
        return self.sender.close(self.settings.flush_timeout_s, progress)


def webhook_settings(
    config: Config, source: str = "configuration", url: str | None = None
) -> WebhookSettings | None:
    """The configuration's `[webhook]`, its `url` replaced by `url` when given; None when
    there is no table and no `url`. A table without a URL is an error only once used."""
    raw = config.sections.get("webhook")
    settings = load_webhook_settings(raw, source, installed_detectors())
    if url:
        check_url(url, "--webhook")
        settings = replace(settings or WebhookSettings(), url=url)
    return settings


def open_webhook(
    settings: WebhookSettings,
    origin: str,
    registry: CollectorRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> WebhookSink:
    """Start the sender for `settings`; a missing URL or secret is a ConfigError."""
    if not settings.url:
        raise ConfigError("webhook: no URL: set webhook.url in the configuration")
    secret = settings.secret() if environ is None else settings.secret(environ)
    sender = WebhookSender(
        settings.url,
        secret,
        origin=origin,
        metrics=WebhookMetrics(registry),
        policy=RetryPolicy(settings.max_attempts, settings.backoff_s, settings.max_backoff_s),
        timeout_s=settings.timeout_s,
        queue_size=settings.queue_size,
        batch_size=settings.batch_size,
    )
    return WebhookSink(settings, sender)


def render_counts(sink: WebhookSink) -> str:
    """Lines for replay's summary: what reached the endpoint, what did not and why."""
    counts = sink.metrics.counts()
    records, dropped, posts = counts["records"], counts["dropped"], counts["deliveries"]
    out = [
        f"webhook {sink.settings.url}: {sum(records.values())} records delivered "
        f"({records['finding']} findings, {records['outcome']} outcomes, "
        f"{records['alert']} alerts) in "
        f"{posts['delivered']} POSTs, {posts['retried']} retried",
        f"  not delivered: {sum(dropped.values())}",
    ]
    out += [f"    {reason}: {n}" for reason, n in dropped.items() if n]
    return "\n".join(out)


def worker_webhook(config: Config, registry: CollectorRegistry) -> WebhookSink | None:
    """The worker's webhook, its metrics beside the worker's; None without `[webhook]`."""
    settings = webhook_settings(config)
    return None if settings is None else open_webhook(settings, "worker", registry)


def check_webhook(config: Config, source: str) -> WebhookSettings | None:
    """Everything a worker's webhook needs, checked before the worker starts: the table, a
    URL, and the secret in its environment variable."""
    settings = webhook_settings(config, source)
    if settings is not None:
        if not settings.url:
            raise ConfigError(f"{source}: webhook.url is required in [webhook]")
        settings.secret()
    return settings
