"""The worker's event loop: uvloop where installed (`auto`), asyncio on request, a clear error
for a loop that cannot be had, before Faust starts."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import threading

import pytest
from friction_detector.streams.cli.main import build_parser
from friction_detector.streams.kafka.settings import SettingsError, resolve
from friction_detector.streams.worker.event_loop import loop_kind, loop_name, use_event_loop

uvloop = pytest.importorskip("uvloop")  # a runtime dependency wherever it has a build


def _resolve(args: argparse.Namespace, env: dict[str, str]) -> str:
    return resolve(args, worker=True, env=env).event_loop


@pytest.fixture
def restores_the_current_loop():
    """Each test sets a loop of its own as current, and the policy; the loop is closed and
    unset afterwards, and the standard policy put back."""
    yield
    loop = asyncio.get_event_loop()
    loop.close()
    asyncio.set_event_loop(None)
    asyncio.set_event_loop_policy(None)


def _made_in_a_thread() -> asyncio.AbstractEventLoop:
    """A loop made as Faust's consumer thread makes its own."""
    made = []
    thread = threading.Thread(target=lambda: made.append(asyncio.new_event_loop()))
    thread.start()
    thread.join()
    made[0].close()
    return made[0]


def test_auto_is_the_default_and_gives_uvloop_where_installed():
    assert _resolve(argparse.Namespace(), {}) == "auto"
    assert loop_name("auto") == "uvloop"


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *args: None if name == "uvloop" else real_find_spec(name, *args),
    )  # fmt: skip
    assert loop_name("auto") == "asyncio"
    with pytest.raises(SettingsError, match="pip install uvloop"):
        _resolve(argparse.Namespace(), {"FRICTION_EVENT_LOOP": "uvloop"})


def test_the_option_overrides_the_environment():
    args = build_parser().parse_args(["worker", "--event-loop", "asyncio"])
    assert _resolve(args, {"FRICTION_EVENT_LOOP": "uvloop"}) == "asyncio"
    assert _resolve(argparse.Namespace(), {"FRICTION_EVENT_LOOP": "uvloop"}) == "uvloop"


def test_an_unknown_loop_is_refused_with_the_choices():
    with pytest.raises(SettingsError, match="auto, uvloop, asyncio"):
        _resolve(argparse.Namespace(), {"FRICTION_EVENT_LOOP": "trio"})


@pytest.mark.usefixtures("restores_the_current_loop")
@pytest.mark.parametrize("choice", ["auto", "uvloop"])
def test_uvloop_is_made_and_current_where_installed(choice: str):
    loop = use_event_loop(choice)
    assert isinstance(loop, uvloop.Loop)
    assert loop_kind(loop) == "uvloop"
    assert asyncio.get_event_loop() is loop
    assert isinstance(_made_in_a_thread(), uvloop.Loop)


@pytest.mark.usefixtures("restores_the_current_loop")
def test_asyncio_gives_the_standard_loop():
    use_event_loop("uvloop").close()  # a worker run before, in the same process
    loop = use_event_loop("asyncio")
    assert not isinstance(loop, uvloop.Loop)
    assert loop_kind(loop) == "asyncio"
    assert isinstance(loop, asyncio.BaseEventLoop)
    assert asyncio.get_event_loop() is loop
    assert not isinstance(_made_in_a_thread(), uvloop.Loop)
