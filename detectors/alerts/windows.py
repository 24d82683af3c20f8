"""Sliding event-time counts per (detector, segment), in fixed buckets of `bucket_s`.

Each series (a finding kind, or a measurement) holds `[bucket_start_ms, count]` pairs in time
order; a window sum adds the buckets that start inside it. Buckets older than the longest window
are dropped, so memory is bounded by segments x series x window / bucket. Plain lists and
string keys: the whole state serialises with orjson.
"""

from __future__ import annotations

import bisect


def finding_series(kind: str) -> str:
    return "f:" + kind


def measurement_series(measurement: str) -> str:
    return "m:" + measurement


class WindowCounts:
    """Counts keyed by detector, then segment, then series, in buckets of `bucket_ms`."""

    def __init__(self, bucket_ms: int, max_segments: int) -> None:
        self.bucket_ms = bucket_ms
        self.max_segments = max_segments
        # detector -> segment -> series -> [[bucket_start_ms, count], ...]
        self.counts: dict[str, dict[str, dict[str, list[list[int]]]]] = {}
        self.dropped = 0

    def bucket_of(self, time_ms: int) -> int:
        return time_ms - time_ms % self.bucket_ms

    def add(self, detector: str, segment: str, series: str, time_ms: int, n: int = 1) -> bool:
        """Count `n` at `time_ms`; False when the detector already has too many segments."""
        segments = self.counts.setdefault(detector, {})
        by_series = segments.get(segment)
        if by_series is None:
            if len(segments) >= self.max_segments:
                self.dropped += n
                return False
            by_series = segments[segment] = {}
        buckets = by_series.setdefault(series, [])
        start = self.bucket_of(time_ms)
        if buckets and buckets[-1][0] == start:
            buckets[-1][1] += n
        elif not buckets or buckets[-1][0] < start:
            buckets.append([start, n])
        else:  # a late arrival: rare, so a search is fine
            i = bisect.bisect_left(buckets, start, key=lambda b: b[0])
            if i < len(buckets) and buckets[i][0] == start:
                buckets[i][1] += n
            else:
                buckets.insert(i, [start, n])
        return True

    def total(
        self, detector: str, segment: str, series: tuple[str, ...], start_ms: int, end_ms: int
    ) -> int:
        """Sum of the buckets of `series` that start in [start_ms, end_ms)."""
        by_series = self.counts.get(detector, {}).get(segment)
        if not by_series:
            return 0
        total = 0
        for name in series:
            buckets = by_series.get(name)
            if not buckets:
                continue
            for i in range(len(buckets) - 1, -1, -1):
                start = buckets[i][0]
                if start < start_ms:
                    break
                if start < end_ms:
                    total += buckets[i][1]
        return total

    def series(self, detector: str, segment: str, prefix: str) -> tuple[str, ...]:
        """Names of the series of a segment that start with `prefix` (every finding kind: "f:")."""
        by_series = self.counts.get(detector, {}).get(segment, {})
        return tuple(name for name in by_series if name.startswith(prefix))

    def segments(self, detector: str) -> list[str]:
        return list(self.counts.get(detector, {}))

    def prune(self, before_ms: int) -> None:
        """Drop buckets that start before `before_ms`, then empty series and segments."""
        for detector in list(self.counts):
            segments = self.counts[detector]
            for segment in list(segments):
                by_series = segments[segment]
                for name in list(by_series):
                    buckets = by_series[name]
                    cut = 0
                    while cut < len(buckets) and buckets[cut][0] < before_ms:
                        cut += 1
                    if cut:
                        del buckets[:cut]
                    if not buckets:
                        del by_series[name]
                if not by_series:
                    del segments[segment]
            if not segments:
                del self.counts[detector]

    def snapshot(self) -> dict:
        return {"counts": self.counts, "dropped": self.dropped}

    def restore(self, snapshot: dict) -> None:
        self.counts = snapshot["counts"]
        self.dropped = snapshot.get("dropped", 0)
