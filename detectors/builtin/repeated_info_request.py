"""`repeated_info_request`: a customer asked again for information they already gave."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types


class RepeatedInfoRequest(Detector):
    """The same field values submitted by one user again in another form or channel.

    `info_provided` carries `field_hashes` (field name -> salted hash of the value, computed by
    the producer; raw values never reach us). A submission that repeats at least
    `min_repeated_fields` hashes last given, within the period, in another form or channel is
    the "asked twice" moment that customer-effort research counts among the worst. Per user at
    most `max_remembered` hashes are kept (oldest dropped) and the user is forgotten after the
    period of quiet. The finding names fields, never hashes.
    """

    name = "repeated_info_request"
    description = "Values already given submitted again in another form or channel within a period."
    consumes = types("info_provided")
    params = {
        "min_repeated_fields": Param(2, "this many repeated values is asking again", 1, 50),
        "period_s": Param(
            7 * 86_400, "a value given longer ago than this may be asked again", 60, 90 * 86_400
        ),
        "max_remembered": Param(50, "at most this many value hashes remembered per user", 1, 1000),
    }
    min_repeated_fields: int
    period_s: int
    max_remembered: int

    def state_ttl_ms(self) -> int:
        return self.period_s * 1000

    def key(self, event: Event) -> str | None:
        return event.user_id

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        form_id = event.attrs["form_id"]
        source = form_id + "@" + event.attrs.get("channel", "web")
        horizon = event.time - self.period_s * 1000
        seen = {h: v for h, v in state.get("seen", {}).items() if v[0] >= horizon}
        given = {
            field: value
            for field, value in event.attrs["field_hashes"].items()
            if type(value) is str and value
        }
        repeated = [
            [field, seen[value][1], seen[value][2]]
            for field, value in sorted(given.items())
            if value in seen and seen[value][1] != source
        ]
        for field, value in given.items():
            seen.pop(value, None)
            seen[value] = [event.time, source, field]
        state["seen"] = dict(list(seen.items())[-self.max_remembered :])
        if len(repeated) < self.min_repeated_fields:
            return
        earlier = sorted({r[1] for r in repeated})
        ctx.emit(
            "asked_again",
            severity="warning",
            subject={"user_id": event.user_id, "form_id": form_id},
            summary=(
                f"Form {form_id} asked again for {', '.join(r[0] for r in repeated)}, "
                f"already given in {', '.join(earlier)}."
            ),
            evidence={
                "repeated_fields": [r[0] for r in repeated],
                "earlier_sources": earlier,
                "min_repeated_fields": self.min_repeated_fields,
                "period_ms": self.period_s * 1000,
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=form_id,
        )
