"""Detection of customer-experience friction: the core, the plugin API and built-in detectors."""

from detectors.api import Context, Detector, Param
from detectors.events import BadInput, Event
from detectors.findings import Finding
from detectors.schema import NUMBER, OBJECT, STRING, STRING_LIST, Attr

__all__ = [
    "NUMBER",
    "OBJECT",
    "STRING",
    "STRING_LIST",
    "Attr",
    "BadInput",
    "Context",
    "Detector",
    "Event",
    "Finding",
    "Param",
]
