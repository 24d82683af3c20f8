"""Detection of customer-experience friction: the core, the plugin API and built-in detectors."""

from friction_detector.detectors.api import (
    Context,
    Detector,
    FindingDetector,
    Journey,
    Measurement,
    Param,
)
from friction_detector.detectors.events import BadInput, Event
from friction_detector.detectors.findings import Finding
from friction_detector.detectors.schema import NUMBER, OBJECT, STRING, STRING_LIST, Attr

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
    "FindingDetector",
    "Journey",
    "Measurement",
    "Param",
]
