"""Stage 1 handles an input partition's records as one run: a record whose handling raises goes
to the dead letters with the reason, and the records after it are still routed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from friction_detector.detectors.config import build_config
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.app import FrictionApp

TOPIC = "clicks"


def _record(offset: int, event_id: str) -> ConsumerRecord:
    event = {
        "event_id": event_id,
        "type": "click",
        "time": int(time.time() * 1000) - 60_000,
        "session_id": "s-1",
        "attrs": {"page": "/cart", "target": "#buy"},
    }
    value = orjson.dumps(event)
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, b"s-1", value, None, 3, len(value), ())


def test_a_record_whose_handling_raises_is_dead_lettered_and_the_run_goes_on(tmp_path) -> None:
    settings = WorkerSettings(app_id="app-route", data_dir=str(tmp_path), input_topics=[TOPIC])
    friction = FrictionApp(settings, build_config({}), FrictionMetrics({"click"}), [])
    stage = friction.route_stage
    route = stage.route

    def route_or_raise(event: Any) -> Any:
        if event.event_id == "e-2":
            raise RuntimeError("cannot encode")
        return route(event)

    stage.route = route_or_raise
    sent: list[tuple[str, bytes]] = []

    async def send(topic: str, key: Any, value: bytes, partition: int, *_: Any) -> Any:
        sent.append((topic, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    stage.handle([_record(1, "e-1"), _record(2, "e-2"), _record(3, "e-3")])
    asyncio.run(stage.publish(send))

    letters = [orjson.loads(value) for topic, value in sent if topic == settings.dead_letter_topic]
    assert [(letter["reason"], letter["position"]) for letter in letters] == [
        ("processing_error", "0:2")
    ]
    routed = b"".join(value for topic, value in sent if topic == settings.routed_topic)
    assert b'"e-1"' in routed and b'"e-3"' in routed and b'"e-2"' not in routed
