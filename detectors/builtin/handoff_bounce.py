"""`handoff_bounce`: a ticket or chat passed around until the customer has to start over."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

MAX_REMEMBERED_MESSAGES = 20


class HandoffBounce(Detector):
    """More than N transfers of one ticket or chat, or a customer repeating a long message after
    a transfer (same `text_hash`, a salted hash the producer computes, of at least
    `min_repeat_chars`).

    Customer-effort research (CEB/Gartner, "The Effortless Experience") finds transfers and
    having to repeat information the strongest drivers of effort. Each kind is reported at most
    once per ticket or chat; at most 20 message hashes are kept per conversation.
    """

    name = "handoff_bounce"
    description = "A ticket or chat transferred more than N times, or a repeat after a transfer."
    consumes = types("ticket_transferred", "ticket_reply", "chat_transferred", "chat_message")
    params = {
        "max_transfers": Param(2, "more transfers than this is a bounce", 1, 50),
        "min_repeat_chars": Param(
            100, "a repeated customer message this long means starting over", 1, 100_000
        ),
        "conversation_ttl_s": Param(
            7 * 86_400, "a ticket or chat idle this long is forgotten", 600, 90 * 86_400
        ),
    }
    max_transfers: int
    min_repeat_chars: int
    conversation_ttl_s: int

    def state_ttl_ms(self) -> int:
        return self.conversation_ttl_s * 1000

    def key(self, event: Event) -> str | None:
        if event.type.startswith("ticket_"):
            return "ticket:" + event.attrs["ticket_id"]
        return "chat:" + event.attrs["conversation_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        attrs = event.attrs
        if "ref" not in state:
            is_ticket = "ticket_id" in attrs
            state["ref"] = (
                {"ticket_id": attrs["ticket_id"]}
                if is_ticket
                else {"conversation_id": attrs["conversation_id"]}
            )
            state.update(transfers=0, hashes=[], reported=[], queue="default")
        if event.type.endswith("_transferred"):
            state["transfers"] += 1
            state["queue"] = attrs.get("to_queue", state["queue"])
            state["transferred_at"] = event.time
            if state["transfers"] > self.max_transfers:
                self._report(
                    state,
                    event,
                    ctx,
                    "too_many_transfers",
                    f"was transferred {state['transfers']} times (limit {self.max_transfers})",
                )
            return
        text_hash = attrs.get("text_hash")
        if attrs["author"] != "customer" or not text_hash:
            return
        if attrs.get("length", 0) < self.min_repeat_chars:
            return  # too short to mean starting over, and not remembered
        transferred_at = state.get("transferred_at", -1)
        if any(h[1] == text_hash and h[0] < transferred_at for h in state["hashes"]):
            self._report(
                state,
                event,
                ctx,
                "repeated_after_transfer",
                f"made the customer repeat a {attrs['length']:.0f}-character message "
                "after a transfer",
            )
        state["hashes"] = (state["hashes"] + [[event.time, text_hash]])[-MAX_REMEMBERED_MESSAGES:]

    def _report(self, state: dict, event: Event, ctx: Context, kind: str, what: str) -> None:
        if kind in state["reported"]:
            return
        state["reported"].append(kind)
        ref_name, ref = next(iter(state["ref"].items()))
        ctx.emit(
            kind,
            severity="warning",
            subject=dict(state["ref"]),
            summary=f"{ref_name.split('_')[0].capitalize()} {ref} {what}.",
            evidence={
                "transfers": state["transfers"],
                "max_transfers": self.max_transfers,
                "min_repeat_chars": self.min_repeat_chars,
            },
            user_id=event.user_id,
            session_id=event.session_id,
            segment=state["queue"],
        )
