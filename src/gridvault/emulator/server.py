"""The HTTP server: ENTSO-E's ``GET /api`` on loopback, one thread per connection.

Order of handling per request (what a real client meets first comes first):

1. ``latency`` from the fault spec (every response, including errors);
2. path ``/api`` (else 404) and ``securityToken`` (missing/wrong → 401, never echoed);
3. the per-token rate limit (over the limit or banned → 429 "Requester banned until …");
4. one seeded fault draw (reset, 5xx, burst 429, malformed; truncate cuts the real answer,
   ack replaces it with an error acknowledgement, inside the ZIP when it is zipped; stall
   holds the connection silent for ``stall_seconds``, then closes it);
5. parameter validation (→ 400 acknowledgement), then replay, then synthetic data, else the
   HTTP 200 "No matching data" acknowledgement.

Every answer has a ``Content-Type`` and a ``Content-Length`` (HTTP/1.1 keep-alive), except a
reset (no response at all) and the truncate variant that closes the connection early.

The rate limit counts every authenticated request that is not already banned, including
those that then meet an injected fault; 401s and requests refused during a ban do not count.
A ``burst_429`` fault is a real ban of one second (or ``ban_seconds`` if shorter). Each request
is logged (:meth:`Emulator.served`) *before* its bytes are sent, so a client holding a
response always finds its record.
"""

from __future__ import annotations

import hmac
import io
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zipfile import ZipFile

from gridvault.emulator import outages, synthetic
from gridvault.emulator.config import EmulatorConfig, ServedRecord
from gridvault.emulator.limits import BURST_BAN_SECONDS, FaultDice, FaultDraw, RateLimiter
from gridvault.emulator.query import ApiRequest, BadRequest, read_query
from gridvault.emulator.replay import ReplayIndex
from gridvault.emulator.responses import (
    FAULT_ACK_TEXT,
    HTML_TYPE,
    XML_TYPE,
    ZIP_TYPE,
    acknowledgement,
    ban_body,
    instances_text,
    no_data_text,
    unauthorized_body,
)
from gridvault.emulator.synthetic import Payload, TooManyInstances, zip_members

_MALFORMED = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<Publication_MarketDocument xmlns="urn:iec62325.351:'
    b'tc57wg16:451-3:publicationdocument:7:3">\n<mRID>SYNTHETIC-MALFORMED</mRID>\n<TimeSeries>\n'
    b"<Period><Point><position>1</position><price.amount>12.5</price.am"
)


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    outcome: str
    dataset: str | None = None
    timeseries: int = 0
    points: int = 0
    disposition: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._resets: set[int] = set()
        self._resets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (reset, broken pipe: a killed worker) is not an error of
        the emulator; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def mark_reset(self, request: Any) -> None:
        """Close this connection with an RST instead of a FIN when the handler is done."""
        request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._resets_lock:
            self._resets.add(id(request))

    def shutdown_request(self, request: Any) -> None:
        with self._resets_lock:
            reset = id(request) in self._resets
            self._resets.discard(id(request))
        if reset:
            # No shutdown(SHUT_WR): that would send a FIN; close with linger 0 sends an RST.
            self.close_request(request)
        else:
            super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gridvault-entsoe-emulator"
    sys_version = ""
    timeout = 60
    # Headers and body are two writes: without TCP_NODELAY, Nagle plus delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.server.emulator.handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the served log is the record."""


class Emulator:
    """A running ENTSO-E API emulator. ``config`` may be changed while it runs."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._server = _Server((config.host, config.port), self)
        port = self._server.server_address[1]
        self.base_url = f"http://{config.host}:{port}/api"
        self._log: list[ServedRecord] = []
        self._log_lock = threading.Lock()
        #: When the request this handler thread is answering arrived (ServedRecord.at).
        self._arrival = threading.local()
        self._limiter = RateLimiter()
        self._dice = FaultDice()
        self._replay: tuple[Path, ReplayIndex] | None = None
        self._replay_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    # ---- the served log --------------------------------------------------------------

    def served(self) -> list[ServedRecord]:
        """A copy of everything served so far, oldest first."""
        with self._log_lock:
            return list(self._log)

    def reset_log(self) -> None:
        """Forget what was served (the rate-limit windows are kept)."""
        with self._log_lock:
            self._log.clear()

    # ---- one request -----------------------------------------------------------------

    def handle(self, handler: _Handler) -> None:
        """Answer one GET (called from the handler thread)."""
        self._arrival.at = datetime.now(UTC)
        config = self.config
        if config.faults.latency > 0:
            time.sleep(config.faults.latency)
        url = urlsplit(handler.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        token = params.pop("securityToken", None)
        if url.path.rstrip("/") != "/api":
            self._finish(
                handler,
                params,
                _Answer(404, HTML_TYPE, b"<html><body>Not Found</body></html>", "bad_request"),
            )
            return
        if config.token is not None and not hmac.compare_digest(
            (token or "").encode(), config.token.encode()
        ):
            self._finish(
                handler, params, _Answer(401, HTML_TYPE, unauthorized_body(), "unauthorized")
            )
            return
        key = token or str(handler.client_address[0])
        until = self._limiter.check(key, config.rate_limit, config.ban_seconds)
        if until is not None:
            self._finish(handler, params, _Answer(429, HTML_TYPE, ban_body(until), "banned"))
            return
        draw = self._dice.draw(config.faults)
        if draw.kind is not None and draw.kind not in ("truncate", "ack"):
            self._fault(handler, params, draw, key)
            return
        answer = self._answer(params)
        if draw.kind == "truncate":
            self._truncate(handler, params, answer, draw)
            return
        if draw.kind == "ack":
            self._finish(handler, params, _error_ack(answer))
            return
        self._finish(handler, params, answer)

    def _fault(self, handler: _Handler, params: dict[str, str], draw: FaultDraw, key: str) -> None:
        if draw.kind == "reset":
            handler.close_connection = True
            self.server_mark_reset(handler)
            self._record(params, _Answer(0, "", b"", "fault:reset"), 0)
            return
        if draw.kind == "stall":
            self._record(params, _Answer(0, "", b"", "fault:stall"), 0)
            time.sleep(self.config.faults.stall_seconds)
            handler.close_connection = True
            return
        if draw.kind == "5xx":
            status = 503 if draw.variant < 0.6 else 500 if draw.variant < 0.8 else 502
            self._finish(handler, params, _Answer(status, "application/xml", b"", "fault:5xx"))
            return
        if draw.kind == "429":
            until = self._limiter.ban(key, min(BURST_BAN_SECONDS, self.config.ban_seconds))
            self._finish(handler, params, _Answer(429, HTML_TYPE, ban_body(until), "fault:429"))
            return
        self._finish(handler, params, _Answer(200, XML_TYPE, _MALFORMED, "fault:malformed"))

    def server_mark_reset(self, handler: _Handler) -> None:
        """Have the server reset ``handler``'s connection instead of closing it."""
        self._server.mark_reset(handler.connection)

    def _truncate(
        self, handler: _Handler, params: dict[str, str], answer: _Answer, draw: FaultDraw
    ) -> None:
        cut = answer.body[: max(1, len(answer.body) // 2)]
        outcome = replace(answer, body=cut, outcome="fault:truncate", timeseries=0, points=0)
        if draw.variant < 0.5:
            # Honest Content-Length for the cut body: the client gets a broken document.
            self._finish(handler, params, outcome)
        else:
            # Announce the full length, send half, close: the client sees an early EOF.
            self._finish(handler, params, outcome, declared=len(answer.body), close=True)

    def _answer(self, params: dict[str, str]) -> _Answer:
        try:
            request = read_query(params)
        except BadRequest as exc:
            return _ack(400, str(exc), "bad_request")
        dataset = request.dataset
        try:
            payload = self._payload(request)
        except TooManyInstances as exc:
            return _ack(
                400, instances_text(dataset, exc.count, exc.allowed), "bad_request", dataset.name
            )
        if payload is None:
            text = no_data_text(dataset, list(request.eics), request.start, request.end)
            return _ack(200, text, "no_data", dataset.name)
        kind = "attachment" if payload.content_type != XML_TYPE else "inline"
        return _Answer(
            200,
            payload.content_type,
            payload.body,
            "data",
            dataset.name,
            payload.timeseries,
            payload.points,
            f'{kind}; filename="{payload.filename}"',
        )

    def _payload(self, request: ApiRequest) -> Payload | None:
        config = self.config
        index = self._replay_index()
        if index is not None:
            recording = index.find(request, must_cover=config.synthetic)
            if recording is not None:
                if request.offset:
                    return None  # every recording fits in its first page
                return Payload(
                    recording.body,
                    recording.content_type,
                    recording.path.name,
                    recording.timeseries,
                    recording.points,
                )
        if not config.synthetic:
            return None
        now = datetime.now(UTC)
        if request.dataset.outage:
            return outages.generate(request, revision=config.revision)
        return synthetic.generate(request, revision=config.revision, gaps=config.gaps, now=now)

    def _replay_index(self) -> ReplayIndex | None:
        directory = self.config.data_dir
        if directory is None:
            return None
        with self._replay_lock:
            if self._replay is None or self._replay[0] != directory:
                self._replay = (directory, ReplayIndex.load(directory))
            return self._replay[1]

    def _finish(
        self,
        handler: _Handler,
        params: dict[str, str],
        answer: _Answer,
        *,
        declared: int | None = None,
        close: bool = False,
    ) -> None:
        # Logged before the bytes go out: a client that has its answer finds it in served().
        self._record(params, answer, len(answer.body))
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            length = declared if declared is not None else len(answer.body)
            handler.send_header("Content-Length", str(length))
            if answer.disposition is not None:
                handler.send_header("Content-Disposition", answer.disposition)
            elif answer.content_type == XML_TYPE:
                handler.send_header("Content-Disposition", 'inline; filename="acknowledgement.xml"')
            if close:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            handler.end_headers()
            handler.wfile.write(answer.body)
        except OSError:
            handler.close_connection = True  # the client went away

    def _record(self, params: dict[str, str], answer: _Answer, sent: int) -> None:
        record = ServedRecord(
            at=getattr(self._arrival, "at", None) or datetime.now(UTC),
            status=answer.status,
            outcome=answer.outcome,
            params=dict(params),
            dataset=answer.dataset,
            points=answer.points if answer.outcome == "data" else 0,
            timeseries=answer.timeseries if answer.outcome == "data" else 0,
            bytes=sent,
        )
        with self._log_lock:
            self._log.append(record)


def _error_ack(answer: _Answer) -> _Answer:
    """An error acknowledgement where ``answer`` was: one more member of a zipped answer
    (the documents stay beside it), else the whole body."""
    ack = acknowledgement(FAULT_ACK_TEXT)
    if answer.content_type != ZIP_TYPE:
        return _Answer(200, XML_TYPE, ack, "fault:ack", answer.dataset)
    with ZipFile(io.BytesIO(answer.body)) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    body = zip_members([*members, ("acknowledgement.xml", ack)])
    return _Answer(200, ZIP_TYPE, body, "fault:ack", answer.dataset, disposition=answer.disposition)


def _ack(status: int, text: str, outcome: str, dataset: str | None = None) -> _Answer:
    return _Answer(status, XML_TYPE, acknowledgement(text), outcome, dataset)


@contextmanager
def running_emulator(config: EmulatorConfig | None = None) -> Iterator[Emulator]:
    """An emulator serving in a background thread for the ``with`` block, then stopped."""
    emulator = Emulator(config or EmulatorConfig())
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
