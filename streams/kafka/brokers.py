"""The broker setting's form, checked where settings are read.

Without the check a malformed address (`kafka://localhost:abc`, port 99999, `http://...`)
reached the reachability probe and read as a broker that is not there; it is a setting that
cannot work, named as one.
"""

from __future__ import annotations

import re

# The schemes Faust reads as Kafka (both its aiokafka transport); none means kafka://.
KAFKA_SCHEMES = ("kafka", "aiokafka")
_ADDRESS = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})"
)
_FORM = "kafka://host:port, port 1 to 65535; several separated by ;"


def broker_problem(broker: str) -> str | None:
    """Why `broker` (one or more addresses, `;`- or `,`-separated) cannot name Kafka brokers,
    or None."""
    addresses = [a.strip() for part in broker.split(";") for a in part.split(",") if a.strip()]
    if not addresses:
        return f"no broker address given ({_FORM})"
    for address in addresses:
        match = _ADDRESS.fullmatch(address)
        scheme = address.split("://", 1)[0] if "://" in address else None
        if scheme is not None and scheme not in KAFKA_SCHEMES:
            return f"{address!r} is not a Kafka broker address: the scheme is kafka://"
        if match is None or not 1 <= int(match["port"]) <= 65535:
            return f"{address!r} is not a Kafka broker address ({_FORM})"
    return None
