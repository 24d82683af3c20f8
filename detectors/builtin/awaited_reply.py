"""The shape shared by emails, chats and tickets: a request waiting for its first reply."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from friction_detector.detectors.api import Context, Detector
from friction_detector.detectors.events import Event

DEADLINE = "deadline"


class AwaitedReply(Detector):
    """A request is answered late after one limit and is missing at a second; one finding each.

    A subclass says which events open a request (and with what segment and limits), which
    answer it, which close it unanswered, and how to word the finding. Only the reply that
    settles a request is measured: one reported missing is counted as missing, not twice.
    """

    subject_attr: ClassVar[str]
    measurement: ClassVar[str]
    late_kind: ClassVar[str] = "late"
    missing_kind: ClassVar[str] = "missing"
    # Evidence names: the wait, the late limit, the missing deadline.
    evidence_names: ClassVar[tuple[str, str, str]] = (
        "wait_ms",
        "late_after_ms",
        "missing_after_ms",
    )

    @abstractmethod
    def opening(self, event: Event) -> dict | None:
        """State for the request this event opens (at least `segment`), or None."""

    @abstractmethod
    def is_reply(self, event: Event) -> bool:
        """Whether the event answers the request."""

    def is_close(self, event: Event) -> bool:
        """Whether the event ends the request without a reply (a chat the customer left)."""
        return False

    @abstractmethod
    def limits_ms(self, state: dict) -> tuple[int, int]:
        """(late after, missing after) for this request, in milliseconds."""

    @abstractmethod
    def summary(self, kind: str, waited_ms: int, state: dict) -> str:
        """The finding's one-line summary for `late_kind` or `missing_kind`."""

    def reply_segment(self, event: Event, state: dict) -> str:
        """The segment a reply is counted in; the request's own unless the reply says better."""
        return state["segment"]

    def key(self, event: Event) -> str | None:
        return event.attrs[self.subject_attr]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        opened = self.opening(event)
        if opened is not None:
            if "opened" not in state:
                state.update(
                    opened,
                    opened=event.time,
                    subject_id=event.attrs[self.subject_attr],
                    user_id=event.user_id,
                    session_id=event.session_id,
                )
                ctx.schedule(DEADLINE, event.time + self.limits_ms(state)[1])
            return
        if "opened" not in state:
            return
        if self.is_reply(event):
            if not self._settle(state, ctx):
                return  # already reported missing (or answered): counted once, as that
            waited_ms = event.time - state["opened"]
            segment = self.reply_segment(event, state)
            ctx.observe(self.measurement, waited_ms / 1000, segment)
            kind, severity = self.late_kind, "warning"
        elif self.is_close(event) and self._settle(state, ctx):
            waited_ms = event.time - state["opened"]
            segment = state["segment"]
            kind, severity = self.missing_kind, "critical"
        else:
            return  # neither settles the wait: its limits are not needed
        if waited_ms > self.limits_ms(state)[0]:
            self._report(state, ctx, kind, severity, waited_ms, segment)

    def on_deadline(self, state: dict, tag: str, ctx: Context) -> None:
        if self._settle(state, ctx):
            waited_ms = ctx.now - state["opened"]
            self._report(state, ctx, self.missing_kind, "critical", waited_ms, state["segment"])

    @staticmethod
    def _settle(state: dict, ctx: Context) -> bool:
        """Mark the outcome decided; False when it already was."""
        if state.get("done"):
            return False
        state["done"] = True
        ctx.cancel(DEADLINE)
        return True

    def _report(
        self, state: dict, ctx: Context, kind: str, severity: str, waited_ms: int, segment: str
    ) -> None:
        waited, late, missing = self.evidence_names
        late_ms, missing_ms = self.limits_ms(state)
        ctx.emit(
            kind,
            severity=severity,
            subject={self.subject_attr: state["subject_id"]},
            summary=self.summary(kind, waited_ms, state),
            evidence={waited: waited_ms, late: late_ms, missing: missing_ms},
            user_id=state.get("user_id"),
            session_id=state.get("session_id"),
            segment=segment,
        )
