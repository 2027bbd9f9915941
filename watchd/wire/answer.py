"""The answer side both HTTP/1.1 clients share: an asyncio Protocol whose bytes httptools
parses, keeping the answer's header fields (their size bounded by MAX_HEAD) and passing over
1xx answers that a final one follows. What a final head, a body, the answer's end and the
connection's end mean is each client's own (one request per connection for the checks, a
future per request on kept connections for the receivers).

httptools looks its callbacks up once, when the parser is made, so inheriting them costs the
hot path nothing; the hooks add one call per answer.
"""

from __future__ import annotations

import asyncio

import httptools

from watchd.wire.connect import MAX_HEAD, WireError


class AnswerProtocol(asyncio.Protocol):
    """Parses answers with httptools; a client subclasses it and says, in `_head`, `on_body`,
    `_complete`, `_ended` and `_fail`, what to do with them. `_headers` holds the current
    answer's fields as (lower-case name, value) bytes."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0  # bytes of the answer's header fields
        self._interim = False  # inside a 1xx answer that a final one follows

    def _feed(self, data: bytes) -> None:
        """Parse `data` (from `data_received`); a malformed answer fails the request."""
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(WireError(f"invalid HTTP response: {exc or 'an upgrade'}"))

    # asyncio.Protocol

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if self._head_size > MAX_HEAD:
            self._fail(WireError(f"invalid HTTP response: a head over {MAX_HEAD} bytes"))
            return
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._interim = 100 <= status < 200
        if self._interim:
            self._headers.clear()
            return
        self._head(status)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._complete()

    # what each client decides

    def _head(self, status: int) -> None:
        """The final answer's head has ended with `status`; `_headers` are its fields."""
        raise NotImplementedError

    def on_body(self, body: bytes) -> None:
        """A piece of the answer's body (framing removed)."""
        raise NotImplementedError

    def _complete(self) -> None:
        """The final answer has ended."""
        raise NotImplementedError

    def _ended(self, exc: Exception | None) -> None:
        """The connection has ended (`exc` None: closed by the peer)."""
        raise NotImplementedError

    def _fail(self, exc: Exception) -> None:
        """The request has failed with `exc`."""
        raise NotImplementedError
