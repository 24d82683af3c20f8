"""`[webhook]`: where records go, which ones, how hard to try; checked before anything runs.

The signing secret never lives in the file: the table names the environment variable that
holds it (`secret_env`), and `secret()` reads it when the sink starts.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from friction_detector.detectors.config import ConfigError
from friction_detector.detectors.findings import SEVERITIES

RECORD_TYPES = ("finding", "outcome", "alert")
# Outcomes are asked for: a receiver written for findings and alerts gets what it expects.
DEFAULT_RECORD_TYPES = ("finding", "alert")
DEFAULT_SECRET_ENV = "FRICTION_WEBHOOK_SECRET"


@dataclass(frozen=True)
class WebhookSettings:
    """A validated `[webhook]` table; empty filter lists mean "all"."""

    url: str = ""
    secret_env: str = DEFAULT_SECRET_ENV
    record_types: tuple[str, ...] = DEFAULT_RECORD_TYPES
    detectors: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_severity: str = "info"
    timeout_s: float = 5.0
    max_attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    queue_size: int = 10_000
    batch_size: int = 100
    flush_timeout_s: float = 10.0

    def secret(self, environ: Mapping[str, str] = os.environ) -> bytes:
        """The HMAC key from `secret_env`; a missing or empty variable stops start-up."""
        value = environ.get(self.secret_env, "")
        if not value:
            raise ConfigError(
                f"webhook: environment variable {self.secret_env} (webhook.secret_env) is not "
                "set or empty: it must hold the secret that signs every delivery"
            )
        return value.encode()


_FLOATS = {"timeout_s": 0.001, "backoff_s": 0.0, "max_backoff_s": 0.0, "flush_timeout_s": 0.0}
_INTS = {"max_attempts": 1, "queue_size": 1, "batch_size": 1}
_LISTS = ("record_types", "detectors", "kinds")
_KEYS = tuple(f.name for f in fields(WebhookSettings))


def load_webhook_settings(
    raw: object, source: str = "configuration", detectors: Iterable[str] | None = None
) -> WebhookSettings | None:
    """The `[webhook]` table as settings, None when absent; `detectors` are the installed
    names a `detectors` filter may use (a misspelt name would silently match nothing)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [webhook] must be a table")
    if "secret" in raw:
        raise ConfigError(
            f"{source}: webhook.secret: the secret never goes in the file; put it in an "
            f"environment variable and name that variable in webhook.secret_env "
            f"(default {DEFAULT_SECRET_ENV})"
        )
    values: dict = {}
    for key, value in raw.items():
        if key not in _KEYS:
            near = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise ConfigError(f"{source}: unknown setting webhook.{key}{hint}")
        values[key] = _checked(key, value, source)
    settings = WebhookSettings(**values)
    _check_choices(settings, source, detectors)
    return settings


def _checked(key: str, value: object, source: str) -> object:
    where = f"{source}: webhook.{key}"
    if key in _FLOATS:
        if type(value) not in (int, float) or value < _FLOATS[key]:  # type: ignore[operator]
            low = _FLOATS[key]
            raise ConfigError(f"{where} must be a number {'>' if low else '>='} 0, got {value!r}")
        return float(value)  # type: ignore[arg-type]
    if key in _INTS:
        if type(value) is not int or value < _INTS[key]:
            raise ConfigError(f"{where} must be a whole number >= {_INTS[key]}, got {value!r}")
        return value
    if key in _LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where} must be a list of names, got {value!r}")
        return tuple(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def _check_choices(settings: WebhookSettings, source: str, detectors: Iterable[str] | None) -> None:
    if settings.url:
        check_url(settings.url, f"{source}: webhook.url")
    if not settings.secret_env:
        raise ConfigError(f"{source}: webhook.secret_env must name an environment variable")
    if settings.min_severity not in SEVERITIES:
        raise ConfigError(
            f"{source}: webhook.min_severity must be one of {', '.join(SEVERITIES)}, "
            f"got {settings.min_severity!r}"
        )
    unknown = sorted(set(settings.record_types) - set(RECORD_TYPES))
    if unknown or not settings.record_types:
        raise ConfigError(
            f"{source}: webhook.record_types must list some of {', '.join(RECORD_TYPES)}, "
            f"got {list(settings.record_types)!r}"
        )
    if detectors is not None:
        unknown = sorted(set(settings.detectors) - set(detectors))
        if unknown:
            raise ConfigError(
                f"{source}: webhook.detectors names unknown detector(s) {', '.join(unknown)}"
            )
    if settings.max_backoff_s < settings.backoff_s:
        raise ConfigError(
            f"{source}: webhook.max_backoff_s ({settings.max_backoff_s:g}) is below "
            f"webhook.backoff_s ({settings.backoff_s:g})"
        )


def check_url(url: str, where: str) -> str:
    """An http or https URL with a host; anything else is refused with `where` named."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} must be an http:// or https:// URL, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{where} has an invalid port: {url!r}") from None
    return url
