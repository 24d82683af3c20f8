"""The signature covers the timestamp and the exact body; stale or altered requests fail."""

from __future__ import annotations

import hashlib
import hmac

from friction_detector.streams.webhook.signing import signature, signed_headers, verify

SECRET = b"k3y"
BODY = b'{"version":1,"records":[]}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex():
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_700_000_000, BODY) == f"sha256={expected}"


def test_signed_request_verifies():
    headers = signed_headers(SECRET, 1_700_000_000, BODY)
    stamp, sig = headers["X-Friction-Timestamp"], headers["X-Friction-Signature"]
    assert verify(SECRET, BODY, stamp, sig, now=1_700_000_010) is None


def test_altered_body_fails():
    sig = signature(SECRET, 1_700_000_000, BODY)
    assert verify(SECRET, BODY + b" ", "1700000000", sig, now=1_700_000_000)


def test_timestamp_moved_to_look_fresh_fails():
    sig = signature(SECRET, 1_700_000_000, BODY)
    assert verify(SECRET, BODY, "1700000900", sig, now=1_700_000_900) == (
        "signature does not match"
    )


def test_captured_request_sent_again_later_is_stale():
    sig = signature(SECRET, 1_700_000_000, BODY)
    assert "more than 300 s" in verify(SECRET, BODY, "1700000000", sig, now=1_700_000_301)


def test_other_secret_fails():
    sig = signature(b"other", 1_700_000_000, BODY)
    assert verify(SECRET, BODY, "1700000000", sig, now=1_700_000_000)


def test_missing_headers_fail():
    assert verify(SECRET, BODY, None, None, now=0) == "missing signature or timestamp header"
