"""The webhook sink: findings and alerts POSTed to an HTTP endpoint, signed, retried, bounded.

`settings.py` reads `[webhook]`, `records.py` filters and shapes what is sent, `signing.py`
signs it, `policy.py` decides what is retried and when, `sender.py` delivers from a thread
behind a bounded queue, `metrics.py` exports what happened, and `sink.py` puts them together
for the worker and replay.
"""
