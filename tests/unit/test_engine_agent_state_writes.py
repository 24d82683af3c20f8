"""Stage 2's agent writes its partitions' state once per commit interval, not with every batch
(state_writes.py): a batch that applied a held message releases it only with the write that
holds that state, and a partition revoked in between is not written from its old runtime."""

from __future__ import annotations

from types import SimpleNamespace

from friction_detector.streams.worker.engine_agent import EngineAgent
from friction_detector.streams.worker.held_messages import HeldMessages
from friction_detector.streams.worker.state_writes import StateWrites


class Engine:
    def __init__(self, settled_ms: int) -> None:
        self.settled_ms = settled_ms
        self.writes = 0

    def settled(self) -> int:
        return self.settled_ms

    def write_changes(self) -> None:
        self.writes += 1


class Store:
    def seal(self) -> str:
        return "sealed"


class Runtime:
    """A routed partition's runtime, as `DetectionPartition` (hashable, one per assignment)."""

    def __init__(self, partition: int, settled_ms: int) -> None:
        self.partition = partition
        self.engine = Engine(settled_ms)
        self.store = Store()
        self.held = HeldMessages(max_span_ms=60_000, max_hold_s=60.0)


class Delivered:
    def __init__(self) -> None:
        self.sealed: list = []
        self.released: list = []

    def __call__(self, outgoing, published, decided, sealed, settled, released) -> None:  # noqa: ANN001
        self.sealed, self.released = sealed, released


def agent_over(owned: dict[int, Runtime], clock: list[float]) -> tuple[EngineAgent, Delivered]:
    agent = EngineAgent.__new__(EngineAgent)  # only what `publish` uses
    agent.found, agent.outcomes, agent.letters = [], [], []
    agent.customers = None
    agent.taken = {}
    agent.topic = "routed"
    agent.detection = SimpleNamespace(find=owned.get)  # type: ignore[assignment]
    agent.state_writes = StateWrites(2.8, monotonic=lambda: clock[0])
    agent.batch = SimpleNamespace(finishing_held=False)  # type: ignore[assignment]
    delivered = Delivered()
    agent._deliver = delivered  # type: ignore[method-assign]
    return agent, delivered


def message(partition: int, offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset))


def test_a_batch_between_writes_releases_nothing_and_the_write_releases_what_it_applied() -> None:
    clock = [100.0]
    owned = {0: Runtime(0, settled_ms=1_000), 1: Runtime(1, settled_ms=1_000)}
    agent, delivered = agent_over(owned, clock)

    agent.taken = {0: [(10, 500)]}  # applied by the batch that took it
    agent.publish([message(0, 10)])
    assert delivered.sealed == [] and delivered.released == []
    assert owned[0].engine.writes == 0
    assert owned[0].held.first() == 10  # not committed before its state is written

    clock[0] += 1.0
    agent.taken = {1: [(3, 2_000)]}  # still waiting
    agent.publish([message(1, 3)])
    assert delivered.sealed == [] and delivered.released == []

    clock[0] += 2.0  # the interval has passed: every partition changed since is written
    agent.publish([message(1, 4)])  # a progress report: no items, the watermark moved
    assert owned[0].engine.writes == owned[1].engine.writes == 1
    assert [(partition, applied) for partition, _, applied in delivered.released] == [
        (0, [10]), (1, [4])
    ]  # fmt: skip
    assert owned[1].held.first() == 3  # still waiting


def test_a_message_without_items_is_held_until_the_state_it_moved_is_written() -> None:
    """A progress report moves the watermark, which applies waiting events and fires deadlines:
    its offset is not committed before the state as of it is in Kafka either."""
    clock = [100.0]
    owned = {0: Runtime(0, settled_ms=1_000)}
    agent, delivered = agent_over(owned, clock)
    agent.publish([message(0, 5), message(0, 6)])
    assert owned[0].held.first() == 5
    agent.batch.finishing_held = True  # type: ignore[union-attr]
    agent.publish([])
    assert [(partition, applied) for partition, _, applied in delivered.released] == [(0, [5, 6])]


def test_finishing_a_held_batch_writes_at_once_and_a_revoked_runtime_is_not_written() -> None:
    clock = [100.0]
    owned = {0: Runtime(0, settled_ms=1_000), 1: Runtime(1, settled_ms=1_000)}
    agent, delivered = agent_over(owned, clock)
    agent.taken = {0: [(10, 500)], 1: [(20, 500)]}
    agent.publish([message(0, 10), message(1, 20)])
    old = owned[0]
    owned[0] = Runtime(0, settled_ms=0)  # revoked and assigned again: read from its commit

    agent.batch.finishing_held = True  # type: ignore[union-attr]  # a revoke, a stop, or idle
    agent.publish([])
    assert old.engine.writes == 0 and owned[0].engine.writes == 0
    assert owned[1].engine.writes == 1
    assert [(partition, applied) for partition, _, applied in delivered.released] == [(1, [20])]
