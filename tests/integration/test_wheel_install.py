"""The wheel works outside the checkout.

The package is built into a wheel, installed with its dependencies in a fresh virtualenv in a
temporary folder, and run from another temporary folder, so nothing comes from the source tree:
`friction replay` finds a slow checkout page, and `friction demo` starts the local broker (jars
from the cache that scripts/setup fills), a worker and the simulator, prints findings, and on
Ctrl-C stops all of them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from friction_detector.streams.devkit.local_kafka import LocalKafka
from loopback import free_port

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DEMO_FINDING_TIMEOUT_S = 120
DEMO_EXIT_TIMEOUT_S = 90
# A finding as `friction tail` prints it: time, severity, detector/kind, who, summary.
FINDING_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+\s+\w+\s+\w+/\w+\s", re.MULTILINE)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _run(command: list[str], what: str, timeout: float, **kwargs) -> str:
    """Run `command`; on failure, fail the test with the tail of its output."""
    try:
        result = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode(errors="replace") if err.stdout else ""
        pytest.fail(f"{what} took over {timeout:g} s:\n{_tail(output)}")
    if result.returncode != 0:
        pytest.fail(f"{what} exited {result.returncode}:\n{_tail(result.stdout)}")
    return result.stdout


def _clean_env(venv: Path) -> dict[str, str]:
    """The caller's environment without what would point into the checkout or change settings.

    FRICTION_CACHE stays: it says where scripts/setup put the broker's jars.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        and (not name.startswith("FRICTION_") or name == "FRICTION_CACHE")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _copy_sources(dest: Path) -> None:
    """The checkout's files as git sees them (tracked or new, not ignored), without build leftovers.

    Building from a copy keeps the build's `build/` and egg-info out of the working tree, where a
    stale `build/lib` would ship modules that no longer exist.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh virtualenv with the wheel installed: its folder and the environment to run it in."""
    base = tmp_path_factory.mktemp("wheel")
    source, dist, venv = base / "source", base / "dist", base / "venv"
    _copy_sources(source)
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        "building the wheel",
        timeout=180,
    )
    wheels = sorted(dist.glob("friction_detector-*.whl"))
    assert len(wheels) == 1, f"expected one friction_detector wheel in {dist}, found {wheels}"
    _run([sys.executable, "-m", "venv", str(venv)], "creating the virtualenv", timeout=120)
    env = _clean_env(venv)
    _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[0])],
        "installing the wheel and its dependencies",
        timeout=600,
        env=env,
        cwd=base,
    )
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import friction_detector.streams as m; print(m.__file__)",
        ],
        "importing the installed package",
        timeout=60,
        env=env,
        cwd=base,
    ).strip()
    assert Path(where).is_relative_to(venv), f"the package was imported from {where}, not {venv}"
    yield venv, env


def test_installed_replay_prints_the_slow_checkout_finding(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = installed
    events = [
        {
            "event_id": "e1",
            "type": "page_load",
            "time": "2026-11-22T10:00:00Z",
            "session_id": "s1",
            "attrs": {"page": "/checkout/payment", "duration_ms": 9000},
        },
        # A later event moves the watermark past the first one.
        {
            "event_id": "e2",
            "type": "page_load",
            "time": "2026-11-22T10:05:00Z",
            "session_id": "s2",
            "attrs": {"page": "/home", "duration_ms": 300},
        },
    ]
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))

    output = _run(
        [str(venv / "bin" / "friction"), "replay", "events.jsonl"],
        "friction replay",
        timeout=60,
        env=env,
        cwd=tmp_path,
    )

    findings = [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [(f["detector"], f["session_id"]) for f in findings] == [("slow_checkout", "s1")], (
        f"expected one slow_checkout finding for s1; friction replay printed:\n{_tail(output)}"
    )


def _free_port_pair() -> int:
    """A free port whose successor is free too (the demo's broker takes port and port+1)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains `text` (the demo's own temporary folder)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if text in cmdline:
            found[int(entry.name)] = cmdline
    return found


def test_installed_demo_prints_findings_and_stops_everything_on_ctrl_c(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = installed
    home = tmp_path / "demo"
    port = _free_port_pair()
    log = tmp_path / "demo.out"
    command = [
        str(venv / "bin" / "friction"), "demo", "--home", str(home), "--port", str(port),
        "--metrics-port", "0", "--rate", "100", "--incident-rate", "0.9",
    ]  # fmt: skip

    def output() -> str:
        text = log.read_text(errors="replace") if log.exists() else ""
        for name in ("demo-worker.log", "demo-simulate.log"):
            if (home / name).exists():
                text += f"\n--- {name} ---\n" + _tail((home / name).read_text(errors="replace"))
        return _tail(text, 80)

    with log.open("wb") as out:
        demo = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
    try:
        deadline = time.monotonic() + DEMO_FINDING_TIMEOUT_S
        while not FINDING_LINE.search(log.read_text(errors="replace")):
            if demo.poll() is not None:
                pytest.fail(
                    f"friction demo exited {demo.returncode} before any finding:\n{output()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"friction demo printed no finding in {DEMO_FINDING_TIMEOUT_S} s:\n{output()}"
                )
            time.sleep(0.5)
        broker_pid = LocalKafka(home / "kafka").pid
        assert broker_pid is not None, f"the demo's broker wrote no pid file:\n{output()}"

        demo.send_signal(signal.SIGINT)
        try:
            status = demo.wait(DEMO_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"friction demo did not exit {DEMO_EXIT_TIMEOUT_S} s after Ctrl-C:\n{output()}"
            )

        assert status == 0, f"friction demo exited {status} after Ctrl-C:\n{output()}"
        assert not Path(f"/proc/{broker_pid}").exists(), (
            f"the demo's broker (pid {broker_pid}) is still running:\n{output()}"
        )
        left = _processes_mentioning(str(home))
        assert not left, f"processes of the demo still running: {left}\n{output()}"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in _processes_mentioning(str(home)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
