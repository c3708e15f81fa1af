"""Pages per second each sandbox dialect answers for one big account (issue 17 §3), and a digest of every page.

    .venv/bin/python -m bench.bench_pages [SCALE]        # default 3x40000: client-003 holds ~36,000 trades

The third tenant of a `3x<trades>` world holds every generated trade (Binance ~41 % of them), so its accounts are
bigger than any account of a 50x1M world (Binance ~8,500 trades). Each venue's trade history is walked as a sync
walks it (Binance fromId per symbol and 24-hour windows, Coinbase's fills cursor and its v2 transactions per wallet,
Kraken's `ofs`, Bitfinex's newest-first `end` windows, HTX's 48-hour windows), calling the dialect's own page
function (Binance through its signed request, the others past their authentication, which is not what is measured).
The digest (sha256 of every page's JSON) must not change when only the way a page is computed changes.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from sandbox import binance, bitfinex, coinbase, htx, kraken
from sandbox.world import END_MS, START_MS, VENUE_MARKETS, Scale, World, tenant_id_of

DAY_MS = 86_400_000


def _binance_request(world: World, account_id: str, params: dict[str, Any]) -> binance.Request:
    key = world.credentials[account_id].api_key
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    signature = hmac.new(world.secret_of(key).encode(), query.encode(), hashlib.sha256).hexdigest()
    raw = f"{query}&signature={signature}"
    return binance.Request("GET", "/api/v3/myTrades", dict(p.split("=", 1) for p in raw.split("&")), raw,
                           {"x-mbx-apikey": key})


def binance_pages(world: World, account_id: str) -> Iterator[Any]:
    for market in VENUE_MARKETS["binance"]:
        from_id = 0
        while True:  # fromId paging, the sync's first run
            page = binance.my_trades(world, _binance_request(world, account_id, {
                "symbol": market.symbol, "fromId": from_id, "limit": 500}), False)
            yield page
            if len(page) < 500:
                break
            from_id = page[-1]["id"] + 1
    for day in range(0, 480, 4):  # 24-hour windows every fourth day, BTCUSDT
        start = START_MS + day * DAY_MS
        yield binance.my_trades(world, _binance_request(world, account_id, {
            "symbol": "BTCUSDT", "startTime": start, "endTime": start + DAY_MS - 1, "limit": 500}), False)


def coinbase_pages(world: World, account_id: str) -> Iterator[Any]:
    cursor = ""
    while True:
        page = coinbase.fills(world, account_id, f"limit=100&cursor={cursor}", False)
        yield page
        cursor = page["cursor"]
        if not cursor:
            break
    for code in ("USD", "BTC"):
        after: str | None = None
        while True:
            params = {"limit": "100", **({"starting_after": after} if after else {})}
            page = coinbase.transactions(world, account_id, coinbase._uuid(account_id, code), params, False)
            yield page
            after = page["pagination"]["next_starting_after"]
            if not after:
                break


def kraken_pages(world: World, account_id: str) -> Iterator[Any]:
    ofs = 0
    while True:
        page = kraken.trades_history(world, account_id, {"ofs": str(ofs)}, False)
        yield page
        ofs += kraken.PAGE
        if ofs >= page["count"]:
            break


def bitfinex_pages(world: World, account_id: str) -> Iterator[Any]:
    end = END_MS
    while True:  # newest first, the next window ending before the oldest row seen
        page = bitfinex.trades_hist(world, account_id, None, {"end": end, "limit": 500}, False)
        yield page
        if len(page) < 500:
            break
        end = page[-1][2] - 1


def htx_pages(world: World, account_id: str) -> Iterator[Any]:
    end = htx.clock_ms(world)
    while end > htx.clock_ms(world) - 110 * DAY_MS:  # 48-hour windows back over the API's 120 days
        yield htx.matchresults(world, account_id, {"end-time": str(end), "start-time": str(end - 2 * DAY_MS + 1),
                                                   "size": "500"}, False)
        end -= 2 * DAY_MS


WALKS: dict[str, Callable[[World, str], Iterator[Any]]] = {
    "binance": binance_pages, "coinbase": coinbase_pages, "kraken": kraken_pages, "bitfinex": bitfinex_pages,
    "htx": htx_pages}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scale", nargs="?", default="3x40000")
    parser.add_argument("--tenant", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    world = World(scale=Scale.parse(args.scale))
    print(f"world {args.scale}: {time.perf_counter() - t0:.1f} s")
    for venue, walk in WALKS.items():
        account_id = f"{tenant_id_of(args.tenant)}-{venue}"
        digest, pages = hashlib.sha256(), 0
        t0 = time.perf_counter()
        for page in walk(world, account_id):
            digest.update(json.dumps(page, sort_keys=True).encode())
            pages += 1
        seconds = time.perf_counter() - t0
        print(f"{venue:9} {len(world.trades[account_id]):6} trades  {pages:5} pages  {seconds:7.2f} s  "
              f"{pages / seconds:8.1f} pages/s  {digest.hexdigest()[:16]}", flush=True)


if __name__ == "__main__":
    main()
