"""`friction config check FILE`: what a configuration will run, as a person reads it."""

from __future__ import annotations

import os
from dataclasses import asdict, fields

from friction_detector.detectors.alerts import AlertSettings
from friction_detector.detectors.config import Config, EngineSettings
from friction_detector.detectors.registry import installed_detectors
from friction_detector.streams.webhook.settings import WebhookSettings


def _value(current: object, default: object) -> str:
    shown = repr(current)
    return shown if current == default else f"{shown} (default {default!r})"


def describe(config: Config, alerts: AlertSettings) -> str:
    """Engine settings, enabled detectors with their effective parameters, and alert rules."""
    out = ["engine:"]
    defaults = asdict(EngineSettings())
    out += [f"  {k} = {_value(v, defaults[k])}" for k, v in asdict(config.engine).items()]
    enabled = {d.name: d for d in config.enabled}
    out.append(f"detectors enabled ({len(enabled)}):")
    for name, detector in enabled.items():
        out.append(f"  {name}")
        for pname, spec in type(detector).params.items():
            out.append(f"    {pname} = {_value(getattr(detector, pname), spec.default)}")
    disabled = [name for name in installed_detectors() if name not in enabled]
    out.append(f"detectors disabled ({len(disabled)}): {', '.join(disabled) or '-'}")
    labels = ", ".join(f"{name}={value}" for name, value in sorted(alerts.labels.items()))
    out.append(f"alert labels: {labels or '-'}")
    out.append(
        f"alert rules ({len(alerts.rules)}; bucket_s = {alerts.bucket_s}, "
        f"max_segments = {alerts.max_segments}):"
    )
    for rule in alerts.rules:
        off = "" if rule.detector in enabled else " (detector disabled: never fires)"
        out.append(
            f"  {rule.alertname}: {rule.detector} {rule.condition} > {rule.threshold:g} "
            f"over {rule.window_s} s for {rule.for_s} s, {rule.severity}{off}"
        )
    return "\n".join(out)


def describe_webhook(settings: WebhookSettings) -> str:
    """The `[webhook]` settings, and whether this environment holds the secret (never shown)."""
    defaults = WebhookSettings()
    out = ["webhook:"]
    for spec in fields(WebhookSettings):
        current = getattr(settings, spec.name)
        if isinstance(current, tuple):
            current = list(current) or "all"
        default = getattr(defaults, spec.name)
        if isinstance(default, tuple):
            default = list(default) or "all"
        out.append(f"  {spec.name} = {_value(current, default)}")
    found = "set" if os.environ.get(settings.secret_env) else "NOT SET: the worker will not start"
    out.append(f"  secret: from ${settings.secret_env} ({found} here)")
    if not settings.url:
        out.append("  url missing: the worker will not start; replay needs --webhook URL")
    return "\n".join(out)
