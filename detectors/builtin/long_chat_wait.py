"""`long_chat_wait`: a support chat where the customer waits too long for the first agent reply."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Journey, Measurement, Param
from friction_detector.detectors.builtin.awaited_reply import AwaitedReply
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import CONTRACT_TYPES


class LongChatWait(AwaitedReply):
    """The contract's rule: slow after 120 s; unanswered at 10 minutes, or when the chat ends
    first after more than 120 s; one per `conversation_id`, counted per queue."""

    name = "long_chat_wait"
    description = "First agent reply after the limit (slow_response) or never (unanswered)."
    consumes = {
        "chat_started": CONTRACT_TYPES["chat_started"],
        "chat_message": CONTRACT_TYPES["chat_message"],
        "chat_ended": CONTRACT_TYPES["chat_ended"],
    }
    params = {
        "slow_after_s": Param(120, "a first agent reply later than this is slow", minimum=1),
        "unanswered_after_s": Param(600, "no agent reply by then is unanswered", minimum=1),
        "outcome_window_s": Param(
            1800,
            "a customer message, or the end of an answered chat, within this after the finding "
            "completes the chat",
            minimum=1,
        ),
    }
    slow_after_s: int
    unanswered_after_s: int
    outcome_window_s: int
    journey = Journey(kinds=("slow_response", "unanswered"), window_param="outcome_window_s")
    subject_attr = "conversation_id"
    measurement = "chat_first_response"
    measurements = {
        "chat_first_response": Measurement(
            metric="friction_chat_first_response_seconds",
            help="Wait from chat start to the first agent reply.",
            buckets=(10, 30, 60, 120, 180, 300, 600, 1200),
            label="queue",
        )
    }
    late_kind = "slow_response"
    missing_kind = "unanswered"
    evidence_names = ("wait_ms", "slow_after_ms", "unanswered_after_ms")

    def state_ttl_ms(self) -> int:
        return self.unanswered_after_s * 1000

    def opening(self, event: Event) -> dict | None:
        if event.type != "chat_started":
            return None
        return {"segment": event.attrs.get("queue", "default")}

    def is_reply(self, event: Event) -> bool:
        return event.type == "chat_message" and event.attrs["author"] == "agent"

    def is_close(self, event: Event) -> bool:
        return event.type == "chat_ended"

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        was_settled = state.get("done")
        super().on_event(state, event, ctx)
        if "opened" in state and self.is_reply(event):
            state["answered"] = True  # the chat's end is then a normal one (`completes_journey`)
        if not was_settled and state.get("done"):
            state["settled_by"] = event.event_id  # where a journey starts (`starts_journey`)

    def starts_journey(self, state: dict, event: Event) -> str | None:
        """The event that settled the wait: the first agent reply, or the chat's end before
        one. Not the chat's start: its customer's first messages would complete the journey at
        once, while a finding's journey is measured from the reply (or its absence) too. A
        settling event that made a finding has opened the finding's journey already."""
        if state.get("settled_by") != event.event_id:
            return None
        return state["segment"]

    def completes_journey(self, state: dict, event: Event) -> bool:
        """The customer writes again, or the chat ends after an agent answered: not a chat
        closed unanswered, which is itself the abandonment."""
        if event.type == "chat_message":
            return event.attrs["author"] == "customer"
        return event.type == "chat_ended" and bool(state.get("answered"))

    def limits_ms(self, state: dict) -> tuple[int, int]:
        return self.slow_after_s * 1000, self.unanswered_after_s * 1000

    def summary(self, kind: str, waited_ms: int, state: dict) -> str:
        queue = state["segment"]
        if kind == "slow_response":
            return (
                f"The customer waited {waited_ms / 1000:.0f} s for the first agent reply "
                f"in queue {queue} (limit {self.slow_after_s} s)."
            )
        return (
            f"No agent reply after {waited_ms / 1000:.0f} s in queue {queue}: staff the "
            "queue or follow up with the customer."
        )
