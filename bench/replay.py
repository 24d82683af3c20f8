"""Replay throughput: `friction replay` over a million mixed events, against a bare parse loop.

The bare loop (read lines, `orjson.loads` each) is the ceiling for any Python pipeline over the
same file; the figure that matters is replay's rate and its share of that ceiling. A second loop
reads the lines and decodes them with replay's own decoder (parse, then validate against the
contract), without detection: what is left of the ceiling once input is checked.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTRACT_CONFIG = HERE / "contract-detectors.toml"
BARE_LOOP = (
    "import sys, orjson\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        orjson.loads(line)\n"
)

DECODE_LOOP = (
    "import sys\n"
    "from pathlib import Path\n"
    "from friction_detector.detectors.config import load_config\n"
    "decode = load_config(Path(sys.argv[2])).decoder().decode\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        decode(line.rstrip(b'\\r\\n'))\n"
)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path, default=HERE / "out" / "events-1m.jsonl")
    args = parser.parse_args()
    python = sys.executable
    if not args.file.exists():
        print(f"generating {args.count:,} events into {args.file} ...", file=sys.stderr)
        subprocess.run(
            [python, str(HERE / "generate.py"), str(args.file), "--count", str(args.count)],
            check=True,
        )
    lines = sum(1 for _ in args.file.open("rb"))
    friction = [python, "-m", "friction_detector.streams.cli.main"]
    commands = {
        "bare read + orjson.loads (ceiling)": [python, "-c", BARE_LOOP, str(args.file)],
        "read + decode and validate, no detection": [python, "-c", DECODE_LOOP, str(args.file)]
        + [str(CONTRACT_CONFIG)],
        "friction replay, 4 contract detectors": friction
        + ["--config", str(CONTRACT_CONFIG), "replay", str(args.file), "--findings", "/dev/null"],
        "friction replay, every installed detector": friction
        + ["replay", str(args.file), "--findings", "/dev/null"],
    }
    rates = {}
    print(f"{lines:,} events, {args.runs} runs each, one process (one core) per run")
    for label, command in commands.items():
        seconds = [timed(command) for _ in range(args.runs)]
        rates[label] = lines / statistics.median(seconds)
        print(
            f"  {label:45s} median {rates[label]:>10,.0f} events/s "
            f"(best {lines / min(seconds):,.0f}, worst {lines / max(seconds):,.0f})"
        )
    ceiling = rates["bare read + orjson.loads (ceiling)"]
    for label, rate in list(rates.items())[1:]:
        print(f"  {label:45s} {rate / ceiling:.2f} of the ceiling")
    return 0


if __name__ == "__main__":
    sys.exit(main())
