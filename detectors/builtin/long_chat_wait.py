"""`long_chat_wait`: a support chat where the customer waits too long for the first agent reply."""

from __future__ import annotations

from detectors.api import Context, Detector, Param
from detectors.events import Event
from detectors.schema import CONTRACT_TYPES

DEADLINE = "deadline"


class LongChatWait(Detector):
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
    }

    def state_ttl_ms(self) -> int:
        return self.unanswered_after_s * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["conversation_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        if event.type == "chat_started":
            if "started" not in state:
                state.update(
                    conversation_id=event.attrs["conversation_id"],
                    started=event.time,
                    queue=event.attrs.get("queue", "default"),
                    user_id=event.user_id,
                    session_id=event.session_id,
                )
                ctx.schedule(DEADLINE, event.time + self.unanswered_after_s * 1000)
            return
        if "started" not in state or state.get("done"):
            return
        wait_ms = event.time - state["started"]
        if event.type == "chat_message":
            if event.attrs["author"] != "agent":
                return
            self._finish(state, ctx)
            ctx.observe("chat_first_response", wait_ms / 1000, state["queue"])
            if wait_ms > self.slow_after_s * 1000:
                self._report(
                    state,
                    ctx,
                    "slow_response",
                    "warning",
                    wait_ms,
                    f"The customer waited {wait_ms / 1000:.0f} s for the first agent reply "
                    f"in queue {state['queue']} (limit {self.slow_after_s} s).",
                )
        elif event.type == "chat_ended":
            self._finish(state, ctx)
            if wait_ms > self.slow_after_s * 1000:
                self._report(
                    state,
                    ctx,
                    "unanswered",
                    "critical",
                    wait_ms,
                    f"The chat ended after {wait_ms / 1000:.0f} s with no agent reply "
                    f"in queue {state['queue']}: follow up with the customer.",
                )

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if state.get("done"):
            return
        state["done"] = True
        self._report(
            state,
            ctx,
            "unanswered",
            "critical",
            ctx.now - state["started"],
            f"No agent reply {self.unanswered_after_s // 60} min into the chat in queue "
            f"{state['queue']}: staff the queue or follow up with the customer.",
        )

    @staticmethod
    def _finish(state: dict, ctx: Context) -> None:
        state["done"] = True
        ctx.cancel(DEADLINE)

    def _report(
        self, state: dict, ctx: Context, kind: str, severity: str, wait_ms: int, summary: str
    ) -> None:
        ctx.emit(
            kind,
            severity=severity,
            subject={"conversation_id": state["conversation_id"]},
            summary=summary,
            evidence={
                "wait_ms": wait_ms,
                "slow_after_ms": self.slow_after_s * 1000,
                "unanswered_after_ms": self.unanswered_after_s * 1000,
            },
            user_id=state.get("user_id"),
            session_id=state.get("session_id"),
            segment=state["queue"],
        )
