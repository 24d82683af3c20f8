"""Replay's whole output over a corpus that exercises every detector and every path of the core.

The engine and the decoder are tuned for speed; this pins what they produce, byte for byte:
findings in their order, dead letters and the summary's counts (alerts included), over events out of
order, redelivered, late behind the watermark and bad. The golden files were written by the
engine before it was tuned. A change that means to alter output rewrites them with
`python tests/unit/test_replay_golden.py` and shows the difference in review.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from friction_detector.detectors.config import build_config
from friction_detector.streams.cli.alert_sink import JsonLinesAlertSink
from friction_detector.streams.cli.replay import replay
from replay_corpus import BUILTIN_DETECTORS, corpus

GOLDEN = Path(__file__).parent / "data" / "replay-corpus"
OUTPUTS = ("findings.jsonl", "dead-letter.jsonl", "summary.txt")


def replay_outputs() -> dict[str, bytes]:
    """Replay of the corpus with every built-in detector: each output as bytes."""
    config = build_config({"detectors": {"enable": BUILTIN_DETECTORS}})
    findings, dead_letter, alerts = io.BytesIO(), io.BytesIO(), io.BytesIO()
    sink = JsonLinesAlertSink(alerts)
    source = io.BytesIO(b"\n".join(corpus()) + b"\n")
    summary = replay(source, config, findings, dead_letter, "corpus.jsonl", alert_sink=sink)
    # The first line says how long the run took; everything else is a function of the input.
    counts = summary.render().split("\n", 1)[1] + "\n" + sink.render() + "\n"
    assert not alerts.getvalue(), "no default alert rule fires on the corpus; pin what does"
    return {
        "findings.jsonl": findings.getvalue(),
        "dead-letter.jsonl": dead_letter.getvalue(),
        "summary.txt": counts.encode(),
    }


def test_replay_output_is_unchanged() -> None:
    outputs = replay_outputs()
    assert outputs["findings.jsonl"].count(b"\n") > 100  # the corpus does find things
    for name in OUTPUTS:
        expected = (GOLDEN / name).read_bytes()
        assert outputs[name] == expected, f"replay's {name} differs from {GOLDEN / name}"


def test_every_detector_finds_something_in_the_corpus() -> None:
    """The golden output covers each detector's findings, not only the busy ones'."""
    summary = (GOLDEN / "summary.txt").read_text()
    for name in BUILTIN_DETECTORS:
        assert f"\n  {name} " in summary.split("findings:", 1)[1], name


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, data in replay_outputs().items():
        (GOLDEN / name).write_bytes(data)
        print(f"wrote {GOLDEN / name} ({len(data):,} bytes)", file=sys.stderr)
