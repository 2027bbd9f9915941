"""What aiomqtt keeps private and watchd reaches: the paho client inside an aiomqtt client,
and the future that holds why its connection ended.

aiomqtt 2.x acknowledges each QoS 1/2 message as soon as it is read, and has no option for
manual acknowledgement; the paho client it wraps has (`manual_ack_set`, `ack`). aiomqtt keeps
that client in the private attribute `_client`.

When the broker drops a connection, aiomqtt sets the exception on the private future
`_disconnected`; only message iteration and `publish` read it, and leaving the client's context
does not once the connection is gone. A client that was idle when the broker went (the mqtt
receiver between pages, the ingest storing a batch) is left with the exception unread, and
asyncio logs "Future exception was never retrieved" when the client is collected.

This module alone reads these attributes. Checked against aiomqtt 2.5.0 (the lowest that
pyproject allows) and 2.5.1: `_client` is the `paho.mqtt.client.Client` there, as it has been
since aiomqtt 1.0. `_disconnected` is the `asyncio.Future[None]` read here in 2.5.1, under that
name since asyncio-mqtt (2020). tests/ingest's MQTT tests (acknowledged only after the store
committed, redelivered after a crash) fail if `_client` moves; tests/notify's test of a broker
that goes away between pages fails if `_disconnected` does.
"""

from __future__ import annotations

import aiomqtt
import paho.mqtt.client as paho


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client that `client` drives (see the module doc for why this is reached)."""
    wrapped: paho.Client = client._client  # noqa: SLF001 (see the module doc)
    return wrapped


def disconnect_error(client: aiomqtt.Client) -> BaseException | None:
    """Why `client`'s connection ended, if it ended with an error; reading it marks it read,
    so asyncio does not log it as never retrieved (see the module doc)."""
    ended = client._disconnected  # noqa: SLF001 (see the module doc)
    if not ended.done() or ended.cancelled():
        return None
    return ended.exception()
