import pytest
from friction_detector.detectors.builtin.billing_surprise import BillingSurprise
from friction_detector.detectors.testing import DetectorHarness, make_event

T0 = 1_768_550_400_000  # 2026-01-16T08:00:00Z, a Friday on the hour, in the past


def quote(amount=200, **attrs):
    return make_event("quote_issued", T0, quote_id="q-1", amount=amount, service="repair", **attrs)


def invoice(amount, offset_ms=3600_000, **attrs):
    return make_event("invoice_issued", T0 + offset_ms, quote_id="q-1", amount=amount, **attrs)


def notice(offset_ms=1000, **attrs):
    return make_event("price_change_notified", T0 + offset_ms, quote_id="q-1", **attrs)


def run(*events, detector=None, lateness=0):
    harness = DetectorHarness(detector or BillingSurprise(), allowed_lateness_ms=lateness)
    harness.feed(*events)
    harness.advance(T0 + 86_400_000)
    return harness


@pytest.mark.parametrize(("amount", "kinds"), [(219, []), (220, []), (221, ["surprise"])])
def test_more_than_ten_percent_over_the_quote_is_a_surprise(amount, kinds):
    assert run(quote(), invoice(amount)).kinds() == kinds


def test_finding_is_grouped_by_service():
    finding = run(quote(), invoice(300)).findings[0]
    assert finding.segment == "repair"
    assert finding.evidence["overrun_share"] == pytest.approx(0.5)


def test_a_notice_with_an_amount_moves_the_reference():
    assert run(quote(), notice(amount=300), invoice(300)).kinds() == []
    assert run(quote(), notice(amount=250), invoice(300)).kinds() == ["surprise"]


def test_a_notice_without_an_amount_silences_the_quote():
    assert run(quote(), notice(), invoice(900)).kinds() == []


def test_a_notice_after_the_invoice_is_too_late():
    assert run(quote(), invoice(300), notice(offset_ms=7200_000)).kinds() == ["surprise"]


def test_invoice_without_a_quote_is_ignored():
    assert run(invoice(1000)).kinds() == []


def test_different_currencies_are_not_compared():
    assert run(quote(currency="EUR"), invoice(900, currency="USD")).kinds() == []


def test_one_finding_per_invoice_id():
    events = [quote(), invoice(300, invoice_id="i-1"), invoice(300, 7200_000, invoice_id="i-1")]
    assert run(*events).kinds() == ["surprise"]
    events = [quote(), invoice(300, invoice_id="i-1"), invoice(300, 7200_000, invoice_id="i-2")]
    assert run(*events).kinds() == ["surprise", "surprise"]


def test_share_is_configurable_and_bounded():
    assert run(quote(), invoice(210), detector=BillingSurprise(max_overrun_share=0.02)).kinds() == [
        "surprise"
    ]
    with pytest.raises(ValueError, match="max_overrun_share"):
        BillingSurprise(max_overrun_share=-0.1)


def test_invoice_before_quote_in_arrival_order_is_reordered():
    assert run(invoice(300, 1000), quote(), lateness=60_000).kinds() == ["surprise"]


def test_duplicate_invoice_is_counted_once():
    inv = invoice(300)
    harness = run(quote(), inv, inv)
    assert harness.kinds() == ["surprise"]
    assert harness.duplicates == 1


def test_negative_amount_goes_to_dead_letter():
    assert len(run(quote(amount=-1)).bad) == 1
