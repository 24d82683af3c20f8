"""A Faust agent that only reads, parses and acknowledges each event: the Faust ceiling.

`bench/stream` runs it over the same pre-loaded events as the worker. No Faust worker can be
faster on the same machine, so it tells how much of the worker's time is Faust's own. Run as
`python bench/faust_ceiling.py worker` with the variables below set.
"""

from __future__ import annotations

import os

import faust
import orjson

BROKER = "FRICTION_BENCH_BROKER"  # kafka://host:port
TOPIC = "FRICTION_BENCH_TOPIC"
APP_ID = "FRICTION_BENCH_APP_ID"  # also the consumer group, whose commits the benchmark reads
DATA_DIR = "FRICTION_BENCH_DATA_DIR"
COMMIT_INTERVAL_S = "FRICTION_BENCH_COMMIT_INTERVAL_S"  # the benchmark's clock stops at commits

app = faust.App(
    os.environ[APP_ID],
    broker=os.environ[BROKER],
    datadir=os.environ[DATA_DIR],
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=float(os.environ.get(COMMIT_INTERVAL_S, "2.8")),
)
events = app.topic(os.environ[TOPIC], key_serializer="raw", value_serializer="raw")


@app.agent(events, concurrency=1)
async def read(stream) -> None:
    async for value in stream:
        orjson.loads(value)


if __name__ == "__main__":
    app.main()
