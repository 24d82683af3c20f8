"""Alerts: spikes of findings per segment, firing then resolved, in event time; no I/O here."""

from friction_detector.detectors.alerts.alert import Alert
from friction_detector.detectors.alerts.engine import AlertEngine
from friction_detector.detectors.alerts.rules import (
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
