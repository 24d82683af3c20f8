"""The built-in detectors; they register through the `friction.detectors` entry points too."""
