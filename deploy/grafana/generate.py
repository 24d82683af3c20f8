"""Generate the Grafana dashboards in deploy/grafana/dashboards/ from code.

    python deploy/grafana/generate.py          # rewrite the JSON files
    python deploy/grafana/generate.py --check  # exit 1 if a committed file differs

The JSON is committed so that Grafana's file provisioning (and a user without Python) can load it;
this script is the source. Queries use the recording rules of deploy/prometheus/ where one exists.

Workers are chosen with the `job`, `instance` and `detector` variables, filled from the series
the workers export, never from one job name: the same dashboards serve a static scrape config,
annotations and a ServiceMonitor (docs/deploy.md). `up` is taken of targets with the
`friction_pipeline` label, which every scrape path sets. Each detector that declares a
measurement gets a row of its distribution, its p75 by segment and its findings per minute,
from the declaration itself, so a new measured detector gets its row by regenerating.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

from friction_detector.detectors import Detector, Measurement
from grafana_foundation_sdk.builders import heatmap, stat, table, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    GraphDrawStyle,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    VariableHide,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.heatmap import HeatmapColorMode, HeatmapColorScale
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
# The workers the variables select: every query of a worker's series carries it.
WORKERS = 'job=~"$job", instance=~"$instance"'
DETECTOR = 'detector=~"$detector"'
RUNBOOKS = "https://github.com/friction-detector/friction-detector/tree/main/docs/runbooks"
# Detectors with a row of their own, written by hand, on the overview dashboard.
CONTRACT_DETECTORS = ("slow_checkout", "late_reset_email", "long_chat_wait")

Panel = timeseries.Panel | heatmap.Panel | stat.Panel | table.Panel


# -- building blocks --------------------------------------------------------------------------


def query(expr: str, legend: str = "", ref_id: str = "A") -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref_id).datasource(DATASOURCE)
    return q.legend_format(legend) if legend else q


def instant_table_query(expr: str) -> prom.Dataquery:
    return query(expr).instant().format(PromQueryFormat.TABLE)


def thresholds(base: str, *steps: tuple[float, str]) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps(
            [Threshold(value=None, color=base)] + [Threshold(value=v, color=c) for v, c in steps]
        )
    )


def graph(
    title: str,
    description: str,
    targets: Iterable[prom.Dataquery],
    unit: str = "short",
    width: int = 8,
    stacked: bool = False,
    limit: float | None = None,
) -> timeseries.Panel:
    """A time series; `limit` draws a red threshold line, such as a detector's default."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(width)
        .height(8)
        .draw_style(GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
        )
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if limit is not None:
        panel = panel.thresholds(thresholds("transparent", (limit, "red"))).thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE)
        )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def distribution(title: str, description: str, bucket_metric: str) -> heatmap.Panel:
    """A heatmap of a Prometheus histogram: how many observations fell in each bucket."""
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(8)
        .height(8)
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit("s"))
        .color(
            heatmap.HeatmapColorOptions()
            .mode(HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .scale(HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .steps(64)
        )
        .cell_gap(1)
        .with_target(
            query(f"sum by (le) (increase({bucket_metric}{{{WORKERS}}}[{RATE}]))", "{{le}}").format(
                PromQueryFormat.HEATMAP
            )
        )
    )


def single_stat(
    title: str, description: str, expr: str, unit: str, steps: ThresholdsConfig, width: int = 4
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(4)
        .thresholds(steps)
        .with_target(query(expr))
    )


def instant_table(
    title: str, description: str, expr: str, value_name: str, width: int = 8
) -> table.Panel:
    """A table of an instant query, sorted by value, without the time column."""
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(width)
        .height(8)
        .with_target(instant_table_query(expr))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": {"Value": value_name}},
            )
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="sortBy", options={"sort": [{"field": value_name, "desc": True}]}
            )
        )
    )


def ratio_of_completed(metric: str, by: str, window: str) -> str:
    """The share of `metric`'s decided journeys that were completed over `window`, by `by`;
    none where nothing was decided (no 0/0)."""
    selector = f"{DETECTOR}, {WORKERS}"
    return (
        f'sum by ({by}) (increase({metric}{{outcome="completed", {selector}}}[{window}])) '
        f"/ (sum by ({by}) (increase({metric}{{{selector}}}[{window}])) > 0)"
    )


def friction_cost_table() -> table.Panel:
    """Per detector and segment over the time range: completion after friction, without it,
    the difference in points (the cost), and how many findings' journeys were decided."""
    after = ratio_of_completed("friction_outcomes_total", "detector, segment", "$__range")
    without = ratio_of_completed(
        "friction_journeys_without_friction_total", "detector, segment", "$__range"
    )
    decided = (
        "sum by (detector, segment) "
        f"(increase(friction_outcomes_total{{{DETECTOR}, {WORKERS}}}[$__range])) > 0"
    )
    columns = {
        "A": ("completed after friction", after),
        "B": ("completed without friction", without),
        "C": ("cost (without - after)", f"({without}) - on (detector, segment) ({after})"),
        "D": ("findings decided", decided),
    }
    panel = (
        table.Panel()
        .title("Friction cost by detector and segment")
        .description(
            "Over the selected time range: the share of journeys completed after a finding "
            "(friction_outcomes_total) and of those no finding interrupted "
            "(friction_journeys_without_friction_total), and the difference: what the friction "
            "costs in completed journeys. Segments are the journeys': a rage or error click's "
            "is its page group, not the target of its finding."
        )
        .datasource(DATASOURCE)
        .span(12)
        .height(8)
        .unit("percentunit")
    )
    for ref_id, (_, expr) in columns.items():
        panel = panel.with_target(instant_table_query(expr).ref_id(ref_id))
    panel = panel.override_by_name(
        columns["D"][0], [DynamicConfigValue(id_val="unit", value="short")]
    )
    return (
        panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {
                        f"Value #{ref_id}": name for ref_id, (name, _) in columns.items()
                    },
                },
            )
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="sortBy",
                options={"sort": [{"field": columns["C"][0], "desc": True}]},
            )
        )
    )


def dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["friction-detector"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-3h", "now")
        .refresh("1m")
        .timezone("browser")
        .annotation(
            # Grafana's own annotations, which it otherwise adds on load.
            AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .with_variable(
            DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .hide(VariableHide.DONT_HIDE)
        )
        .with_variable(variable("job", "Job", "label_values(friction_build_info, job)"))
        .with_variable(
            variable(
                "instance", "Worker", 'label_values(friction_build_info{job=~"$job"}, instance)'
            )
        )
        .with_variable(
            variable("detector", "Detector", "label_values(friction_findings_total, detector)")
        )
        .links(
            [
                DashboardLink("Friction dashboards")
                .type(DashboardLinkType.DASHBOARDS)
                .tags(["friction-detector"])
                .as_dropdown(False)
                .include_vars(True)
                .keep_time(True)
                .icon("external link")
                .tooltip("")
                .url("")
                .target_blank(False),
                DashboardLink("Runbooks")
                .type(DashboardLinkType.LINK)
                .url(RUNBOOKS)
                .icon("doc")
                .tooltip("What to do about each alert")
                .tags([])
                .as_dropdown(False)
                .include_vars(False)
                .keep_time(False)
                .target_blank(True),
            ]
        )
    )


def variable(name: str, label: str, values: str) -> QueryVariable:
    """A multi-value variable of label values, All by default (a regex matching everything)."""
    return (
        QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(values)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def measured_detectors() -> list[tuple[str, Measurement]]:
    """(detector, measurement) of every built-in detector that declares one, in name order."""
    found = []
    for entry in entry_points(group="friction.detectors"):
        if not entry.value.startswith("friction_detector.detectors.builtin."):
            continue  # a plugin installed here must not change the committed JSON
        detector: type[Detector] = entry.load()
        for measurement in detector.measurements.values():
            found.append((entry.name, measurement))
    return sorted(found, key=lambda pair: (pair[0], pair[1].metric))


def findings_rate(detector: str, metric: str) -> timeseries.Panel:
    """Findings per minute by kind; a 0 line `none` while the detector measures but finds
    nothing (a counter is only born with its first finding), so a quiet detector shows as 0."""
    found = f'rate(friction_findings_total{{detector="{detector}", {WORKERS}}}[{RATE}])'
    measured = f"rate({metric}_count{{{WORKERS}}}[{RATE}])"
    return graph(
        f"{detector}: friction moments per minute",
        f"Findings of {detector} per minute by kind, summed over the selected workers.",
        [
            query(
                f"(sum by (kind) ({found}) or on () "
                f'label_replace(sum({measured}) * 0, "kind", "none", "", "")) * 60',
                "{{kind}}",
            )
        ],
    )


def detector_row(detector: str, measurement: Measurement) -> tuple[str, list[Panel]]:
    """A measured detector's row: the distribution, its p75 by segment, the findings rate."""
    metric, label = measurement.metric, measurement.label
    return (
        f"Detector {detector}",
        [
            distribution(
                f"{detector}: {measurement.help.rstrip('.').lower()}",
                f"{measurement.help} ({metric})",
                f"{metric}_bucket",
            ),
            graph(
                f"{detector}: p75 by {label}",
                f"75th percentile of {metric} over the rate interval, by {label}.",
                [
                    query(
                        f"histogram_quantile(0.75, sum by ({label}, le) "
                        f"(rate({metric}_bucket{{{WORKERS}}}[{RATE}])))",
                        f"{{{{{label}}}}}",
                    )
                ],
                unit="s",
            ),
            findings_rate(detector, metric),
        ],
    )


def with_panels(board: Dashboard, rows: Iterable[tuple[str, list[Panel]]]) -> Dashboard:
    """Lay out rows of panels, numbering every panel in order."""
    ids = iter(range(1, 1000))
    for title, panels in rows:
        board = board.with_row(Row(title).id(next(ids)))
        for panel in panels:
            board = board.with_panel(panel.id(next(ids)))
    return board


# -- the dashboards ---------------------------------------------------------------------------


def friction_overview() -> Dashboard:
    board = dashboard(
        "friction-overview",
        "Friction overview",
        "Friction moments of customers by detector and segment, the distributions behind them, "
        "and the alerts of the alert engine.",
    )
    moments = [
        graph(
            "Friction moments per minute by detector",
            "Findings per minute, summed over the workers.",
            [query(f"detector:friction_findings_per_minute:rate5m{{{DETECTOR}}}", "{{detector}}")],
            width=12,
        ),
        instant_table(
            "Worst segments",
            "Segments (checkout page group, email template, chat queue, form...) with the most "
            "friction moments over the selected time range.",
            "topk(15, sum by (detector, segment) "
            f"(increase(friction_findings_total{{{DETECTOR}, {WORKERS}}}[$__range]))) > 0",
            "moments",
            width=12,
        ),
        graph(
            "Friction moments per minute by kind",
            "Findings per minute by detector and kind (slow_load, late, missing, unanswered...).",
            [
                query(
                    "sum by (detector, kind) "
                    f"(rate(friction_findings_total{{{DETECTOR}, {WORKERS}}}[{RATE}])) * 60",
                    "{{detector}} {{kind}}",
                )
            ],
            stacked=True,
            width=12,
        ),
        single_stat(
            "Engine alerts firing",
            "Alerts of the alert engine firing now.",
            "sum(max by (alertname, detector, segment) (friction_alerts_firing)) or vector(0)",
            "none",
            thresholds("green", (1, "red")),
        ),
        instant_table(
            "Engine alerts firing now",
            "Alerts of the alert engine firing now, by segment.",
            "max by (alertname, detector, segment) (friction_alerts_firing) > 0",
            "firing",
            width=8,
        ),
    ]
    accumulated = 'detector="friction_accumulated"'
    accumulation = [
        graph(
            "Accumulated friction",
            "Customers reported by friction_accumulated per hour, by severity: a customer with "
            "N findings (default 3) within the period (default 24 h), for CX outreach "
            "(docs/detectors.md).",
            [
                query(
                    "sum by (severity) "
                    f"(rate(friction_findings_total{{{accumulated}, {WORKERS}}}[{RATE}])) * 3600",
                    "{{severity}}",
                )
            ],
            stacked=True,
            width=16,
        ),
        single_stat(
            "Customers with accumulated friction",
            "friction_accumulated findings over the selected time range: customers to reach "
            "out to (one finding per N findings of a customer).",
            "sum(increase(friction_findings_total"
            f"{{{accumulated}, {WORKERS}}}[$__range])) or vector(0)",
            "none",
            thresholds("green", (1, "orange")),
            width=8,
        ),
    ]
    cost = [
        graph(
            "Completion after friction vs without, by detector",
            "Share of decided journeys completed in the last hour: after a finding interrupted "
            "them (outcomes), and without a finding of the same detector (the base rate). The "
            "gap is what the friction costs.",
            [
                query(
                    f"detector:friction_outcomes_completed:ratio_rate1h{{{DETECTOR}}}",
                    "{{detector}} after friction",
                ),
                query(
                    "detector:friction_journeys_without_friction_completed:ratio_rate1h"
                    f"{{{DETECTOR}}}",
                    "{{detector}} without friction",
                    ref_id="B",
                ),
            ],
            unit="percentunit",
            width=12,
        ),
        friction_cost_table(),
        graph(
            "Journey outcomes after friction",
            "Outcomes per minute of the findings that interrupted a journey: completed (the "
            "customer finished, e.g. placed the order) or abandoned (the window passed without "
            "it). See docs/detectors.md for each detector's journey and window.",
            [
                query(
                    "sum by (detector, outcome) "
                    f"(rate(friction_outcomes_total{{{DETECTOR}, {WORKERS}}}[{RATE}])) * 60",
                    "{{detector}} {{outcome}}",
                )
            ],
            stacked=True,
            width=12,
        ),
        graph(
            "Journeys without friction per minute",
            "Journeys no finding of the detector interrupted, decided per minute by the same "
            "rule and window: the base rate's volume.",
            [
                query(
                    "sum by (detector, outcome) (rate(friction_journeys_without_friction_total"
                    f"{{{DETECTOR}, {WORKERS}}}[{RATE}])) * 60",
                    "{{detector}} {{outcome}}",
                )
            ],
            stacked=True,
            width=12,
        ),
    ]
    checkout = [
        distribution(
            "Checkout load time",
            "Load times of checkout pages.",
            "friction_checkout_load_seconds_bucket",
        ),
        graph(
            "Checkout load p75 by page group",
            "75th percentile of the checkout load time over 5 minutes; the line is the "
            "slow_checkout default threshold (4 s).",
            [query("page_group:friction_checkout_load_seconds:p75_rate5m", "{{page_group}}")],
            unit="s",
            limit=4,
        ),
        graph(
            "Slow checkout loads (over 4 s) by page group",
            "Share of checkout loads over 4 s in the last 10 minutes.",
            [query("page_group:friction_checkout_load_slow:ratio_rate10m", "{{page_group}}")],
            unit="percentunit",
            limit=0.25,
        ),
        findings_rate("slow_checkout", "friction_checkout_load_seconds"),
    ]
    reset_email = [
        distribution(
            "Password-reset email delay",
            "Delay from the password-reset request to the delivery of its email.",
            "friction_reset_email_delay_seconds_bucket",
        ),
        graph(
            "Reset email delay p75 by template",
            "75th percentile of the delivery delay over 5 minutes; the line is the "
            "late_reset_email default threshold (60 s).",
            [query("template:friction_reset_email_delay_seconds:p75_rate5m", "{{template}}")],
            unit="s",
            limit=60,
        ),
        graph(
            "Late or missing reset emails",
            "Share of password-reset requests whose email was late or missing (30 minutes).",
            [query('job:friction_reset_emails_late:ratio_rate30m{job=~"$job"}', "{{job}}")],
            unit="percentunit",
            limit=0.1,
        ),
        findings_rate("late_reset_email", "friction_reset_email_delay_seconds"),
    ]
    chat = [
        distribution(
            "Chat wait for the first agent reply",
            "Wait from the start of a chat to the first agent reply.",
            "friction_chat_first_response_seconds_bucket",
        ),
        graph(
            "Chat first reply p75 by queue",
            "75th percentile of the wait over 5 minutes; the line is the long_chat_wait "
            "default threshold (120 s).",
            [query("queue:friction_chat_first_response_seconds:p75_rate5m", "{{queue}}")],
            unit="s",
            limit=120,
        ),
        graph(
            "Unanswered chats by queue",
            "Share of concluded chats with no agent reply (30 minutes).",
            [query("queue:friction_chats_unanswered:ratio_rate30m", "{{queue}}")],
            unit="percentunit",
            limit=0.1,
        ),
        findings_rate("long_chat_wait", "friction_chat_first_response_seconds"),
    ]
    return with_panels(
        board,
        [
            ("Friction moments", moments),
            ("Friction cost", cost),
            ("Accumulated friction", accumulation),
            ("Checkout", checkout),
            ("Password-reset emails", reset_email),
            ("Support chat", chat),
            *(
                detector_row(detector, measurement)
                for detector, measurement in measured_detectors()
                if detector not in CONTRACT_DETECTORS
            ),
        ],
    )


def pipeline_health() -> Dashboard:
    board = dashboard(
        "friction-pipeline",
        "Friction pipeline health",
        "Workers, input, bad input, lateness and processing time of the friction pipeline.",
    )
    workers = [
        single_stat(
            "Workers up",
            "Friction workers Prometheus scrapes successfully.",
            f'sum(up{{friction_pipeline!="", {WORKERS}}})',
            "none",
            thresholds("red", (1, "green")),
        ),
        single_stat(
            "Workers down",
            "Friction workers Prometheus cannot scrape.",
            f'count(up{{friction_pipeline!="", {WORKERS}}} == 0) or vector(0)',
            "none",
            thresholds("green", (1, "red")),
        ),
        single_stat(
            "Last event",
            "Age of the newest event accepted by any worker.",
            f"time() - max(friction_last_event_timestamp_seconds{{{WORKERS}}})",
            "s",
            thresholds("green", (300, "orange"), (600, "red")),
        ),
        single_stat(
            "Events in",
            "Events accepted per second, all workers.",
            'sum(job:friction_events:rate5m{job=~"$job"})',
            "short",
            thresholds("blue"),
        ),
        instant_table(
            "Versions",
            "Workers by package version.",
            f"count by (version) (friction_build_info{{{WORKERS}}})",
            "workers",
        ),
        graph(
            "Workers up",
            "1 while Prometheus scrapes the worker.",
            [query(f'up{{friction_pipeline!="", {WORKERS}}}', "{{instance}}")],
            width=24,
        ),
    ]
    workers[4].height(4)  # beside the stats
    input_panels = [
        graph(
            "Events in by type",
            "Events accepted per second by type; types no detector consumes are `other`.",
            [query(f"sum by (type) (rate(friction_events_total[{RATE}]))", "{{type}}")],
            unit="short",
            width=12,
            stacked=True,
        ),
        graph(
            "Bad input by reason",
            "Messages sent to the dead-letter topic per second, by reason.",
            [query(f"sum by (reason) (rate(friction_bad_input_total[{RATE}]))", "{{reason}}")],
            unit="short",
            width=12,
            stacked=True,
        ),
        graph(
            "Bad input share",
            "Bad messages per message read (10 minutes); the line is the alert threshold.",
            [query("job:friction_bad_input:ratio_rate10m", "{{job}}")],
            unit="percentunit",
            width=8,
            limit=0.05,
        ),
        graph(
            "Duplicate events",
            "Redelivered events dropped per second.",
            [
                query(
                    f"sum by (instance) (rate(friction_duplicate_events_total[{RATE}]))",
                    "{{instance}}",
                )
            ],
            width=8,
        ),
        graph(
            "Detector errors",
            "Events or deadlines a detector raised on, per second, by detector: the events "
            "are in the dead letters with reason detector_error.",
            [
                query(
                    "sum by (detector) "
                    f"(rate(friction_detector_errors_total{{{DETECTOR}, {WORKERS}}}[{RATE}]))",
                    "{{detector}}",
                )
            ],
            width=8,
        ),
        graph(
            "Late events",
            "Events behind the watermark per second.",
            [
                query(
                    f"sum by (instance) (rate(friction_late_events_total[{RATE}]))",
                    "{{instance}}",
                )
            ],
            width=8,
        ),
    ]
    processing = [
        graph(
            "Watermark lag",
            "Wall clock minus the event-time watermark, by worker; normal is about the allowed "
            "lateness (30 s).",
            [query(f"friction_watermark_lag_seconds{{{WORKERS}}}", "{{instance}}")],
            unit="s",
            width=12,
            limit=300,
        ),
        graph(
            "Processing time per event",
            "Time to decode and process one event: p99 and p50 by worker.",
            [
                query(
                    "histogram_quantile(0.99, sum by (instance, le) "
                    f"(rate(friction_event_processing_seconds_bucket[{RATE}])))",
                    "p99 {{instance}}",
                ),
                query(
                    "histogram_quantile(0.5, sum by (instance, le) "
                    f"(rate(friction_event_processing_seconds_bucket[{RATE}])))",
                    "p50 {{instance}}",
                    ref_id="B",
                ),
            ],
            unit="s",
            width=12,
        ),
        graph(
            "Consumer lag",
            "Messages each worker is behind the end of the partitions it consumes, by topic.",
            [
                query(
                    "sum by (instance, topic) (friction_consumer_lag_messages)",
                    "{{instance}} {{topic}}",
                )
            ],
            width=12,
        ),
        graph(
            "Offset commit latency",
            "Time to commit consumer offsets: p99 by worker.",
            [
                query(
                    "histogram_quantile(0.99, sum by (instance, le) "
                    f"(rate(friction_commit_latency_seconds_bucket[{RATE}])))",
                    "p99 {{instance}}",
                )
            ],
            unit="s",
            width=12,
        ),
        graph(
            "Held messages",
            "Messages handled but left uncommitted while their events wait for the watermark, "
            "by worker and topic: what a restart reads again (docs/worker.md).",
            [
                query(
                    "sum by (instance, topic) (friction_held_messages)",
                    "{{instance}} {{topic}}",
                )
            ],
            width=12,
        ),
        graph(
            "Detector state keys",
            "Keys held in detector state, summed over the workers.",
            [
                query(
                    f"sum by (detector) (friction_detector_state_keys{{{DETECTOR}, {WORKERS}}})",
                    "{{detector}}",
                )
            ],
            width=12,
            stacked=True,
        ),
        graph(
            "Changelog re-reads",
            "Changelog partitions a worker read again because its table recovery had stopped "
            "receiving them (see the FrictionWatermarkStalled runbook).",
            [
                query(
                    "sum by (instance, topic) "
                    f"(increase(friction_changelog_rereads_total[{RATE}]))",
                    "{{instance}} {{topic}}",
                )
            ],
            width=12,
        ),
        graph(
            "Label values folded into other",
            "Updates whose producer-chosen label value (a segment) came after the bound "
            "(FRICTION_METRIC_LABEL_VALUES) and was counted as other, by metric.",
            [
                query(
                    f"sum by (metric) (increase(friction_metric_labels_folded_total[{RATE}]))",
                    "{{metric}}",
                )
            ],
            width=12,
        ),
        graph(
            "Alert messages sent",
            "Alert messages of the alert engine, by alert and status.",
            [
                query(
                    f"sum by (alertname, status) (increase(friction_alerts_total[{RATE}]))",
                    "{{alertname}} {{status}}",
                )
            ],
            width=12,
        ),
    ]
    return with_panels(
        board,
        [("Workers", workers), ("Input", input_panels), ("Processing", processing)],
    )


DASHBOARDS = {
    "friction-overview.json": friction_overview,
    "friction-pipeline-health.json": pipeline_health,
}


# -- output -----------------------------------------------------------------------------------


def render(build: Dashboard) -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build.build()) + "\n"


def rendered() -> Iterator[tuple[Path, str]]:
    for name, make in DASHBOARDS.items():
        yield DASHBOARDS_DIR / name, render(make())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed dashboard is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered():
        json.loads(text)  # the encoder's output must be JSON Grafana can read
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(
            f"out of date: {names}; run python deploy/grafana/generate.py and commit",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
