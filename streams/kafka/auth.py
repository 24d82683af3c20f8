"""A short authentication check against the bootstrap brokers, before the real Kafka client.

kafka-python's producer, consumer and admin client retry a failed SASL authentication like any
connection failure, and end after their bootstrap timeout (30 s) with "Unable to bootstrap",
never saying that the password was refused. aiokafka (under Faust) is no clearer. One connection
of our own, made the way those clients make theirs, tells within a second.

A broker that refuses the credentials logs why ("Invalid username or password") and closes the
connection; kafka-python then sees only a disconnect. A connection the broker answered (its API
versions are known) and closed before SASL authentication finished is therefore a refusal.
"""

from __future__ import annotations

import time

import kafka.errors as errors
from friction_detector.streams.kafka.settings import KafkaSettings
from kafka.net.manager import KafkaConnectionManager
from kafka.net.selector import NetworkSelector

CHECK_TIMEOUT_S = 10.0

# What a broker answers to credentials or a mechanism it refuses.
AUTHENTICATION_ERRORS = (
    errors.SaslAuthenticationFailedError,
    errors.UnsupportedSaslMechanismError,
    errors.IllegalSaslStateError,
)


class AuthenticationFailed(Exception):
    """The broker refused our credentials; the message names the broker and the mechanism."""


def check_authentication(settings: KafkaSettings, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise `AuthenticationFailed` if a bootstrap broker refuses the SASL credentials.

    Without SASL there is nothing to check. A broker that cannot be reached is left to the real
    client, which retries and reports it in its own way; the first broker that accepts the
    credentials ends the check.
    """
    if not settings.sasl_mechanism:
        return
    net = NetworkSelector(**settings.client_config())
    manager = KafkaConnectionManager(net, **settings.client_config())
    try:
        net.run(_first_accepting_broker, manager, settings, time.monotonic() + timeout_s)
    finally:
        manager.close()
        net.close()


async def _first_accepting_broker(
    manager: KafkaConnectionManager, settings: KafkaSettings, deadline: float
) -> None:
    for broker in manager.cluster.bootstrap_brokers():
        remaining_ms = (deadline - time.monotonic()) * 1000
        if remaining_ms <= 0:
            return
        address = f"{broker.host}:{broker.port}"
        conn = manager.get_connection(
            broker.node_id,
            timeout_ms=remaining_ms,
            pop_on_close=False,
            refresh_metadata_on_err=False,
        )
        try:
            await conn
        except AUTHENTICATION_ERRORS as err:
            raise AuthenticationFailed(_message(settings, address, str(err))) from err
        except errors.KafkaError as err:
            if conn.broker_version_data is None:
                continue  # not reached: the real client retries and reports it
            raise AuthenticationFailed(_message(settings, address, REFUSED)) from err
        return


REFUSED = "the broker closed the connection during authentication: check the user and password"


def _message(settings: KafkaSettings, address: str, detail: str) -> str:
    return (
        f"authentication failed at {address} (SASL {settings.sasl_mechanism}, "
        f"user {settings.sasl_username}): {detail}"
    )
