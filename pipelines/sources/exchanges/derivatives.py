"""Derivatives (perpetual swaps, futures, options) told apart from spot before anything reaches a spot table.

Coinbook's books are spot: a fill of `BTC/USDT:USDT` is a quantity of contracts of a contract size, settled in
USDT, with funding and a fee that may be a rebate; a swap wallet holds margin. Booked as spot they would make
positions and lots wrong; sent to the quality gate they are quarantined row by row (the symbol is not a spot
symbol), and an active perp trader's account is held back for a whole raw table. So they are set aside here: kept
whole in raw.exchange_derivatives, counted per sync as `ignored: derivatives`, never quarantined.

How a derivative is recognised, as ccxt describes markets (docs.ccxt.com "Market structure"; ccxt's own
`bitfinex.fetch_markets` marks `…F0:USTF0` pairs type 'swap', contract True, contractSize 1):
- the market's `type` ('swap', 'future', 'option'), or its `swap` / `future` / `option` / `contract` flags;
- without a market, the unified symbol: `BASE/QUOTE:SETTLE` is a perpetual swap, `BASE/QUOTE:SETTLE-YYMMDD` a
  future, `BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P` an option. A spot (or spot margin) market has no `:SETTLE`.

An account's profile says whether it trades derivatives (`settings.derivatives`, default false): only then are
its derivative wallets read (`derivative_balance_types`); a spot-only account's derivative fills met in a
venue's account-wide history are set aside all the same. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.sources.exchanges.canonical import clean_json, clean_text, ms_to_datetime, record_hash

Row = dict[str, Any]
TABLE = "raw.exchange_derivatives"
COLUMNS = ("tenant_id", "account_id", "source", "source_record_id", "entity", "market_type", "symbol", "asset",
           "occurred_at", "unified", "payload", "record_hash", "run_id")
IGNORED = "derivatives"  # the reason a sync counts them under (ops.sync_log.ignored)
MARKET_TYPES = ("swap", "future", "option")

# The balance `type` ccxt's fetch_balance takes for a venue's derivative wallet (ccxt options
# 'v2AccountsByType'): Bitfinex's 'margin' wallets (the USTF0 collateral of its perpetuals; ccxt's bitfinex maps
# 'swap' to them). Kraken has none (its futures are another API). Read only for accounts that declare derivatives.
# Binance's USDⓈ-M wallet ('future', fapi) is not read yet: its markets are not loaded (load_markets asks for spot
# only) and the sandbox does not serve fapi.
DERIVATIVE_BALANCE_TYPES: dict[str, tuple[str, ...]] = {"bitfinex": ("swap",)}


def market_type(symbol: Any, market: Mapping[str, Any] | None = None) -> str | None:
    """'swap' | 'future' | 'option' (or 'contract' when a market says only that) for a derivative; None for spot."""
    if market:
        kind = market.get("type")
        if kind in MARKET_TYPES:
            return str(kind)
        for flag in MARKET_TYPES:
            if market.get(flag):
                return flag
        if market.get("contract"):
            return "contract"
        if kind in ("spot", "margin") or market.get("spot"):
            return None
    text = clean_text(symbol) or ""
    if ":" not in text.partition("/")[2]:
        return None
    parts = text.partition(":")[2].split("-")
    return "option" if len(parts) >= 4 else "future" if len(parts) >= 2 else "swap"


def is_derivatives_account(settings: Mapping[str, Any]) -> bool:
    """The account's profile: true when it declares derivatives trading (its derivative wallets are read too)."""
    return bool(settings.get("derivatives", False))


def derivative_balance_types(venue: str, settings: Mapping[str, Any]) -> tuple[str, ...]:
    return DERIVATIVE_BALANCE_TYPES.get(venue, ()) if is_derivatives_account(settings) else ()


def split_trades(trades: Iterable[dict[str, Any]], markets: Mapping[str, Mapping[str, Any]] | None,
                 ) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """(spot trades, [(derivative trade, its market type)]) of ccxt trade structures."""
    spot: list[dict[str, Any]] = []
    derivatives: list[tuple[dict[str, Any], str]] = []
    for trade in trades:
        kind = market_type(trade.get("symbol"), (markets or {}).get(str(trade.get("symbol"))))
        if kind is None:
            spot.append(trade)
        else:
            derivatives.append((trade, kind))
    return spot, derivatives


def _unified(record: Mapping[str, Any]) -> dict[str, Any]:
    return clean_json({k: v for k, v in record.items() if k != "info"})


def derivative_trade_row(trade: dict[str, Any], kind: str, market: Mapping[str, Any] | None, *, tenant_id: str,
                         account_id: str, source: str, run_id: str | None) -> Row:
    """A derivative fill as kept: ccxt's unified trade (amount in contracts) with the market's contract size and
    settle currency added, and the venue's own record."""
    symbol = clean_text(trade.get("symbol"))
    unified = _unified(trade)
    if market:
        unified.update(contractSize=clean_json(market.get("contractSize")), settle=market.get("settle"),
                       linear=market.get("linear"), inverse=market.get("inverse"))
    payload = clean_json(trade.get("info", trade))
    digest = record_hash(payload)
    trade_id = clean_text(trade.get("id"))
    return {"tenant_id": tenant_id, "account_id": account_id, "source": source,
            "source_record_id": f"{symbol}:{trade_id}" if trade_id else f"sha256:{digest}", "entity": "trades",
            "market_type": kind, "symbol": symbol, "asset": None, "occurred_at": ms_to_datetime(trade.get("timestamp")),
            "unified": unified, "payload": payload, "record_hash": digest, "run_id": run_id}


def derivative_balance_rows(balance: dict[str, Any], balance_type: str, *, tenant_id: str, account_id: str,
                            source: str, run_id: str | None, fetched_ms: int) -> list[Row]:
    """A derivative wallet's balance (ccxt balance structure read with `type`), one row per asset. Identified by
    its amounts, so an unchanged wallet adds nothing."""
    reserved = {"info", "free", "used", "total", "timestamp", "datetime", "debt"}
    observed_ms = balance.get("timestamp") or fetched_ms
    payload = clean_json(balance.get("info", {}))
    rows = []
    for asset, amounts in sorted((a, v) for a, v in balance.items() if a not in reserved and isinstance(v, dict)):
        unified = clean_json({"type": balance_type, "asset": asset, **{k: amounts.get(k) for k in
                                                                       ("free", "used", "total", "debt")}})
        digest = record_hash(unified)
        rows.append({"tenant_id": tenant_id, "account_id": account_id, "source": source,
                     "source_record_id": f"{balance_type}:{asset}:{digest[:16]}", "entity": "balances",
                     "market_type": balance_type, "symbol": None, "asset": clean_text(asset),
                     "occurred_at": ms_to_datetime(observed_ms), "unified": unified, "payload": payload,
                     "record_hash": digest, "run_id": run_id})
    return rows


def as_tuples(rows: list[Row]) -> list[tuple[Any, ...]]:
    return [tuple(row.get(c) for c in COLUMNS) for row in rows]
