"""The README's detector example runs as written, so the docs stay in step with the API."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_detector_example_defines_tests_and_passes():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 2, "the README shows a detector and its test"
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)  # raises if it fails
    harness = namespace["harness"]
    assert [f.detector for f in harness.findings] == ["address_retry"]
