"""How much input the worker group has not read yet, per input partition.

An idle input partition's progress follows the wall clock (see streams/worker/progress.py). Input
on it that the group has not read yet would then arrive behind the watermark: late, after
deadlines it answers had fired. The group's committed offsets say how much waits: a partition
counts as idle only once they reach its end.
"""

from __future__ import annotations

from friction_detector.streams.kafka.settings import KafkaSettings
from friction_detector.streams.kafka.topics import partition_counts
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec


def topic_partitions(admin: KafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the `topics` that exist."""
    return [
        TopicPartition(topic, p)
        for topic, count in partition_counts(admin, topics).items()
        for p in range(count)
    ]


def committed_offsets(
    admin: KafkaAdminClient, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The offsets `group` committed on those of `partitions` it has committed on."""
    committed = admin.list_group_offsets({group: partitions}).get(group, {})
    return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


class InputBacklog:
    """Counts the input messages a consumer group has not committed; blocking, so call it from
    a thread. One admin connection, opened on first use and kept."""

    def __init__(self, settings: KafkaSettings, group: str, topics: list[str]) -> None:
        self.settings = settings
        self.group = group
        self.topics = topics
        self._admin: KafkaAdminClient | None = None

    def unread_by_partition(self) -> dict[TopicPartition, int]:
        """Per input partition, messages between the group's committed offset and its end.

        A partition the group never committed is read from its start, as the worker reads it.
        Raises `kafka.errors.KafkaError` when the broker cannot tell.
        """
        admin = self._connect()
        partitions = topic_partitions(admin, self.topics)
        if not partitions:
            return {}
        ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
        read_from = committed_offsets(admin, self.group, partitions)
        never_committed = [tp for tp in partitions if tp not in read_from]
        if never_committed:
            starts = admin.list_partition_offsets(
                dict.fromkeys(never_committed, OffsetSpec.EARLIEST)
            )
            read_from.update((tp, starts[tp].offset) for tp in never_committed)
        return {tp: max(0, ends[tp].offset - read_from[tp]) for tp in partitions}

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _connect(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = KafkaAdminClient(
                client_id="friction-backlog", **self.settings.client_config()
            )
        return self._admin
