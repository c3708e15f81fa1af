"""The sandbox HTTP server: the venue dialects, an admin API under /__sandbox/, and fault injection.

    with SandboxServer(port=0) as sandbox:   # ephemeral port, background thread
        sandbox.url                          # http://127.0.0.1:<port>

Admin endpoints:
    GET  /__sandbox/accounts   tenants, portfolios and accounts with their demo API keys
    GET  /__sandbox/truth      the world's facts (what a correct pipeline must find)
    GET  /__sandbox/stats      request counts per path, and those that carried an API key (account calls)
    POST /__sandbox/faults     {"error_rate": 0.2, "statuses": [429, 500, 503], "latency_ms": 0,
                                "truncate_rate": 0.0, "down": false, "malformed": true,
                                "zero_update_time": ["acme-binance-ops"], "derivatives": true}
    POST /__sandbox/advance    {"trades": 5}: new trades per account after the world's end;
                               {"day": 1}: day 1 after the world's end, the same trades on every run
"""

from __future__ import annotations

import contextlib
import importlib
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox import binance
from sandbox.world import DEFAULT_SEED, Scale, World

# Venue dialects by URL prefix: Binance answers at the root (and under /binance), the others under
# /<venue>/... . A dialect module has `dispatch(world, request, *, malformed)`.
DIALECT_MODULES = {"binance": "sandbox.binance", "coinbase": "sandbox.coinbase", "kraken": "sandbox.kraken",
                   "bitfinex": "sandbox.bitfinex", "htx": "sandbox.htx"}


def _dialects() -> dict[str, ModuleType]:
    found = {}
    for venue, module in DIALECT_MODULES.items():
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError:
            continue  # not built yet: its accounts are not published
        if hasattr(loaded, "dispatch"):
            found[venue] = loaded
    return found


DIALECTS = _dialects()


def served_venues() -> list[str]:
    return list(DIALECTS)


# Chain APIs: Esplora under /esplora, the Etherscan-style explorer under /etherscan, JSON-RPC under /rpc/<chain>.
CHAIN_DIALECTS = {"esplora": "sandbox.esplora", "etherscan": "sandbox.evm", "rpc": "sandbox.evm"}


def route(path: str) -> tuple[ModuleType, str]:
    """(dialect, path without its prefix)."""
    first, _, rest = path.lstrip("/").partition("/")
    if first in CHAIN_DIALECTS:
        return importlib.import_module(CHAIN_DIALECTS[first]), "/" + rest
    if first in DIALECTS:
        return DIALECTS[first], "/" + rest
    return binance, path


@dataclass
class Faults:
    """What goes wrong, on purpose. Deterministic: the n-th request meets the same fate for the same seed."""

    error_rate: float = 0.0
    statuses: list[int] = field(default_factory=lambda: [429, 500, 503])
    latency_ms: int = 0
    truncate_rate: float = 0.0
    down: bool = False
    malformed: bool = False
    retry_after_s: int = 1
    down_venues: list[str] = field(default_factory=list)  # these venues answer 503 to everything
    timeout_rate: float = 0.0  # share of requests that hang for hang_s before answering (client times out)
    hang_s: float = 3.0
    # Not a fault but a venue behaviour on demand: these Binance accounts answer `updateTime: 0`, as Binance
    # does for some account types.
    zero_update_time: list[str] = field(default_factory=list)
    derivatives: bool = False  # a dialect with OPTIONS ('derivatives') serves derivative fills and wallets too


class SandboxState:
    def __init__(self, seed: int, malformed: bool, scale: Scale | None = None) -> None:
        self.world = World(seed, scale)
        self.faults = Faults(malformed=malformed)
        self.stats: Counter[str] = Counter()
        self.signed: Counter[str] = Counter()  # the requests among them that carried an API key (account calls)
        self.weight: Counter[int] = Counter()  # used weight per minute, for X-MBX-USED-WEIGHT-1m
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.world.zero_update_time = set(faults.zero_update_time)

    def fate(self, venue: str) -> tuple[int | None, bool, bool]:
        """(error status or None, truncate body?, hang?) for the next API request to `venue`."""
        with self._lock:
            roll, cut, hang = self._rng.random(), self._rng.random(), self._rng.random()
            status = self._rng.choice(self.faults.statuses) if self.faults.statuses else 500
        if self.faults.down or venue in self.faults.down_venues:
            return 503, False, False
        if roll < self.faults.error_rate:
            return status, False, False
        if hang < self.faults.timeout_rate:
            return None, False, True
        return None, cut < self.faults.truncate_rate, False

    def count_signed(self, path: str) -> None:
        with self._lock:
            self.signed[path] += 1

    def count(self, path: str) -> int:
        with self._lock:
            self.stats[path] += 1
            minute = int(time.time() // 60)
            self.weight[minute] += binance.WEIGHTS.get(path, 1)
            return self.weight[minute]


# How each venue's client presents its API key: a request with one is an account call, counted against the key
# (Binance X-MBX-APIKEY, Kraken API-Key, Coinbase CB-ACCESS-KEY, Bitfinex bfx-apikey, HTX the AccessKeyId query
# parameter; Etherscan's apikey is a public data key, not an account's).
KEY_HEADERS = ("x-mbx-apikey", "api-key", "cb-access-key", "bfx-apikey")


def carries_key(headers: dict[str, str], params: dict[str, str]) -> bool:
    return any(h in headers for h in KEY_HEADERS) or "AccessKeyId" in params


def answer(state: SandboxState, method: str, query: str, headers: dict[str, str], body: str, dialect: ModuleType,
           path: str, used: int, full_path: str) -> tuple[int, Any, dict[str, str]]:
    """What the venue answers to one API request (no faults): (status, JSON payload or bytes, headers). The HTTP
    handler's; bench/fill_raw.py calls it in-process, without a socket."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    json_body = body.lstrip().startswith(("{", "["))
    if body:
        if json_body:
            with contextlib.suppress(json.JSONDecodeError):
                decoded = json.loads(body)
                params.update({k: v for k, v in decoded.items()} if isinstance(decoded, dict) else {})
        else:
            params.update(parse_qsl(body, keep_blank_values=True))
    # Binance signs the query string, or the form body of a POST; a JSON POST (HTX) signs its URL's query.
    raw_query = query if method == "GET" or not body or json_body else body
    request = binance.Request(method, path, params, raw_query, {k.lower(): v for k, v in headers.items()}, body)
    if carries_key(request.headers, params):
        state.count_signed(full_path)
    faults = state.faults
    options = {name: getattr(faults, name) for name in getattr(dialect, "OPTIONS", ())}
    result = dialect.dispatch(state.world, request, malformed=faults.malformed, **options)
    status, payload = result[0], result[1]
    out = {"X-MBX-USED-WEIGHT-1m": str(used)} if dialect is binance else {}
    if len(result) > 2:
        out.update(result[2])  # type: ignore[misc]
    return status, payload, out


def _handler_class(state: SandboxState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "CoinbookSandbox/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and `coinbook run` print their own summaries

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed
            # ACK (40 ms on Linux) on every keep-alive request. Real venues answer in one segment.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None,
                  truncate: bool = False) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
            if truncate and len(data) > 2:
                data = data[: len(data) // 2]  # a body cut off mid-stream
            headers = dict(headers or {})
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json;charset=UTF-8"))
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _read_json(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw or b"{}")

        def _admin(self, method: str, path: str) -> None:
            world = state.world
            if method == "GET" and path == "/__sandbox/accounts":
                served = tuple(served_venues())
                self._send(200, {"venues": list(served),
                                 "accounts": _with_read_only_keys(world, world.published_accounts(served))
                                 + world.chains.published_wallets(),
                                 "chains": {"esplora": "/esplora/api", "etherscan": "/etherscan/v2/api",
                                            "rpc": "/rpc"},
                                 "api_prefixes": {v: ("" if v == "binance" else f"/{v}") for v in served}})
            elif method == "GET" and path == "/__sandbox/truth":
                truth = world.truth()
                for dialect in DIALECTS.values():  # each dialect's own bogus records, in unified terms
                    if hasattr(dialect, "malformed_truth"):
                        for kind, records in dialect.malformed_truth(world).items():
                            truth["malformed"][kind].extend(records)
                self._send(200, truth)
            elif method == "GET" and path == "/__sandbox/stats":
                self._send(200, {"requests": dict(state.stats), "total": sum(state.stats.values()),
                                 "signed": dict(state.signed), "signed_total": sum(state.signed.values())})
            elif method == "POST" and path == "/__sandbox/stats/reset":
                state.stats.clear()
                state.signed.clear()
                self._send(200, {})
            elif method == "GET" and path == "/__sandbox/faults":
                self._send(200, asdict(state.faults))
            elif method == "POST" and path == "/__sandbox/faults":
                body = self._read_json()
                known = {k: v for k, v in body.items() if k in Faults.__dataclass_fields__}
                state.set_faults(Faults(**{**asdict(state.faults), **known}))
                self._send(200, asdict(state.faults))
            elif method == "POST" and path == "/__sandbox/advance":
                body = self._read_json()
                # {"day": n}: the world's day n after its end (Scale's worlds, the bench); else {"trades": k}.
                added = world.advance_day(int(body["day"])) if "day" in body else world.advance(
                    int(body.get("trades", 1)))
                self._send(200, {"added": added})
            else:
                self._send(404, {"error": f"no admin endpoint {method} {path}"})

        def _api(self, method: str) -> None:
            parts = urlsplit(self.path)
            if parts.path.startswith("/__sandbox/"):
                self._admin(method, parts.path)
                return
            used = state.count(parts.path)
            faults = state.faults
            # The body is read before any fault answers: on a kept-alive connection an unread body would be parsed
            # as the next request line (an HTTP 400 page for the client's next call, as a JSON-RPC POST after a
            # 429 got) — a real server consumes it or closes the connection.
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)
            dialect, path = route(parts.path)
            prefix = parts.path.lstrip("/").partition("/")[0]
            venue = prefix if prefix in CHAIN_DIALECTS else next(
                (v for v, m in DIALECTS.items() if m is dialect), "binance")
            error, truncate, hang = state.fate(venue)
            if hang:
                time.sleep(faults.hang_s)  # the client gives up first; what it then gets is irrelevant
            if error == 429:
                self._send(429, {"code": -1003, "msg": "Too many requests; please use the websocket for live updates."},
                           {"Retry-After": str(faults.retry_after_s)})
                return
            if faults.down or venue in faults.down_venues:  # what a load balancer in front of a dead venue answers
                self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                           {"Content-Type": "text/html"})
                return
            if error is not None:
                self._send(error, {"code": -1001, "msg": "Internal error; unable to process your request. "
                                                         "Please try again."})
                return
            status, payload, headers = answer(state, method, parts.query, dict(self.headers.items()), body,
                                              dialect, path, used, parts.path)
            self._send(status, payload, headers, truncate=truncate)

        def do_GET(self) -> None:
            self._api("GET")

        def do_POST(self) -> None:
            self._api("POST")

        def do_DELETE(self) -> None:
            self._api("DELETE")

    return Handler


class SandboxServer:
    """The sandbox in a background thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = DEFAULT_SEED,
                 malformed: bool = False, scale: Scale | None = None) -> None:
        self.state = SandboxState(seed, malformed, scale)
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(self.state))
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def world(self) -> World:
        return self.state.world

    def set_faults(self, **faults: Any) -> None:
        self.state.set_faults(Faults(**{**asdict(self.state.faults), **faults}))

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _with_read_only_keys(world: World, accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each exchange account's read-only key beside its trading key (a sync needs no more; an order with it is
    refused with the venue's permission error)."""
    return [{**a, "read_only": world.read_only_credentials[a["account_id"]]._asdict()} for a in accounts]


def run_forever(host: str = "127.0.0.1", port: int = 8765, *, seed: int = DEFAULT_SEED,
                malformed: bool = False, scale: Scale | None = None) -> None:
    server = SandboxServer(host, port, seed, malformed, scale)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
