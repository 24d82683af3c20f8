"""Alerts: spikes of findings per segment, firing then resolved, in event time; no I/O here."""

from detectors.alerts.alert import Alert
from detectors.alerts.engine import AlertEngine
from detectors.alerts.rules import (
    DEFAULT_RULES,
    AlertConfigError,
    AlertRule,
    AlertSettings,
    load_alert_settings,
)

__all__ = [
    "DEFAULT_RULES",
    "Alert",
    "AlertConfigError",
    "AlertEngine",
    "AlertRule",
    "AlertSettings",
    "load_alert_settings",
]
