"""One incident of each detector beyond the contract's four, in harmless traffic, through
`friction replay`: each detector reports exactly its own moment."""

import random
from collections import Counter

import orjson
from contract_stream import CONTRACT_DETECTORS
from friction_detector.streams.cli.main import main
from friction_detector.streams.devkit.scenarios import (
    HOUR,
    INCIDENTS,
    MINUTE,
    background,
    clock_event,
)

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past
INJECTORS = {name: inject for name, inject in INCIDENTS.items() if name not in CONTRACT_DETECTORS}


def write_mixed_file(path, seed=7):
    rng = random.Random(seed)
    events, injected = [], {}
    for i, (name, inject) in enumerate(INJECTORS.items()):
        incident = inject(T0 + i * 10 * MINUTE, rng)
        injected[name] = incident
        events += incident
    for _ in range(400):
        events += background(T0 + rng.randrange(50 * HOUR), rng)
    events.sort(key=lambda e: e["time"])
    # arrival a little out of order (well within the allowed lateness), and redelivered lines
    for i in range(1, len(events), 7):
        if events[i]["time"] - events[i - 1]["time"] < 10_000:
            events[i - 1], events[i] = events[i], events[i - 1]
    for i in range(len(events) - 1, 0, -25):
        events.insert(i + 1, events[i])
    events.append(clock_event(max(e["time"] for e in events) + HOUR, rng))
    lines = [orjson.dumps(e) for e in events] + [b'{"event_id": "x", "type": "click"}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return injected


def test_each_detector_reports_exactly_its_injected_moment(tmp_path):
    source, out, dead = tmp_path / "mixed.jsonl", tmp_path / "f.jsonl", tmp_path / "dl.jsonl"
    injected = write_mixed_file(source)
    assert main(["replay", str(source), "--findings", str(out), "--dead-letter", str(dead)]) == 0
    findings = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    ours = [f for f in findings if f["detector"] in INJECTORS]
    assert Counter(f["detector"] for f in ours) == Counter(list(INJECTORS))
    for finding in ours:
        incident = injected[finding["detector"]]
        values = [e["session_id"] for e in incident]
        values += [v for e in incident for v in e["attrs"].values() if type(v) is str]
        assert set(finding["subject"].values()) & set(values), finding
    assert len(dead.read_bytes().splitlines()) == 1
