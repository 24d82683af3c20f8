"""The configuration file: which detectors run, their parameters, and the engine's settings."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from friction_detector.detectors.alerts import AlertConfigError, load_alert_settings
from friction_detector.detectors.api import Detector, FindingDetector
from friction_detector.detectors.engine import DEFAULT_ALLOWED_LATENESS_MS, DEFAULT_DEDUP_HORIZON_MS
from friction_detector.detectors.events import (
    DEFAULT_MAX_ATTRS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_FUTURE_MS,
    DEFAULT_MAX_STRING_CHARS,
    MAX_DEPTH_CEILING,
    EventDecoder,
)
from friction_detector.detectors.registry import installed_detectors
from friction_detector.detectors.schema import CONTRACT_TYPES, merge_schemas

# The file's top-level tables; anything else is a mistake, most often a misspelling.
TABLES = ("alerts", "detectors", "engine", "webhook")


class ConfigError(Exception):
    """A configuration that cannot run; the message says which key and why."""


@dataclass
class EngineSettings:
    allowed_lateness_ms: int = DEFAULT_ALLOWED_LATENESS_MS
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS
    max_depth: int = DEFAULT_MAX_DEPTH
    max_attrs: int = DEFAULT_MAX_ATTRS
    max_string_chars: int = DEFAULT_MAX_STRING_CHARS


@dataclass
class Config:
    """A validated configuration: settings plus the sections other parts read (`alerts`,
    `webhook`: the runtimes check the latter, streams/webhook/settings.py)."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    detectors: list[Detector] = field(default_factory=list)  # over events
    sections: dict = field(default_factory=dict)
    finding_detectors: list[Detector] = field(default_factory=list)  # over findings

    @property
    def enabled(self) -> list[Detector]:
        """Every enabled detector, over events and over findings."""
        return self.detectors + self.finding_detectors

    def decoder(self) -> EventDecoder:
        schemas = merge_schemas([CONTRACT_TYPES] + [d.consumes for d in self.detectors])
        engine = self.engine
        return EventDecoder(
            schemas,
            engine.max_event_bytes,
            max_future_ms=engine.max_future_ms,
            max_depth=engine.max_depth,
            max_attrs=engine.max_attrs,
            max_string_chars=engine.max_string_chars,
        )


def load_config(path: Path | None) -> Config:
    """Read and validate the whole of `path` (TOML), `[alerts]` included, before anything runs;
    None gives every installed detector with its defaults."""
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {path}") from None
        except OSError as err:
            raise ConfigError(f"cannot read configuration file {path}: {err.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
    source = str(path or "defaults")
    config = build_config(raw, source=source)
    measurements = {name: list(cls.measurements) for name, cls in installed_detectors().items()}
    try:
        load_alert_settings(config.sections.get("alerts"), source, measurements)
    except AlertConfigError as err:
        raise ConfigError(str(err)) from None
    return config


def build_config(raw: dict, source: str = "configuration") -> Config:
    """Validate an already parsed configuration (`[alerts]` is checked by `load_config`)."""
    _check_tables(raw, source)
    engine = _engine_settings(raw.get("engine", {}), source)
    sections = {k: v for k, v in raw.items() if k not in ("engine", "detectors")}
    available = installed_detectors()
    if not isinstance(raw.get("detectors", {}), dict):
        raise ConfigError(f"{source}: [detectors] must be a table")
    wanted = dict(raw.get("detectors", {}))
    only = wanted.pop("enable", None)
    if only is not None and (
        not isinstance(only, list) or not all(isinstance(name, str) for name in only)
    ):
        raise ConfigError(f"{source}: detectors.enable must be a list of detector names")
    unknown = sorted((set(wanted) | set(only or ())) - set(available))
    if unknown:
        raise ConfigError(
            f"{source}: unknown detector(s) {', '.join(unknown)}; installed: {', '.join(available)}"
        )
    detectors: list[Detector] = []
    finding_detectors: list[Detector] = []
    for name, cls in available.items():
        if not isinstance(wanted.get(name, {}), dict):
            raise ConfigError(f"{source}: [detectors.{name}] must be a table")
        overrides = dict(wanted.get(name, {}))
        enabled = overrides.pop("enabled", only is None or name in only)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{source}: detectors.{name}.enabled must be true or false")
        if not enabled:
            continue
        try:
            detector = cls(**overrides)
        except ValueError as err:
            raise ConfigError(f"{source}: detectors.{err}") from None
        (finding_detectors if isinstance(detector, FindingDetector) else detectors).append(detector)
    if not detectors and not finding_detectors:
        raise ConfigError(f"{source}: no detector is enabled")
    if not detectors:
        names = ", ".join(d.name for d in finding_detectors)
        raise ConfigError(
            f"{source}: only detectors over findings are enabled ({names}): they read the"
            " findings of detectors over events"
        )
    return Config(
        engine=engine, detectors=detectors, sections=sections, finding_detectors=finding_detectors
    )


def _check_tables(raw: dict, source: str) -> None:
    for name in raw:
        if name in TABLES:
            continue
        what = f"table [{name}]" if isinstance(raw[name], dict) else f"key {name}"
        near = difflib.get_close_matches(name, TABLES, n=1, cutoff=0.6)
        hint = f"; did you mean [{near[0]}]?" if near else ""
        raise ConfigError(f"{source}: unknown {what}{hint} (known: {', '.join(TABLES)})")


def _engine_settings(raw: dict, source: str) -> EngineSettings:
    settings = EngineSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [engine] must be a table")
    for key, value in raw.items():
        if not hasattr(settings, key):
            raise ConfigError(f"{source}: unknown setting engine.{key}")
        if type(value) is not int or value < 0:
            raise ConfigError(
                f"{source}: engine.{key} must be a non-negative integer, got {value!r}"
            )
        setattr(settings, key, value)
    if settings.max_depth > MAX_DEPTH_CEILING:
        raise ConfigError(
            f"{source}: engine.max_depth must be at most {MAX_DEPTH_CEILING}, got"
            f" {settings.max_depth}: deeper events could not be written on to the next stage"
        )
    return settings
