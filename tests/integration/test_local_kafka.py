"""The local broker serves real clients and stops when asked."""

from __future__ import annotations

import socket

from friction_detector.streams.devkit.local_kafka import LocalKafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer


def test_messages_produced_to_a_new_topic_are_consumed_back_in_order(
    kafka_bootstrap: str,
) -> None:
    topic = "local-kafka-roundtrip"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            {topic: {"num_partitions": 1, "replication_factor": 1}},
            wait_for_metadata=True,
        )
    finally:
        admin.close()

    sent = [f"event-{i}".encode() for i in range(5)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for value in sent:
            producer.send(topic, value=value, key=b"s-9").get(timeout=10)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id="local-kafka-test",
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
    )
    try:
        received = []
        for message in consumer:
            received.append((message.key, message.value))
            if len(received) == len(sent):
                break
    finally:
        consumer.close()

    assert received == [(b"s-9", value) for value in sent]


def test_down_stops_the_broker_process_and_frees_its_port(
    own_kafka: LocalKafka,
) -> None:
    broker = own_kafka
    assert broker.is_running()

    broker.down()

    assert not broker.is_running()
    assert not broker.pid_file.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", broker.port)) != 0
    broker.down()  # a second call is a no-op
