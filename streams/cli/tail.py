"""`friction tail`: print findings and alerts as they arrive."""

from __future__ import annotations

import sys
from typing import TextIO

import orjson
from friction_detector.streams.kafka.settings import KafkaSettings
from friction_detector.streams.sources import sourced_line
from kafka import KafkaConsumer


def describe(topic: str, value: bytes) -> str:
    """One readable line for a finding, an outcome or an alert; raw text for anything else."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return f"{topic}: {value.decode('utf-8', errors='replace')}"
    if type(doc) is dict and doc.get("record_type") == "outcome":
        return (
            f"{doc.get('time', '')}  {doc.get('outcome', ''):9} "
            f"{doc.get('detector')}/{doc.get('kind')}  finding {doc.get('finding_id')}"
        )
    if type(doc) is dict and "finding_id" in doc:
        who = doc.get("session_id") or doc.get("user_id") or ""
        return (
            f"{doc.get('time', '')}  {doc.get('severity', ''):8} "
            f"{doc.get('detector')}/{doc.get('kind')}  {who}  {doc.get('summary', '')}"
        )
    if type(doc) is dict and "alert_id" in doc:
        labels = doc.get("labels", {})
        summary = doc.get("annotations", {}).get("summary", "")
        return (
            f"ALERT {doc.get('status', '').upper():8} {labels.get('alertname', '')} "
            f"[{labels.get('severity', '')}]  {summary}"
        )
    return f"{topic}: {value.decode('utf-8', errors='replace')}"


def tail(
    settings: KafkaSettings,
    topics: list[str],
    from_beginning: bool = False,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    max_messages: int | None = None,
    idle_timeout_s: float | None = None,
    with_source: bool = False,
) -> int:
    """Follow `topics` until interrupted (or `max_messages`, or idle for `idle_timeout_s`).

    `with_source` prints sourced lines (streams/sources.py): a dump `friction replay --sourced`
    reads as the worker read the topic."""
    consumer = KafkaConsumer(
        *topics,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(idle_timeout_s * 1000) if idle_timeout_s else float("inf"),
        **settings.client_config(),
    )
    shown = 0
    try:
        for message in consumer:
            if with_source:
                line = sourced_line(
                    message.topic, message.partition, message.offset, message.value
                ).decode()
            elif as_json:
                line = message.value.decode("utf-8", errors="replace")
            else:
                line = describe(message.topic, message.value)
            print(line, file=out, flush=True)
            shown += 1
            if max_messages is not None and shown >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return shown
