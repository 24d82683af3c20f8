"""One `/metrics` for a worker of two processes: its own registry plus stage 1's series.

With stage 1 in a process of its own (streams/worker/input_process.py), the events it accepts,
the input it dead-letters, its processing times, commits and consumer lag are counted in that
process. It sends the families it writes (`STAGE1_FAMILIES`) to the worker as a snapshot of
plain tuples, and the worker's endpoint adds them to its own: a counter's or histogram's
samples are summed, as are the memory, CPU and file gauges of the process (the worker is both
processes); a timestamp gauge takes the later value; a series only one process has is taken
as it is. Nothing Prometheus scrapes tells the two processes apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

# The families stage 1 writes. Names are the registry's family names (a counter's without
# `_total`).
STAGE1_FAMILIES = frozenset(
    {
        "friction_events",
        "friction_bad_input",
        "friction_detector_errors",
        "friction_metric_labels_folded",
        "friction_event_processing_seconds",
        "friction_commit_latency_seconds",
        "friction_consumer_lag_messages",
        "friction_last_event_timestamp_seconds",
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
    }
)
# Gauges whose value is a moment: the two processes' later one, not their sum.
LATEST_OF = frozenset({"friction_last_event_timestamp_seconds"})

Labels = tuple[tuple[str, str], ...]
SampleValue = tuple[str, Labels, float]  # (sample name, sorted labels, value)
Snapshot = dict[str, list[SampleValue]]  # family name -> its samples


def snapshot(registry: CollectorRegistry, families: frozenset[str] = STAGE1_FAMILIES) -> Snapshot:
    """The `families` of `registry` now, as plain tuples (they travel through a pipe)."""
    taken: Snapshot = {}
    for family in registry.collect():
        if family.name in families:
            taken[family.name] = [
                (s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples
            ]
    return taken


def merge(family: Metric, other: list[SampleValue]) -> Metric:
    """`family` with `other`'s samples added (module docstring)."""
    values: dict[tuple[str, Labels], float] = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples
    }
    for name, labels, value in other:
        key = (name, labels)
        mine = values.get(key)
        if mine is None:
            values[key] = value
        elif name.endswith("_created"):  # when the series began: the earlier
            values[key] = min(mine, value)
        elif family.name in LATEST_OF:
            values[key] = max(mine, value)
        else:
            values[key] = mine + value
    merged = Metric(family.name, family.documentation, family.type, family.unit)
    merged.samples = [Sample(name, dict(labels), value) for (name, labels), value in values.items()]
    return merged


class MergedCollector:
    """What `/metrics` serves: `registry`'s families, with the latest snapshot `update` gave
    added to them (prometheus_client calls `collect` on each scrape)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._other: Snapshot = {}

    def update(self, other: Snapshot) -> None:
        """The other process's families now (counters only grow: the latest is whole)."""
        self._other = other

    def collect(self) -> Iterator[Metric]:
        other = self._other  # one snapshot for the whole scrape
        for family in self.registry.collect():
            samples = other.get(family.name)
            yield family if samples is None else merge(family, samples)

    def served(self) -> CollectorRegistry:
        """A registry of this collector alone, for prometheus_client's exposition."""
        served = CollectorRegistry(auto_describe=True)  # names for a scrape's `name[]`
        served.register(self)
        return served
