"""Alert rules: what each rule watches and when it fires, read from the `[alerts]` TOML table.

Three conditions, each evaluated per (detector, segment) over a sliding event-time window:
- `rate`: findings per minute at or above `threshold`;
- `share`: findings divided by samples (the detector's measurements of the segment, plus findings
  of `sample_kinds` that are never measured, such as a missing email) at or above `threshold`;
- `baseline`: the rate at or above `threshold` times the segment's own learned usual rate, so a
  steady known level does not page.
Every rule has hysteresis: it fires after the condition held for `for_s` and resolves only after
the value stayed under the lower `resolve_below` for `resolve_after_s`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace

from friction_detector.detectors.findings import SEVERITIES

CONDITIONS = ("rate", "share", "baseline")
SEASONALITIES = ("none", "hour_of_week")
DEFAULT_BUCKET_S = 60
DEFAULT_RUNBOOK_BASE_URL = (
    "https://github.com/friction-detector/friction-detector/blob/main/docs/runbooks/"
)
DEFAULT_MAX_SEGMENTS = 1000
# The runbook of a rule that names none and is not a default rule (docs/runbooks/).
GENERIC_RUNBOOK = "friction-engine-alert"
_ALERTNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED_LABELS = {"alertname", "detector", "severity", "segment"}


class AlertConfigError(ValueError):
    """An `[alerts]` table that cannot run; the message names the key and the reason."""


@dataclass(frozen=True)
class AlertRule:
    """One rule; `threshold` is per minute (rate), a fraction (share) or a ratio (baseline)."""

    alertname: str
    detector: str
    condition: str
    threshold: float
    resolve_below: float
    kinds: tuple[str, ...] = ()
    measurement: str = ""
    sample_kinds: tuple[str, ...] = ()
    window_s: int = 600
    for_s: int = 120
    resolve_after_s: int = 300
    min_count: int = 1
    min_samples: int = 0
    severity: str = "warning"
    what: str = ""
    segment_name: str = "segment"
    runbook: str = ""
    labels: dict = field(default_factory=dict)
    half_life_s: int = 7200
    warmup_s: int = 3600
    baseline_floor: float = 0.2
    seasonality: str = "none"


@dataclass(frozen=True)
class AlertSettings:
    """The `[alerts]` table: bucket size, runbook base, and the rules by alertname."""

    rules: tuple[AlertRule, ...]
    bucket_s: int = DEFAULT_BUCKET_S
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    max_segments: int = DEFAULT_MAX_SEGMENTS
    # On every alert (`[alerts] labels`): where the alerts come from, so that Alertmanager's
    # inhibitions and routes keep one environment's pipeline to its own alerts.
    labels: dict = field(default_factory=dict)

    def runbook_url(self, rule: AlertRule) -> str:
        """`runbook` as given if it is a URL, else base + name + `.md`: the rule's `runbook`, a
        default rule's alertname in kebab case, or the generic runbook for any other rule."""
        name = rule.runbook or (
            runbook_name(rule.alertname)
            if rule.alertname in {r.alertname for r in DEFAULT_RULES}
            else GENERIC_RUNBOOK
        )
        if "://" in name:
            return name
        return self.runbook_base_url + name + ".md"


def runbook_name(alertname: str) -> str:
    """`FrictionResetEmailsDelayed` -> `friction-reset-emails-delayed`, as Prometheus's rules."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", alertname).lower()


# The documented defaults (docs/alerts.md); `[alerts.rules.<alertname>]` overrides any key.
DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        alertname="FrictionCheckoutSlowLoads",
        detector="slow_checkout",
        condition="share",
        kinds=("slow_load",),
        measurement="checkout_load",
        threshold=0.10,
        resolve_below=0.05,
        window_s=600,
        for_s=300,
        resolve_after_s=600,
        min_count=5,
        min_samples=50,
        severity="warning",
        what="Slow checkout page loads",
        segment_name="page group",
    ),
    AlertRule(
        alertname="FrictionResetEmailsDelayed",
        detector="late_reset_email",
        condition="share",
        kinds=("late", "missing"),
        measurement="reset_email_delay",
        sample_kinds=("missing",),
        threshold=0.20,
        resolve_below=0.10,
        window_s=600,
        for_s=120,
        resolve_after_s=600,
        min_count=5,
        min_samples=10,
        severity="critical",
        what="Password-reset emails late or missing",
        segment_name="template",
    ),
    AlertRule(
        alertname="FrictionChatWaitsLong",
        detector="long_chat_wait",
        condition="share",
        kinds=("slow_response", "unanswered"),
        measurement="chat_first_response",
        sample_kinds=("unanswered",),
        threshold=0.25,
        resolve_below=0.15,
        window_s=900,
        for_s=300,
        resolve_after_s=600,
        min_count=5,
        min_samples=10,
        severity="warning",
        what="Chats waiting too long for a first agent reply",
        segment_name="queue",
    ),
    AlertRule(
        alertname="FrictionFormResubmitSpike",
        detector="repeated_form_submission",
        condition="baseline",
        kinds=("repeated_submit",),
        threshold=3.0,
        resolve_below=1.5,
        window_s=900,
        for_s=300,
        resolve_after_s=900,
        min_count=10,
        severity="warning",
        what="Customers resubmitting a form again and again",
        segment_name="form",
        half_life_s=6 * 3600,
        warmup_s=3600,
        baseline_floor=0.2,
    ),
)

_TUPLE_KEYS = {"kinds", "sample_kinds"}
_INT_KEYS = {
    "window_s": 1,
    "for_s": 0,
    "resolve_after_s": 0,
    "min_count": 1,
    "min_samples": 0,
    "half_life_s": 1,
    "warmup_s": 0,
}
_FLOAT_KEYS = {"threshold", "resolve_below", "baseline_floor"}
_STR_KEYS = {"detector", "condition", "measurement", "severity", "what", "segment_name"}
_STR_KEYS |= {"runbook", "seasonality"}
_RULE_KEYS = {f.name for f in fields(AlertRule)} - {"alertname"}


def load_alert_settings(
    raw: dict | None,
    source: str = "configuration",
    measurements: Mapping[str, Collection[str]] | None = None,
) -> AlertSettings:
    """Validate the `[alerts]` table (None or {} gives the defaults) with errors naming the key.

    `measurements` are the installed detectors' declared measurement names, by detector name:
    given, a rule that names another detector or measurement is refused, since it would never
    fire. Kinds are not checked: a detector does not declare the kinds it emits.
    """
    raw = dict(raw or {})
    where = f"{source}: alerts"
    bucket_s = _int(raw.pop("bucket_s", DEFAULT_BUCKET_S), f"{where}.bucket_s", 1)
    max_segments = _int(raw.pop("max_segments", DEFAULT_MAX_SEGMENTS), f"{where}.max_segments", 1)
    base = raw.pop("runbook_base_url", DEFAULT_RUNBOOK_BASE_URL)
    if not isinstance(base, str):
        raise AlertConfigError(f"{where}.runbook_base_url must be a string")
    use_defaults = raw.pop("default_rules", True)
    if not isinstance(use_defaults, bool):
        raise AlertConfigError(f"{where}.default_rules must be true or false")
    labels = _labels(raw.pop("labels", {}), f"{where}.labels")
    tables = raw.pop("rules", {})
    if raw:
        raise AlertConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(raw))}; known: bucket_s, max_segments, "
            "runbook_base_url, default_rules, labels, rules"
        )
    if not isinstance(tables, dict):
        raise AlertConfigError(f"{where}.rules must be a table of [alerts.rules.<alertname>]")
    rules = {r.alertname: r for r in DEFAULT_RULES} if use_defaults else {}
    for alertname, table in tables.items():
        key = f"{where}.rules.{alertname}"
        if not _ALERTNAME.match(alertname):
            raise AlertConfigError(f"{key}: an alertname is letters, digits and _")
        if not isinstance(table, dict):
            raise AlertConfigError(f"{key} must be a table")
        table = dict(table)
        enabled = table.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise AlertConfigError(f"{key}.enabled must be true or false")
        if not enabled:
            rules.pop(alertname, None)
            continue
        rules[alertname] = _rule(alertname, table, rules.get(alertname), key)
    for rule in rules.values():
        if rule.window_s % bucket_s:
            raise AlertConfigError(
                f"{where}.rules.{rule.alertname}.window_s ({rule.window_s}) must be a multiple "
                f"of alerts.bucket_s ({bucket_s})"
            )
        if measurements is not None:
            _check_names(rule, f"{where}.rules.{rule.alertname}", measurements)
    return AlertSettings(
        rules=tuple(rules.values()),
        bucket_s=bucket_s,
        runbook_base_url=base,
        max_segments=max_segments,
        labels=labels,
    )


def _rule(alertname: str, table: dict, base: AlertRule | None, key: str) -> AlertRule:
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise AlertConfigError(
            f"{key}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_RULE_KEYS))}"
        )
    values: dict = {}
    for name, value in table.items():
        where = f"{key}.{name}"
        if name in _TUPLE_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise AlertConfigError(f"{where} must be a list of strings, got {value!r}")
            values[name] = tuple(value)
        elif name in _INT_KEYS:
            values[name] = _int(value, where, _INT_KEYS[name])
        elif name in _FLOAT_KEYS:
            if type(value) not in (int, float) or value < 0:
                raise AlertConfigError(f"{where} must be a number >= 0, got {value!r}")
            values[name] = float(value)
        elif name in _STR_KEYS:
            if not isinstance(value, str):
                raise AlertConfigError(f"{where} must be a string, got {value!r}")
            values[name] = value
        elif name == "labels":
            values[name] = _labels(value, where)
    if base is not None:
        rule = replace(base, **values)
    else:
        missing = [k for k in ("detector", "condition", "threshold") if k not in values]
        if missing:
            raise AlertConfigError(f"{key}: a new rule needs {', '.join(missing)}")
        if "resolve_below" not in values:
            values["resolve_below"] = values["threshold"] / 2
        rule = AlertRule(alertname=alertname, **values)
    _check(rule, key)
    return rule


def _check(rule: AlertRule, key: str) -> None:
    if rule.condition not in CONDITIONS:
        raise AlertConfigError(
            f"{key}.condition must be one of {', '.join(CONDITIONS)}, got {rule.condition!r}"
        )
    if rule.severity not in SEVERITIES:
        raise AlertConfigError(
            f"{key}.severity must be one of {', '.join(SEVERITIES)}, got {rule.severity!r}"
        )
    if rule.seasonality not in SEASONALITIES:
        raise AlertConfigError(
            f"{key}.seasonality must be one of {', '.join(SEASONALITIES)}, got {rule.seasonality!r}"
        )
    if rule.resolve_below > rule.threshold:
        raise AlertConfigError(
            f"{key}.resolve_below ({rule.resolve_below:g}) must not exceed threshold "
            f"({rule.threshold:g}): the gap between them stops flapping"
        )
    if rule.condition == "share":
        if not rule.measurement and not rule.sample_kinds:
            raise AlertConfigError(
                f"{key}: a share rule needs a measurement or sample_kinds to count samples"
            )
        if rule.threshold > 1:
            raise AlertConfigError(f"{key}.threshold of a share rule is a fraction (0..1)")
    if not rule.detector:
        raise AlertConfigError(f"{key}.detector must name a detector")


def _check_names(rule: AlertRule, key: str, measurements: Mapping[str, Collection[str]]) -> None:
    """A detector that is not installed, or a measurement it does not declare, never counts."""
    if rule.detector not in measurements:
        raise AlertConfigError(
            f"{key}.detector: unknown detector {rule.detector!r}; installed: "
            f"{', '.join(sorted(measurements))}"
        )
    declared = measurements[rule.detector]
    if rule.measurement and rule.measurement not in declared:
        raise AlertConfigError(
            f"{key}.measurement: detector {rule.detector!r} declares no measurement "
            f"{rule.measurement!r}; it declares: {', '.join(sorted(declared)) or 'none'}"
        )


def _labels(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise AlertConfigError(f"{where} must be a table of strings")
    for name, label in value.items():
        if not _LABEL_NAME.match(name) or name in _RESERVED_LABELS:
            raise AlertConfigError(f"{where}.{name}: not a label name the configuration may set")
        if not isinstance(label, str):
            raise AlertConfigError(f"{where}.{name} must be a string, got {label!r}")
        if not label:
            # Alertmanager reads an empty label as an absent one.
            raise AlertConfigError(f"{where}.{name} must not be empty")
    return dict(value)


def _int(value: object, where: str, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise AlertConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value
