"""HMAC-SHA256 signatures of webhook bodies, with the send time inside the signed material.

The signed material is `<timestamp>.<raw body>`: a receiver that checks the signature and
refuses timestamps older than a few minutes cannot be fed a captured request again later.
Each attempt is signed afresh, so a retry carries its own time.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Friction-Signature"
TIMESTAMP_HEADER = "X-Friction-Timestamp"
DELIVERY_HEADER = "X-Friction-Delivery"
SCHEME = "sha256="
DEFAULT_TOLERANCE_S = 300


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Friction-Signature` value: `sha256=` and the hex HMAC of `timestamp.body`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signature_value: str | None,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> str | None:
    """None if the request is authentic and fresh, else why not (for the receiver's log)."""
    if not timestamp or not signature_value:
        return "missing signature or timestamp header"
    try:
        sent = int(timestamp)
    except ValueError:
        return f"timestamp {timestamp!r} is not whole seconds"
    if abs(now - sent) > tolerance_s:
        return f"timestamp {sent} is more than {tolerance_s:g} s from now"
    if not hmac.compare_digest(signature(secret, sent, body), signature_value):
        return "signature does not match"
    return None
