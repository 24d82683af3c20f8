"""A Kafka transport for Faust whose "seek back to committed" also covers uncommitted partitions.

When Faust's fetcher gets records while the flow is stopped (during a rebalance), it drops them
and calls `perform_seek` to read them again from the committed offsets. aiokafka's
`seek_to_committed` seeks only partitions whose committed offset is above 0, so a partition
with no commit yet (a new group, or one never acknowledged) stays *after* the dropped records:
they are skipped, and once a later offset is committed, lost. The worker starts from the
earliest offset where nothing is committed, so that is where such partitions go back to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


async def seek_to_committed_or_beginning(
    consumer: AIOKafkaConsumer, changelogs: Collection[str] = ()
) -> Mapping[TP, int]:
    """Seek every assigned partition to its committed offset, or to its start if it has none.

    Changelog partitions are left alone: Faust's table recovery positions those, not commits.
    """
    committed = await consumer.seek_to_committed()
    uncommitted = [
        tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs
    ]
    if uncommitted:
        await consumer.seek_to_beginning(*uncommitted)
    return committed


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        changelogs = self.app.tables.changelog_topics
        return await self.call_thread(
            seek_to_committed_or_beginning, self._ensure_consumer(), changelogs
        )


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


def use_seek_safe_consumer(app: faust.App) -> None:
    """Give `app` the transport above; call before the app's first topic is declared."""
    app.transport = _Transport(app.conf.broker_consumer, app)
