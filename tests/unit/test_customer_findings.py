"""Stage 2's side of stage 3: findings to their customer's partition of the customers topic,
and the routed partitions' settled times, reported only when they move."""

from __future__ import annotations

import orjson
from friction_detector.detectors.builtin.friction_accumulated import FrictionAccumulated
from friction_detector.detectors.builtin.slow_checkout import SlowCheckout
from friction_detector.detectors.engine import Engine, store_key
from friction_detector.detectors.events import Event
from friction_detector.detectors.findings import Finding
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.customers import CustomerFindings
from friction_detector.streams.worker.records import WorkerRecords
from friction_detector.streams.worker.routing import decode_routed

T0 = 1_767_225_600_000
PARTITIONS = 4


def customers(every_s: float = 0.0) -> CustomerFindings:
    records = WorkerRecords(WorkerSettings(app_id="app-x"), FrictionMetrics(set()))
    return CustomerFindings(
        [FrictionAccumulated()], records, "app-x-customers", "app-x-routed", PARTITIONS, every_s
    )


def finding(user: str | None, session: str | None, n: int) -> Finding:
    return Finding(
        "slow_checkout", "slow_load", "warning", T0 + n, {"n": n}, "slow", {},
        user_id=user, session_id=session,
    )  # fmt: skip


def engine_at(watermark_s: int) -> Engine:
    engine = Engine([SlowCheckout()], allowed_lateness_ms=0)
    engine.process(Event("e-1", "page_view", T0 + watermark_s * 1000, None, "s-1", {}))
    return engine


def test_each_finding_goes_to_its_customers_partition_as_a_routed_item():
    sent = customers().outgoing([finding("u-1", "s-1", 1), finding(None, "s-2", 2)])
    items = {
        record.partition: decode_routed(record.value)[0] for record in sent
    }  # fmt: skip
    for key in ("user:u-1", "session:s-2"):
        partition = partition_for(store_key("friction_accumulated", key).encode(), PARTITIONS)
        assert key in [k for _, k, _ in items[partition]]
    assert all(record.topic == "app-x-customers" for record in sent)
    (event,) = [e for _, k, e in items[partition_for(b"friction_accumulated/user:u-1", 4)]]
    assert event.event_id == finding("u-1", "s-1", 1).finding_id
    assert event.type == "friction.finding" and event.attrs["detector"] == "slow_checkout"


def test_a_finding_without_customer_is_not_sent():
    assert customers().outgoing([finding(None, None, 1)]) == []


def test_settled_times_go_to_every_partition_once_they_move():
    stage = customers()
    assert stage.reports() == []
    stage.findings_sent(2, stage.settled(2, engine_at(10)))
    reports = stage.reports()
    assert [partition for partition, _ in reports] == list(range(PARTITIONS))
    assert {orjson.loads(value)["progress"]["app-x-routed:2"] for _, value in reports} == {
        T0 + 10_000
    }
    assert stage.reports() == []  # nothing moved
    stage.findings_sent(2, stage.settled(2, engine_at(5)))  # an older time never goes back
    assert stage.reports() == []


def test_the_settled_time_is_read_at_most_every_every_s():
    stage = customers(every_s=3600)
    stage.findings_sent(1, stage.settled(1, engine_at(10)))
    stage.findings_sent(1, stage.settled(1, engine_at(20)))
    (_, value), *_ = stage.reports()
    assert orjson.loads(value)["progress"] == {"app-x-routed:1": T0 + 10_000}


def test_a_revoked_partition_is_no_longer_reported():
    stage = customers()
    stage.findings_sent(0, stage.settled(0, engine_at(10)))
    stage.revoke(0)
    assert stage.reports() == []


def test_the_settled_time_recorded_is_the_one_read_when_the_batch_was_finished():
    stage = customers()
    engine = engine_at(10)
    settled = stage.settled(3, engine)  # the batch is finished: its findings go in flight
    later = engine_at(20)  # the next batch moves the engine on meanwhile
    assert later.settled() > settled
    stage.findings_sent(3, settled)  # the first batch's findings are in Kafka
    (_, value), *_ = stage.reports()
    assert orjson.loads(value)["progress"] == {"app-x-routed:3": T0 + 10_000}
