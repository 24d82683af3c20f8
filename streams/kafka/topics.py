"""The topics a worker reads and writes, created before it starts.

Faust does not create a source topic it was not told to own, and on the first assignment it
skips one that is missing, so the worker would sit idle until the next rebalance. Creating
every topic up front with the admin client avoids that and fixes the partition counts the
design relies on (the routed topic and the state changelog must match).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Set

from friction_detector.detectors.compiled import _core
from friction_detector.streams.kafka.settings import KafkaSettings, SettingsError
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2


@functools.lru_cache(maxsize=1 << 16)
def _partition_by_python(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner in kafka-python's pure-Python murmur2 (about 10 us a key),
    cached: a package built without the compiled core routes with it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Kafka's default partitioner (murmur2), so our choice of partition for a key matches any
# client's: `partition_for(key, partitions)`. The compiled core's costs ~0.1 us a key.
partition_for: Callable[[bytes, int], int] = (
    _core.partition_for if _core is not None else _partition_by_python
)


def ensure_topics(
    settings: KafkaSettings, topics: dict[str, int], *, exact: Set[str] = frozenset()
) -> dict[str, int]:
    """Create missing topics with the given partition counts; return every topic's count.

    A topic in `exact` that already exists with another partition count is an error: its keys
    would map to other partitions than its state.
    """
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = {name: n for name, n in topics.items() if name not in existing}
        if missing:
            # Another worker of the group may have created it first.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [_new_topic(name, n) for name, n in missing.items()],
                    timeout_ms=30_000,
                )
        counts = partition_counts(admin, list(topics))
    finally:
        admin.close()
    for name in exact:
        if counts.get(name) != topics[name]:
            raise SettingsError(
                f"topic {name} has {counts.get(name)} partitions, the worker is configured for "
                f"{topics[name]}; use --partitions {counts.get(name)} or a new --app-id"
            )
    return counts


def _new_topic(name: str, partitions: int):
    from kafka.admin import NewTopic

    return NewTopic(name=name, num_partitions=partitions, replication_factor=-1)


def _admin(settings: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(client_id="friction-admin", **settings.client_config())


def partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts once metadata shows every topic (creation is asynchronous)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            described = admin.describe_topics(names)
        except KafkaError:
            described = []
        counts = {
            t.get("topic", t.get("name")): len(t["partitions"])
            for t in described
            if not t.get("error_code")
        }
        if all(counts.get(name) for name in names) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def max_message_bytes(settings: KafkaSettings, topic: str) -> int | None:
    """The largest record batch `topic` takes (its `max.message.bytes`, or the broker's default
    where the topic sets none); None where the broker does not tell (unreachable, or the
    client may not describe configs). Blocking: one admin connection and request."""
    name = "max.message.bytes"
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs={name: None})
    try:
        admin = _admin(settings)
        try:
            described = admin.describe_configs([resource], config_filter="all")
        finally:
            admin.close()
        return int(described["topic"][topic][name]["value"])
    except (KafkaError, LookupError, TypeError, ValueError):
        return None
