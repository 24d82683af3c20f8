"""A record of a routed partition as a whole (its input progress) has a key of that partition, as
every key of the partition's store must."""

from __future__ import annotations

import pytest
from friction_detector.streams.kafka.topics import partition_for
from friction_detector.streams.worker.partition_store import own_key


@pytest.mark.parametrize("partitions", [1, 4, 7, 32])
def test_each_partition_gets_a_key_that_hashes_to_it(partitions: int) -> None:
    keys = [own_key("~sources/", p, partitions) for p in range(partitions)]

    assert [partition_for(key.encode(), partitions) for key in keys] == list(range(partitions))
    assert all(key.startswith("~sources/") for key in keys)
    assert keys == [own_key("~sources/", p, partitions) for p in range(partitions)]  # stable
