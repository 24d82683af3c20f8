"""`billing_surprise`: an invoice bigger than the customer was told, with no notice before it."""

from __future__ import annotations

from friction_detector.detectors.api import Context, Detector, Param
from friction_detector.detectors.events import Event
from friction_detector.detectors.schema import types

MAX_REMEMBERED_INVOICES = 20


class BillingSurprise(Detector):
    """An `invoice_issued` above the quote (or the last noticed amount) by more than a share.

    Modelled on good-faith-estimate rules such as the US No Surprises Act, where a bill well
    above the estimate can be disputed: a `price_change_notified` before the invoice with an
    amount moves the reference to that amount; one without an amount silences the quote. Amounts
    in different currencies are not compared. One finding per invoice; a quote is remembered
    for `quote_ttl_s`, with at most 20 invoice ids.
    """

    name = "billing_surprise"
    description = "An invoice above the quoted amount by more than a share, with no notice first."
    consumes = types("quote_issued", "price_change_notified", "invoice_issued")
    params = {
        "max_overrun_share": Param(
            0.10, "an invoice more than this share above the quote is a surprise", 0.0, 10.0
        ),
        "quote_ttl_s": Param(30 * 86_400, "how long a quote is remembered", 3600, 365 * 86_400),
    }
    max_overrun_share: float
    quote_ttl_s: int

    def state_ttl_ms(self) -> int:
        return self.quote_ttl_s * 1000

    def key(self, event: Event) -> str | None:
        return event.attrs["quote_id"]

    def on_event(self, state: dict, event: Event, ctx: Context) -> None:
        attrs = event.attrs
        if event.type == "quote_issued":
            state.update(
                quote_id=attrs["quote_id"],
                quoted=attrs["amount"],
                expected=attrs["amount"],
                currency=attrs.get("currency"),
                service=attrs.get("service", "default"),
                silenced=False,
            )
            return
        if "quoted" not in state:
            return  # nothing told to compare with
        if event.type == "price_change_notified":
            if "amount" in attrs:
                state["expected"] = attrs["amount"]
            else:
                state["silenced"] = True
            return
        invoice_id = attrs.get("invoice_id", "")
        invoiced = state.setdefault("invoices", [])
        if state["silenced"] or invoice_id in invoiced:
            return
        currency = attrs.get("currency")
        if currency and state["currency"] and currency != state["currency"]:
            return
        expected = state["expected"]
        amount = attrs["amount"]
        if amount <= expected * (1 + self.max_overrun_share):
            return
        invoiced.append(invoice_id)
        del invoiced[:-MAX_REMEMBERED_INVOICES]
        overrun = (amount - expected) / expected if expected else None
        shown = f"{overrun:.0%} above" if overrun is not None else "above"
        ctx.emit(
            "surprise",
            severity="warning",
            subject={"quote_id": state["quote_id"], "invoice_id": invoice_id or None},
            summary=(
                f"An invoice of {amount:g} is {shown} the {expected:g} the customer was told, "
                "with no notice: explain it before they call."
            ),
            evidence={
                "invoiced": amount,
                "expected": expected,
                "quoted": state["quoted"],
                "overrun_share": overrun,
                "max_overrun_share": self.max_overrun_share,
                "currency": currency or state["currency"],
            },
            user_id=event.user_id,
            segment=state["service"],
        )
