"""The records a worker batch sends besides its own output: dead letters, and what replaces a
record the broker refused.

A batch's records go out through `delivery.deliver`; a record refused for its own sake (too
large, corrupt) is replaced by its `instead`: a dead letter by itself without payload, a routed
message by its items one by one, an item or a finding by the dead letter of what it carried.
Every dead letter is counted in the metrics as it is made.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from friction_detector.detectors.events import BadInput
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.outcomes import Outcome
from friction_detector.streams.dead_letter import REFUSED_BY_BROKER, dead_letter_record
from friction_detector.streams.kafka.settings import WorkerSettings
from friction_detector.streams.observability.metrics import FrictionMetrics
from friction_detector.streams.worker.delivery import Outgoing
from friction_detector.streams.worker.routing import encode_message

# A dead letter the broker refuses is sent again cut to this size: reason, hash, no payload.
SMALLEST_LETTER_BYTES = 2048

Replacement = Callable[[BaseException], list[Outgoing]]


def failure(reason: str, error: BaseException, raw: bytes) -> BadInput:
    """Bad input that stands for a message whose handling or sending failed with `error`."""
    return BadInput(reason, f"{type(error).__name__}: {error}", raw)


class WorkerRecords:
    """Makes the worker's dead letters, finding records and their replacements."""

    def __init__(self, settings: WorkerSettings, metrics: FrictionMetrics) -> None:
        self.settings = settings
        self.metrics = metrics

    def dead_letter(
        self, bad: BadInput, source: str, position: str, key: bytes | None = None
    ) -> Outgoing:
        """A counted dead letter; if the broker refuses it, it goes again without its payload."""
        self.metrics.on_bad_input(bad.reason)
        topic = self.settings.dead_letter_topic

        def smallest(error: BaseException) -> list[Outgoing]:
            value = dead_letter_record(bad, source, position, max_bytes=SMALLEST_LETTER_BYTES)
            return [Outgoing(topic, key, value)]

        value = dead_letter_record(bad, source, position)
        return Outgoing(topic, key, value, instead=smallest)

    def letter_to(self, letters: list[Outgoing]) -> Callable[[BadInput, str, str], None]:
        """Dead-letters into `letters`, the list a stage sends with its batch's output."""

        def letter(bad: BadInput, source: str, position: str) -> None:
            letters.append(self.dead_letter(bad, source, position))

        return letter

    def refused(self, raw: bytes, source: str, position: str) -> Replacement:
        """What replaces a record the broker refused: the dead letter of what it carried."""

        def instead(error: BaseException) -> list[Outgoing]:
            return [self.dead_letter(failure(REFUSED_BY_BROKER, error, raw), source, position)]

        return instead

    def routed_instead(self, value: bytes, partition: int, topic: str | None = None) -> Replacement:
        """A refused routed message goes again item by item; a refused item, to dead letters.
        `topic` is the routed topic unless given (the customers topic's messages are alike)."""
        topic = topic or self.settings.routed_topic

        def instead(error: BaseException) -> list[Outgoing]:
            doc = orjson.loads(value)
            items = [orjson.dumps(item) for item in doc["items"]]
            if len(items) == 1:
                return self.refused(items[0], topic, f"partition {partition}")(error)
            progress = doc.get("progress")
            return [
                Outgoing(
                    topic, None, encode_message([item], progress), partition,
                    instead=self.routed_instead(encode_message([item], progress), partition, topic),
                )
                for item in items
            ]  # fmt: skip

        return instead

    def finding(self, finding: Finding | Outcome) -> Outgoing:
        """A finding for the findings topic, keyed by its id; or an outcome (its own record
        type), keyed by its finding's id."""
        topic = self.settings.findings_topic
        value = finding.to_json()
        instead = self.refused(value, topic, finding.finding_id)
        return Outgoing(topic, finding.finding_id.encode(), value, instead=instead)
