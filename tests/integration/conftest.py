"""Real-broker fixtures: one local Kafka for the whole session, on free ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.local_kafka import LocalKafka


def free_port() -> int:
    """A port the OS just handed out: no clash with a developer's own broker."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(home: Path) -> LocalKafka:
    broker = LocalKafka(home, port=free_port(), controller_port=free_port())
    broker.up(timeout=90)
    return broker


@pytest.fixture(scope="session")
def local_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of the test's own, for tests that stop or break it."""
    broker = start_broker(tmp_path)
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka: LocalKafka) -> str:
    """``host:port`` of a running broker that auto-creates topics of 4 partitions."""
    return local_kafka.bootstrap
