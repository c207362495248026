"""One Hrana stream kept for a whole run over HTTP, instead of one stream per request.

sqld opens a new SQLite connection for every new stream, and a new connection parses
the whole schema again (measured: a ``SELECT 1`` on a new stream costs 1.3 ms with an
empty schema, 4.4 ms with 2,000 objects, 7.2 ms with 4,000; on a kept baton 0.55-0.60 ms
whatever the size). So every request of a run goes out on the baton the previous answer
gave, to the ``base_url`` the server asked for (sticky routing), and the stream is
never closed by a request of its own: that would cost a round trip, and sqld forgets an
idle stream by itself: the run's last request closes it (``ending``), and reads made
while no stream is open use a stream of their own, closed by the same request.

A stream carries connection state, so nothing is ever left on it between requests: each
request ends outside any transaction and with foreign keys on (``drivers.http`` builds
them so). When the stream is gone, the server says so before running anything: an
expired stream (``STREAM_EXPIRED``, sqld: 10 s idle), or a baton it does not know or has
seen already (HTTP 400 "Received an invalid baton" / "... already been used"). The
request then goes again, once, on a new stream. A stream idle for ``IDLE_S`` is not even
tried. Any other failure forgets the stream: its state is unknown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from migrate_tasks.drivers.hrana import ABORT_TIMEOUT
from migrate_tasks.drivers.pipeline import Pieces, PipelineClient, pipeline_body
from migrate_tasks.errors import DatabaseError

#: sqld forgets a stream idle for 10 s. A request after half of that starts a new stream
#: rather than risk one that expires on its way (a loaded machine, a slow link).
IDLE_S = 5.0
#: Errors that mean the stream was gone and nothing of the request ran.
STREAM_GONE_CODES = frozenset({"STREAM_EXPIRED", "STREAM_NOT_FOUND", "BATON_INVALID"})
CLOSE = '{"type":"close"}'
log = logging.getLogger("migrate_tasks")


class Session:
    """The kept stream: where to send (``base_url``), its baton, when it was last used."""

    def __init__(self, client: PipelineClient) -> None:
        self.client = client
        self.target = client
        self.baton: str | None = None
        self.last = 0.0
        #: A streamed transaction holds the stream (``drivers.http_stream``): other
        #: requests meanwhile go on a stream of their own.
        self.busy = False
        #: The next request is the last of the run: it closes the stream (``ending``).
        self.closing = False
        #: Streams opened so far (tests and benchmarks read it).
        self.opened = 0

    def send(
        self,
        requests: Sequence[str | Pieces],
        *,
        idempotent: bool,
        mid_transaction: bool = False,
        keep: bool = True,
    ) -> dict[str, Any]:
        """Send pipeline requests (JSON texts) on the kept stream; return the answer.

        ``keep=False`` (reads): use the kept stream if there is one, else a stream of
        their own closed by the same request, so a read-only run (``status``, a no-op
        ``up``) leaves no stream behind on the server."""
        if self.baton is not None and time.monotonic() - self.last > IDLE_S:
            self.forget()
        if self.busy or (not keep and self.baton is None):
            body = pipeline_body(None, [*requests, CLOSE])
            return _without_close(self.client.send(body, idempotent=idempotent), len(requests))
        closing, self.closing = self.closing, False
        count = len(requests)
        if closing:
            requests = [*requests, CLOSE]
        try:
            answer = self._send(requests, idempotent, mid_transaction)
        except DatabaseError as exc:
            if self.baton is None or exc.code not in STREAM_GONE_CODES:
                self.forget()
                raise
            self.forget()  # nothing ran: the same request on a new stream
            answer = self._send(requests, idempotent, mid_transaction)
        except BaseException:
            self.forget()
            raise
        if closing:
            self.forget()
        else:
            self.keep(answer)
        return _without_close(answer, count)

    def ending(self) -> None:
        """The next request is the last of the run: it closes the stream too (no round
        trip of its own; sqld then frees the stream's connection at once, not 10 s
        later). A request after it simply opens a new stream."""
        self.closing = self.baton is not None

    def _send(
        self, requests: Sequence[str | Pieces], idempotent: bool, mid_transaction: bool
    ) -> dict[str, Any]:
        if self.baton is None:
            self.opened += 1
        body = pipeline_body(self.baton, requests)
        try:
            return self.target.send(body, idempotent=idempotent, mid_transaction=mid_transaction)
        except BaseException:
            if self.baton is None:
                self.forget()
            raise

    def keep(self, answer: dict[str, Any]) -> None:
        """Take the answer's baton (and ``base_url``) for the next request."""
        baton = answer.get("baton")
        if not isinstance(baton, str) or not baton:
            self.forget()
            return
        self.baton = baton
        self.last = time.monotonic()
        base_url = answer.get("base_url")
        if isinstance(base_url, str) and base_url:
            target = self.client.elsewhere(base_url)
            if target is not self.target:
                self._drop_target()
                self.target = target

    def forget(self) -> None:
        """Start the next request on a new stream (the server expires this one)."""
        self.baton = None
        self._drop_target()
        self.target = self.client

    def close(self) -> None:
        """Close a stream still open (best effort, briefly: only after a run that did not
        end with ``ending``), then the connection."""
        fresh = time.monotonic() - self.last <= IDLE_S
        if self.baton is not None and not self.busy and fresh:
            timeout, self.target.timeout = self.target.timeout, ABORT_TIMEOUT
            try:
                self.target.send(pipeline_body(self.baton, [CLOSE]), idempotent=True)
            except Exception as exc:  # the server forgets it anyway
                log.debug("could not close the stream: %s", type(exc).__name__)
            finally:
                self.target.timeout = timeout
        self.forget()
        self.client.close()

    def _drop_target(self) -> None:
        if self.target is not self.client:
            self.target.close()


def _without_close(answer: dict[str, Any], count: int) -> dict[str, Any]:
    """The answer with the result of our ``close`` (after the ``count`` requests) left
    out, so callers see one result per request of theirs."""
    results = answer.get("results")
    if isinstance(results, list) and len(results) > count:
        answer["results"] = results[:count]
    return answer
