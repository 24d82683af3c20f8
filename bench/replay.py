"""Replay throughput: `friction replay` over a million mixed events, against a pinned reference.

Each replay figure is measured twice in the same run: with the code of this checkout, and with the
code of a reference commit (by default the one before replay was made faster), extracted with `git
archive` into a temporary folder that goes first on the interpreter's path (with its own compiled
core, built with cargo, where the commit has one). Both run on the same file, on the same machine,
interleaved run by run, so their ratio holds whatever the machine's speed. The bare loop (read
lines, `orjson.loads` each) is the ceiling for any Python pipeline over the same file; a second loop
reads the lines and decodes them with replay's own decoder (parse, then validate against the
contract), without detection: what is left of the ceiling once input is checked. A third loop
decodes and hands each event straight to every detector's `on_event` on its key's state, with no
engine (no event-time order, watermark, deadlines, de-duplication or expiry): the floor of any
engine that runs these detectors in Python, and so the bound on what tuning the engine can gain over
the reference.

`--reference` may be given more than once (a commit or a branch name: `--reference main
--reference outcomes`), to see what each change since a commit costs in the same run; each
reference gets its own ratio.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTRACT_CONFIG = HERE / "contract-detectors.toml"
# Cargo's build folder for references' compiled cores, kept so their dependencies build once.
CORE_BUILDS = Path(tempfile.gettempdir()) / "friction-reference-core"
# The last commit before the engine and the decoder were tuned for replay throughput.
REFERENCE_COMMIT = "22086ae493601e75317f5af940c0082b6f94f6b3"
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

# Each event straight to its detectors' `on_event`, on the key's state, with a context that only
# keeps what it is given: no event-time order, watermark, deadlines, de-duplication or expiry.
# Not a correct detector run; the floor of any engine that runs these detectors in Python.
DETECT_LOOP = (
    "import gc, sys\n"
    "from pathlib import Path\n"
    "from friction_detector.detectors.config import load_config\n"
    "class Context:\n"
    "    now = 0\n"
    "    def __init__(self):\n"
    "        self.found, self.timers = [], {}\n"
    "    def emit(self, kind, **fields):\n"
    "        self.found.append((kind, fields))\n"
    "    def schedule(self, tag, at_ms):\n"
    "        self.timers[tag] = at_ms\n"
    "    def cancel(self, tag):\n"
    "        self.timers.pop(tag, None)\n"
    "    def observe(self, measurement, seconds, segment=''):\n"
    "        pass\n"
    "def run(path, config):\n"
    "    decode = config.decoder().decode\n"
    "    routes = {}\n"
    "    for d in config.detectors:\n"
    "        for t in d.consumes:\n"
    "            routes.setdefault(t, []).append(d)\n"
    "    ctx, states = Context(), {}\n"
    "    with open(path, 'rb') as f:\n"
    "        for line in f:\n"
    "            event = decode(line.rstrip(b'\\r\\n'))\n"
    "            for d in routes.get(getattr(event, 'type', None), ()):\n"
    "                key = d.key(event)\n"
    "                if key is not None:\n"
    "                    state = states.get((d.name, key))\n"
    "                    if state is None:\n"
    "                        state = states[(d.name, key)] = {}\n"
    "                    ctx.now = event.time\n"
    "                    d.on_event(state, event, ctx)\n"
    "gc.disable()  # as replay runs (streams/cli/heap.py)\n"
    "run(sys.argv[1], load_config(Path(sys.argv[2]) if len(sys.argv) > 2 else None))\n"
)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run: on a machine other work shares,
    CPU time is the steadier measure of the code, wall time what a user waits."""
    cpu_before = children_cpu()
    started = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - started, children_cpu() - cpu_before


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def extract(commit: str, into: Path) -> dict[str, str]:
    """The reference's packages under their installed names in `into`, and the environment that
    imports them ahead of this checkout's (an editable install resolves after `sys.path`)."""
    package = into / "friction_detector"
    package.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "detectors", "streams"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(package)], input=archive, check=True)
    _stub_missing_detectors(package)
    _build_core(package, commit)
    return {**os.environ, "PYTHONPATH": str(into)}


def _build_core(package: Path, commit: str) -> None:
    """Build the reference's compiled core, where it has one, as the install does: a reference
    without it would run engine.py and the Python decoder, and every ratio against it would
    credit this checkout with the core. Cargo's build folder is kept between runs
    (`CORE_BUILDS`), so only the core's own crate compiles again."""
    manifest = package / "detectors" / "core" / "Cargo.toml"
    if not manifest.exists():
        return
    if shutil.which("cargo") is None:
        sys.exit(f"reference {commit} has a compiled core and cargo is not on PATH to build it")
    print(f"building reference {commit[:12]}'s compiled core ...", flush=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(CORE_BUILDS), "PYO3_PYTHON": sys.executable}
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--manifest-path", str(manifest)],
        check=True,
        env=env,
    )
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    shutil.copy(CORE_BUILDS / "release" / "lib_core.so", package / "detectors" / f"_core{suffix}")


ABSENT_DETECTOR = """from friction_detector.detectors.api import Detector


class {cls}(Detector):
    name = "{name}"
    description = "not at the reference commit: reads nothing"
    consumes = {{}}

    def state_ttl_ms(self):
        return 0

    def key(self, event):
        return None

    def on_event(self, state, event, ctx):
        pass
"""


def _stub_missing_detectors(package: Path) -> None:
    """The installed entry points are this checkout's: a detector the reference does not have
    would fail to load there, so it becomes one that reads nothing (the reference's cost)."""
    for entry in entry_points(group="friction.detectors"):
        module, _, cls = entry.value.partition(":")
        if not module.startswith("friction_detector."):
            continue
        path = package.parent / (module.replace(".", "/") + ".py")
        if not path.exists():
            path.write_text(ABSENT_DETECTOR.format(cls=cls, name=entry.name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path, default=HERE / "out" / "events-1m.jsonl")
    parser.add_argument(
        "--reference",
        action="append",
        help=f"a commit or branch to compare against, repeatable (default {REFERENCE_COMMIT[:12]})",
    )
    args = parser.parse_args()
    references = args.reference or [REFERENCE_COMMIT]
    python = sys.executable
    if not args.file.exists():
        print(f"generating {args.count:,} events into {args.file} ...", file=sys.stderr)
        subprocess.run(
            [python, str(HERE / "generate.py"), str(args.file), "--count", str(args.count)],
            check=True,
        )
    lines = sum(1 for _ in args.file.open("rb"))
    friction = [python, "-m", "friction_detector.streams.cli.main"]
    replay = ["replay", str(args.file), "--findings", "/dev/null"]
    commands = {
        "bare read + orjson.loads (ceiling)": [python, "-c", BARE_LOOP, str(args.file)],
        "read + decode and validate, no detection": [python, "-c", DECODE_LOOP, str(args.file)]
        + [str(CONTRACT_CONFIG)],
        "friction replay, 4 contract detectors": friction
        + ["--config", str(CONTRACT_CONFIG), *replay],
        EVERY: friction + replay,
        FLOOR: [
            python,
            "-c",
            DETECT_LOOP,
            str(args.file),
        ],
    }
    this_only = {"bare read + orjson.loads (ceiling)", FLOOR}
    names = [_name(reference) for reference in references]
    print(
        f"{lines:,} events, {args.runs} runs each, one process (one core) per run; "
        f"references {', '.join(names)}"
    )
    with tempfile.TemporaryDirectory(prefix="friction-reference-") as folder:
        reference_envs = {}
        for n, (name, reference) in enumerate(zip(names, references, strict=True)):
            into = Path(folder) / str(n)
            into.mkdir()
            reference_envs[name] = extract(reference, into)
        ceiling = 0.0
        medians: dict[str, dict[str, float]] = {}
        for label, command in commands.items():
            envs: dict[str, dict[str, str] | None] = {"this checkout": None}
            if label not in this_only:
                envs.update(reference_envs)
            seconds: dict[str, list[float]] = {name: [] for name in envs}
            cpu: dict[str, list[float]] = {name: [] for name in envs}
            for _ in range(args.runs):
                for name, env in envs.items():
                    wall, used = timed(command, env)
                    seconds[name].append(wall)
                    cpu[name].append(used)
            rates = {name: lines / statistics.median(s) for name, s in seconds.items()}
            cpu_rates = {name: lines / statistics.median(s) for name, s in cpu.items()}
            ceiling = ceiling or rates["this checkout"]
            medians[label] = rates
            print(f"  {label}")
            for name, rate in rates.items():
                print(
                    f"    {name:{WIDTH}s} median {rate:>10,.0f} events/s "
                    f"(best {lines / min(seconds[name]):,.0f}, "
                    f"worst {lines / max(seconds[name]):,.0f}), "
                    f"{rate / ceiling:.2f} of the ceiling; {cpu_rates[name]:,.0f} per CPU second"
                )
            for name in reference_envs:
                if name not in rates:
                    continue
                ratio = rates["this checkout"] / rates[name]
                cpu_ratio = cpu_rates["this checkout"] / cpu_rates[name]
                print(f"    {'ratio':{WIDTH}s} {ratio:.2f}x {name} ({cpu_ratio:.2f}x in CPU time)")
        pinned = _name(REFERENCE_COMMIT)
        if pinned in reference_envs:
            print_target(medians[EVERY], medians[FLOOR]["this checkout"], pinned)
    return 0


EVERY = "friction replay, every installed detector"
FLOOR = "decode + every event detector's own code, no engine (floor)"
# The replay target: this many times the pinned reference's rate with every detector.
TARGET_RATIO = 2.0


def print_target(every: dict[str, float], floor: float, pinned: str) -> None:
    """The target's verdict, and what it asks of the engine: the engine's own cost per event is
    replay's time per event less the floor's (decoding and the detectors' own code)."""
    rate, reference = every["this checkout"], every[pinned]
    ratio = rate / reference
    verdict = "met" if ratio >= TARGET_RATIO else "not met"
    print(f"target: every installed detector at >= {TARGET_RATIO:.1f}x {pinned}: {ratio:.2f}x, "
          f"{verdict}")  # fmt: skip
    engine_us = 1e6 / rate - 1e6 / floor
    allowed_us = 1e6 / (TARGET_RATIO * reference) - 1e6 / floor
    print(
        f"  the engine's own cost: {engine_us:.1f} us per event (replay less the floor); "
        f"the target leaves it {allowed_us:.1f} us"
        + ("" if allowed_us > 0 else ": no engine can, the floor itself is slower")
    )


WIDTH = 20


def _name(reference: str) -> str:
    """A branch or tag as given and its commit; a commit by its first 12 digits."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", reference + "^{commit}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if commit.startswith(reference):
        return commit[:12]
    return f"{reference} {commit[:8]}"[:WIDTH]


if __name__ == "__main__":
    sys.exit(main())
