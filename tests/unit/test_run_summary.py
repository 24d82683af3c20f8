"""The run summary renders from its own counts, including what the run set on it."""

from __future__ import annotations

from friction_detector.streams.cli.summary import RunSummary


def test_render_reports_the_lines_read_and_their_rate_from_the_summarys_own_fields() -> None:
    summary = RunSummary()
    summary.lines_read, summary.elapsed_s = 500, 2.0

    assert summary.render().splitlines()[0] == "lines read: 500 in 2.00 s (250/s)"


def test_a_summary_nothing_was_run_through_renders_zeros() -> None:
    assert RunSummary().render().splitlines()[:2] == [
        "lines read: 0 in 0.00 s (0/s)",
        "events accepted: 0",
    ]
