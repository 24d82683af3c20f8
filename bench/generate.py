"""A deterministic file of mixed contract events, for benchmarks and demos of `friction replay`."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import orjson
from friction_detector.detectors.timefmt import format_time

START_MS = 1_795_300_000_000  # 2026-11-22, near the contract's examples
PAGES = ["/home", "/search", "/product/42", "/cart", "/account", "/help"]
CHECKOUT = ["/checkout/cart", "/checkout/shipping", "/checkout/payment"]


def events(count: int, seed: int = 7, rate_per_s: int = 2000) -> list[bytes]:
    """`count` events over `count / rate_per_s` seconds, slightly out of order, some duplicated.

    Each event arrives up to 5 s after its event time (inside the default lateness), and the file
    is in arrival order, as a consumer of a live stream would read it.
    """
    rng = random.Random(seed)
    step_ms = 1000 / rate_per_s
    out: list[tuple[int, bytes]] = []
    n = 0
    while len(out) < count * 1.1:
        n += 1
        now = START_MS + int(n * step_ms)
        session = f"s-{rng.randint(1, 20_000)}"
        user = f"u-{session[2:]}"
        roll = rng.random()
        base = {"user_id": user, "session_id": session}
        if roll < 0.35:
            group = CHECKOUT if rng.random() < 0.3 else PAGES
            duration = rng.lognormvariate(7.3, 0.6)
            docs = [
                {
                    "type": "page_load",
                    "attrs": {"page": rng.choice(group), "duration_ms": round(duration)},
                }
            ]
        elif roll < 0.65:
            click = {
                "target": rng.choice(["#buy", "#next", "a.help"]),
                "x": 10,
                "y": 20,
                "response_ms": round(rng.lognormvariate(5, 0.8)),
            }
            docs = [{"type": "click", "attrs": click}]
        elif roll < 0.78:
            outcome = "error" if rng.random() < 0.2 else "success"
            docs = [
                {
                    "type": "form_submit",
                    "attrs": {
                        "form_id": rng.choice(["signup", "login", "address"]),
                        "outcome": outcome,
                    },
                }
            ]
        elif roll < 0.84:
            req = f"r-{n}"
            delay = rng.choice([5_000, 20_000, 90_000, 700_000])
            docs = [
                {"type": "password_reset_requested", "attrs": {"request_id": req}},
                {
                    "type": "email_delivered",
                    "dt": delay,
                    "attrs": {"request_id": req, "template": "password_reset"},
                },
            ]
        else:
            conv = f"c-{n}"
            wait = rng.choice([15_000, 60_000, 150_000, 700_000])
            docs = [
                {"type": "chat_started", "attrs": {"conversation_id": conv, "queue": "billing"}},
                {
                    "type": "chat_message",
                    "dt": 2_000,
                    "attrs": {"conversation_id": conv, "author": "customer"},
                },
                {
                    "type": "chat_message",
                    "dt": wait,
                    "attrs": {"conversation_id": conv, "author": "agent"},
                },
            ]
        for i, doc in enumerate(docs):
            event_time = now + doc.pop("dt", 0)
            record = {"event_id": f"e-{n}-{i}", "time": format_time(event_time), **base, **doc}
            line = orjson.dumps(record)
            out.append((event_time + rng.randint(0, 5000), line))
            if rng.random() < 0.01:
                out.append((event_time + rng.randint(0, 5000), line))  # a redelivery
    # Delayed replies and redeliveries arrive after the last moment generated; keep the file to
    # what had arrived by then, as a cut of a live stream would be.
    cut = START_MS + int(n * step_ms)
    out = sorted(item for item in out if item[0] <= cut)
    return [line for _, line in out[:count]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lines = events(args.count, args.seed)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_bytes(b"\n".join(lines) + b"\n")
    print(f"wrote {len(lines):,} events to {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
