"""A local HTTP endpoint that records every POST it receives: stands in for an InfluxDB 2 server (none can be
installed here) and for webhook receivers, so clients are tested over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import NamedTuple
from urllib.parse import parse_qsl, urlparse


class Recorded(NamedTuple):
    path: str
    query: dict[str, str]
    authorization: str
    body: str


class RecordingServer:
    """`with RecordingServer() as server:` then point a client at `server.url`; `server.received` lists the
    requests in arrival order. `status` answers each path (set `server.status` to change it mid-test)."""

    def __init__(self, status: Callable[[str], int] = lambda path: 204) -> None:
        self.received: list[Recorded] = []
        self.status = status
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                recorder.received.append(Recorded(url.path, dict(parse_qsl(url.query)),
                                                  self.headers.get("Authorization", ""), body))
                self.send_response(recorder.status(url.path))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_port}"
        self.url = f"http://{self.host}"

    def __enter__(self) -> RecordingServer:
        threading.Thread(target=self._server.serve_forever, name="recording-server", daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
