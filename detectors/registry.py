"""Discovery of installed detectors through the `friction.detectors` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from friction_detector.detectors.api import Detector

ENTRY_POINT_GROUP = "friction.detectors"


class RegistryError(Exception):
    """An installed plugin that cannot be loaded; start-up stops with this message."""


def installed_detectors() -> dict[str, type[Detector]]:
    """Every detector class installed, by registered name; built-ins are found the same way."""
    found: dict[str, type[Detector]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception as err:  # a broken plugin must name itself, whatever it raised
            raise RegistryError(
                f"detector plugin {entry.name!r} ({entry.value}) failed to load: "
                f"{type(err).__name__}: {err}"
            ) from err
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise RegistryError(
                f"entry point {entry.name!r} ({entry.value}) is not a Detector class"
            )
        if cls.name != entry.name:
            raise RegistryError(f"entry point {entry.name!r} names a detector called {cls.name!r}")
        if entry.name in found and found[entry.name] is not cls:
            raise RegistryError(f"two installed packages register detector {entry.name!r}")
        found[entry.name] = cls
    return dict(sorted(found.items()))
