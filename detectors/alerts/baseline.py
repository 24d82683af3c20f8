"""A segment's usual rate of findings: an EWMA of the windowed rate, learned while all is calm.

At each evaluation (one per bucket) the windowed rate of every known segment, zero included,
moves the segment's average by `alpha = 1 - 0.5 ** (bucket_s / half_life_s)`: after one
half-life of calm, an old level weighs half. Evaluations where the segment is pending or firing
are skipped, so an incident does not teach the baseline that it is normal. With
`seasonality = "hour_of_week"` each of the 168 hours of the week keeps its own average (Monday
09:00 is compared with earlier Mondays 09:00); it needs a week of history before it can fire.

A rule may fire only once it has watched the detector for `warmup_s` in the current slot; a
segment never seen before has a usual rate of zero, so a new form that suddenly fills with
resubmits can still page. State is plain dicts with string keys: it serialises with orjson.
"""

from __future__ import annotations

HOUR_MS = 3_600_000
WEEK_HOURS = 168
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday 00:00 UTC is hour 0 of the week


def slot_of(time_ms: int, seasonality: str) -> str:
    """The baseline slot of a moment: "0" without seasonality, the UTC hour of the week with."""
    if seasonality != "hour_of_week":
        return "0"
    hours = time_ms // HOUR_MS
    return str((hours + _EPOCH_WEEKDAY * 24) % WEEK_HOURS)


class Baseline:
    """Usual rates (findings per minute) of one rule, per segment and slot."""

    def __init__(self, bucket_s: int, half_life_s: int, warmup_s: int, seasonality: str) -> None:
        self.bucket_s = bucket_s
        self.alpha = 1 - 0.5 ** (bucket_s / half_life_s)
        self.warmup_s = warmup_s
        self.seasonality = seasonality
        self.observed: dict[str, int] = {}  # slot -> seconds watched
        self.rates: dict[str, dict[str, float]] = {}  # segment -> slot -> usual rate

    def usual(self, segment: str, time_ms: int) -> float:
        return self.rates.get(segment, {}).get(slot_of(time_ms, self.seasonality), 0.0)

    def warm(self, time_ms: int) -> bool:
        return self.observed.get(slot_of(time_ms, self.seasonality), 0) >= self.warmup_s

    def tick(self, time_ms: int) -> None:
        """One evaluation has watched the detector for one more bucket."""
        slot = slot_of(time_ms, self.seasonality)
        self.observed[slot] = self.observed.get(slot, 0) + self.bucket_s

    def learn(self, segment: str, time_ms: int, rate: float) -> None:
        slot = slot_of(time_ms, self.seasonality)
        slots = self.rates.setdefault(segment, {})
        old = slots.get(slot, 0.0)
        slots[slot] = old + self.alpha * (rate - old)

    def segments(self) -> list[str]:
        return list(self.rates)

    def snapshot(self) -> dict:
        return {"observed": self.observed, "rates": self.rates}

    def restore(self, snapshot: dict) -> None:
        self.observed = snapshot["observed"]
        self.rates = snapshot["rates"]
