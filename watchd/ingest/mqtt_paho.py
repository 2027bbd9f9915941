"""The paho client inside an aiomqtt client, for what aiomqtt does not offer.

aiomqtt 2.x acknowledges each QoS 1/2 message as soon as it is read, and has no option for
manual acknowledgement; the paho client it wraps has (`manual_ack_set`, `ack`). aiomqtt keeps
that client in the private attribute `_client`, which this module alone reads.

Checked against aiomqtt 2.3.0 (the lowest that pyproject allows) to 2.5.1: `_client` is the
`paho.mqtt.client.Client` there, as it has been since aiomqtt 1.0. tests/ingest's MQTT tests
(acknowledged only after the store committed, redelivered after a crash) fail if it moves.
"""

from __future__ import annotations

import aiomqtt
import paho.mqtt.client as paho


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client that `client` drives (see the module doc for why this is reached)."""
    wrapped: paho.Client = client._client  # noqa: SLF001 (see the module doc)
    return wrapped
