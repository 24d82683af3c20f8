"""When the recovery watchdog calls a changelog partition stuck."""

from __future__ import annotations

from friction_detector.streams.worker.recovery_watchdog import StallTracker, recovery_progress


def test_a_partition_behind_its_highwater_without_progress_is_stuck_after_the_stall_time() -> None:
    tracker = StallTracker(stall_s=15)

    assert tracker.stalled({"p0": (-1, 40)}, now=0) == []
    assert tracker.stalled({"p0": (-1, 40)}, now=14) == []
    assert tracker.stalled({"p0": (-1, 40)}, now=15) == ["p0"]


def test_progress_restarts_the_stall_time() -> None:
    tracker = StallTracker(stall_s=15)
    tracker.stalled({"p0": (-1, 40)}, now=0)

    assert tracker.stalled({"p0": (10, 40)}, now=10) == []
    assert tracker.stalled({"p0": (10, 40)}, now=20) == []
    assert tracker.stalled({"p0": (10, 40)}, now=25) == ["p0"]


def test_a_partition_reported_stuck_is_reported_again_only_after_another_stall_time() -> None:
    tracker = StallTracker(stall_s=15)
    tracker.stalled({"p0": (3, 40)}, now=0)
    assert tracker.stalled({"p0": (3, 40)}, now=15) == ["p0"]

    assert tracker.stalled({"p0": (3, 40)}, now=20) == []
    assert tracker.stalled({"p0": (3, 40)}, now=30) == ["p0"]


def test_a_partition_at_its_highwater_is_never_stuck() -> None:
    tracker = StallTracker(stall_s=15)

    assert tracker.stalled({"p0": (40, 40), "p1": (-1, -1)}, now=0) == []
    assert tracker.stalled({"p0": (40, 40), "p1": (-1, -1)}, now=100) == []


def test_a_partition_that_leaves_the_recovery_is_forgotten() -> None:
    tracker = StallTracker(stall_s=15)
    tracker.stalled({"p0": (3, 40)}, now=0)
    tracker.stalled({}, now=10)  # recovery over, or the partition moved away

    assert tracker.stalled({"p0": (3, 40)}, now=20) == []
    assert tracker.stalled({"p0": (3, 40)}, now=35) == ["p0"]


def test_progress_counts_an_unset_or_none_offset_as_nothing_applied() -> None:
    progress = recovery_progress(
        ["p0", "p1", "p2", "p3"],
        offsets={"p1": None, "p2": 7, "p3": 2},
        highwaters={"p0": 40, "p1": 12, "p2": 9, "p3": None},
    )

    assert progress == {"p0": (-1, 40), "p1": (-1, 12), "p2": (7, 9)}
