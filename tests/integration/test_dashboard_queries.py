"""Every query of the committed Grafana dashboards returns data from a real Prometheus.

A real worker consumes a short mix (events of every measured detector, findings, a firing
alert, one customer's findings adding up, journeys completed and abandoned with and without
friction, bad lines, an unconsumed type) in two rounds, so counters move between scrapes;
Prometheus scrapes it every second and evaluates the project's recording rules. Then each panel
target of deploy/grafana/dashboards/*.json must return at least one series.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from conftest import query_series, running_prometheus
from helpers_worker import Names, Worker, now_ms, produce, produce_events, write_config
from loopback import free_port

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RECORDING_RULES = ROOT / "deploy/prometheus/recording_rules.yml"
# Grafana's values for a 15 s scrape (deploy/prometheus/prometheus.yml) and a 1 h dashboard;
# each window covers the whole test.
# The job, instance and detector variables at their default, All.
TEMPLATE_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$job": ".*",
    "$instance": ".*",
    "$detector": ".*",
}
# Detectors with a distribution on the overview dashboard besides the contract ones.
MEASURED = (
    "late_transactional_email",
    "order_silence",
    "slow_ticket_response",
    "unannounced_delay",
)
# The checkout alert fires on this mix at once: its defaults wait for 50 loads and 5 minutes.
ALERT_RULE = """
[alerts.rules.FrictionCheckoutSlowLoads]
for_s = 0
min_count = 2
min_samples = 3
"""
LATENESS_MS = 2000
# Journeys decided within seconds, so the friction cost row has outcomes and a base rate.
OUTCOME_WINDOW_S = 3
JOURNEYS = ("slow_checkout", "repeated_form_submission", "long_chat_wait")
DATA_TIMEOUT_S = 60


def dashboard_queries() -> list[tuple[str, str]]:
    """(dashboard/panel title, expression) of every panel target, variables substituted."""
    found = []

    def walk(panels: list[dict], dashboard: str) -> None:
        for panel in panels:
            walk(panel.get("panels", []), dashboard)
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in TEMPLATE_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((f"{dashboard}: {panel['title']}", expr))

    for path in DASHBOARDS:
        walk(orjson.loads(path.read_bytes())["panels"], path.stem)
    return found


def mix(round_: int, t: int) -> list[dict]:
    """One of each scenario, found and not, for every enabled detector, at about `t`."""
    events: list[dict] = []

    def ev(kind: str, dt: int, attrs: dict, session: str | None = None, user=None) -> None:
        event_id = f"r{round_}-{len(events)}"
        events.append(
            {"event_id": event_id, "type": kind, "time": t + dt, "user_id": user,
             "session_id": session, "attrs": attrs}
        )  # fmt: skip

    # Three slow checkouts of one customer, in three sessions: one friction_accumulated.
    for i, duration in enumerate((6000, 7000, 5000, 800, 900)):
        attrs = {"page": "/checkout/payment", "duration_ms": duration}
        ev("page_load", i * 100, attrs, f"s-{round_}-{i}", f"u-{round_}")
    # Friction cost: the first slow load's session orders (its outcome is completed), two are
    # abandoned; a fast checkout is completed by an order, one is abandoned (journeys without
    # friction).
    ev("order_placed", 1000, {"order_id": f"co-{round_}", "channel": "web"}, f"s-{round_}-0")
    ev("order_placed", 700, {"order_id": f"fast-{round_}"}, f"s-{round_}-3")
    ev("password_reset_requested", 0, {"request_id": f"late-{round_}"})
    ev("email_delivered", 2800, {"request_id": f"late-{round_}", "template": "password_reset"})
    ev("password_reset_requested", 0, {"request_id": f"missing-{round_}"})
    ev("chat_started", 0, {"conversation_id": f"answered-{round_}", "queue": "billing"})
    ev("chat_message", 700, {"conversation_id": f"answered-{round_}", "author": "agent"})
    ev("chat_ended", 900, {"conversation_id": f"answered-{round_}"})
    ev("chat_started", 0, {"conversation_id": f"unanswered-{round_}", "queue": "billing"})
    for step in range(4):
        attrs = {"form_id": "signup", "outcome": "error", "error_fields": ["zip"]}
        ev("form_submit", step * 300, attrs, f"form-{round_}")
    ev("form_submit", 0, {"form_id": "signup", "outcome": "success"}, f"form-ok-{round_}")
    ev("email_requested", 0, {"request_id": f"code-{round_}", "template": "verification_code"})
    ev("email_delivered", 900, {"request_id": f"code-{round_}", "template": "verification_code"})
    ev("order_placed", 0, {"order_id": f"o-{round_}", "channel": "web"})
    ev("order_update", 1500, {"order_id": f"o-{round_}", "status": "shipped"})
    ev("ticket_created", 0, {"ticket_id": f"t-{round_}", "queue": "returns"})
    ev("ticket_reply", 1200, {"ticket_id": f"t-{round_}", "author": "agent"})
    ev("delay_marked", 0, {"ref_id": f"d-{round_}", "ref_type": "shipment"})
    ev("customer_notified", 600, {"ref_id": f"d-{round_}"})
    ev("page_view", 100, {"page": "/home"}, f"s-{round_}-0")  # a type no detector reads
    return sorted(events, key=lambda e: e["time"])


BAD_LINES = [b"not json", b'{"type": "page_load"}', b"[1, 2]"]


def empty_queries(prometheus: str, queries: list[tuple[str, str]]) -> list[str]:
    return [f"{title}: {expr}" for title, expr in queries if not query_series(prometheus, expr)]


def wait_for(prometheus: str, promql: str, what: str) -> None:
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while not query_series(prometheus, promql):
        assert time.monotonic() < deadline, f"no {what} in {DATA_TIMEOUT_S} s ({promql})"
        time.sleep(0.5)


def test_every_dashboard_query_returns_data(kafka_bootstrap: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) > 30, queries
    unresolved = [expr for _, expr in queries if "$" in expr]
    assert not unresolved, f"template variables left: {unresolved}"
    also = (*MEASURED, "friction_accumulated")
    window = {name: f"outcome_window_s = {OUTCOME_WINDOW_S}" for name in JOURNEYS}
    config = write_config(tmp_path / "friction.toml", LATENESS_MS, also=also, params=window)
    config.write_text(config.read_text() + ALERT_RULE)
    names = Names("dashboards")
    worker = Worker(kafka_bootstrap, config, names, tmp_path / "worker.log")
    metrics_port = free_port()
    worker.args[worker.args.index("--metrics-port") + 1] = str(metrics_port)
    (tmp_path / "prometheus").mkdir()
    try:
        worker.start()
        with running_prometheus(
            tmp_path / "prometheus", [metrics_port], rule_files=[RECORDING_RULES]
        ) as prometheus:
            worker.wait_ready()
            produce_events(kafka_bootstrap, names.input, mix(1, now_ms()))
            produce(kafka_bootstrap, names.input, BAD_LINES, [None] * len(BAD_LINES))
            # Deadlines pass (missing email 4 s, unanswered chat 6 s) and Prometheus scrapes
            # the first round before the second moves the same counters.
            wait_for(prometheus, 'friction_findings_total{kind="unanswered"}', "unanswered chat")
            wait_for(prometheus, "max(friction_alerts_firing) > 0", "firing alert")
            time.sleep(3)
            produce_events(kafka_bootstrap, names.input, mix(2, now_ms()))
            deadline = time.monotonic() + DATA_TIMEOUT_S
            empty = empty_queries(prometheus, queries)
            while empty and time.monotonic() < deadline:
                time.sleep(1)
                empty = empty_queries(prometheus, queries)
            assert not empty, f"{len(empty)} of {len(queries)} dashboard queries returned " + (
                "nothing:\n" + "\n".join(empty) + "\nworker log:\n" + worker.tail(20)
            )
    finally:
        worker.stop()
