"""The worker's partitioner is Kafka's: the compiled core's murmur2 agrees with the Java
client's partition for the same key bytes (kafka-python's murmur2 was checked against it)."""

from __future__ import annotations

import pytest
from friction_detector.detectors.compiled import _core, compiled
from friction_detector.streams.kafka.topics import _partition_by_python, partition_for
from hypothesis import given, settings
from hypothesis import strategies as st

needs_core = pytest.mark.skipif(not compiled(), reason="the compiled core is not built")


# The Java client's partitions among 1,000 for these keys, as kafka-python's tests give them.
@pytest.mark.parametrize(
    ("key", "partition"),
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_a_key_lands_where_the_java_client_puts_it(key: bytes, partition: int) -> None:
    assert partition_for(key, 1000) == partition
    assert _partition_by_python(key, 1000) == partition


@needs_core
@settings(max_examples=2000, deadline=None)
@given(key=st.binary(max_size=80), partitions=st.integers(min_value=1, max_value=10_000))
def test_the_core_partitions_every_key_as_kafka_python_does(key: bytes, partitions: int) -> None:
    assert _core.partition_for(key, partitions) == _partition_by_python(key, partitions)


@needs_core
def test_no_partitions_is_an_error_not_a_division_by_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _core.partition_for(b"key", 0)
