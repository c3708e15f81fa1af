"""The sandbox's Bitfinex, HTX and Coinbase answers for moves between an account's own wallets: the venues'
documented layouts, signs and limits (Bitfinex ledger category 51, HTX GET /v2/account/ledger, Coinbase v2
transaction types), and the default world has none."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from sandbox import bitfinex, coinbase, htx
from sandbox.world import VENUE_CASH, World

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _account(world: World, venue: str) -> str:
    return next(a.account_id for a in world.venue_accounts(venue))


def test_the_default_world_has_no_wallet_moves(world: World) -> None:
    assert all(not moves for moves in world.wallet_moves.values())


def test_bitfinex_ledger_has_one_entry_per_wallet_and_filters_by_category(world: World) -> None:
    account = _account(world, "bitfinex")
    cash = VENUE_CASH["bitfinex"]
    at = int(time.time() * 1000) - DAY_MS
    move = world.move_between_wallets(account, cash, Decimal("100.5"), "funding", "out", at)
    entries = bitfinex.ledgers_hist(world, account, None, {"category": 51, "start": at - 1})
    assert [e[2] for e in entries if e[3] == move.time_ms] == ["funding", "exchange"]  # newest first, ids descending
    funding, exchange = entries[0], entries[1]
    assert exchange[5] == -100.5 and funding[5] == 100.5 and exchange[3] == funding[3] == move.time_ms
    assert exchange[8] == "Transfer of 100.5 USD from wallet Exchange to Deposit on wallet exchange"
    assert funding[8].endswith("on wallet funding") and exchange[6] == float(move.spot_after)
    assert bitfinex.ledgers_hist(world, account, None, {"category": 5, "start": at - 1}) == []  # trades: none here
    assert ["funding", "USD", 100.5, 0, 100.5, None, None] in bitfinex.wallets(world, account)


def test_htx_ledger_signs_spot_and_keeps_the_documented_window(world: World) -> None:
    account = _account(world, "htx")
    cash = VENUE_CASH["htx"]
    now = int(time.time() * 1000)
    out = world.move_between_wallets(account, cash, Decimal("250"), "margin", "out", now - 2 * DAY_MS)
    back = world.move_between_wallets(account, cash, Decimal("50"), "margin", "in", now - DAY_MS)
    status, body = htx.account_ledger(world, account, {"transactTypes": "transfer", "endTime": str(now)})
    assert status == 200 and body["code"] == 200 and "nextId" not in body
    rows: list[dict[str, Any]] = body["data"]
    assert [(r["transferType"], r["transactAmt"], r["transactTime"]) for r in rows] == [
        ("margin-transfer-out", 50.0, back.time_ms), ("margin-transfer-in", -250.0, out.time_ms)]
    assert {r["transactId"] for r in rows} == {0} and {r["currency"] for r in rows} == {"usdt"}
    # one page of one: the next id leads to the rest
    _, first = htx.account_ledger(world, account, {"endTime": str(now), "limit": "1"})
    _, rest = htx.account_ledger(world, account, {"endTime": str(now), "limit": "1", "fromId": str(first["nextId"])})
    assert [r["transactTime"] for r in first["data"] + rest["data"]] == [back.time_ms, out.time_ms]
    # more than 10 days in one window, or older than 180 days: refused, as HTX documents
    _, wide = htx.account_ledger(world, account, {"startTime": str(now - 11 * DAY_MS), "endTime": str(now)})
    _, old = htx.account_ledger(world, account, {"endTime": str(now - 181 * DAY_MS)})
    assert wide["code"] != 200 and old["code"] != 200


def test_coinbase_lists_moves_in_the_wallet_with_their_v2_types(world: World) -> None:
    account = _account(world, "coinbase")
    cash = VENUE_CASH["coinbase"]
    at = int(time.time() * 1000) - DAY_MS
    world.move_between_wallets(account, cash, Decimal("1000"), "exchange", "out", at)
    world.move_between_wallets(account, cash, Decimal("400"), "exchange", "in", at + 60_000)
    world.move_between_wallets(account, cash, Decimal("30"), "staking", "out", at + 120_000)
    wallet = coinbase._uuid(account, cash)
    listed = coinbase.transactions(world, account, wallet, {"order": "desc", "limit": "3"}, False)["data"]
    assert [(t["type"], t["amount"]["amount"]) for t in listed] == [
        ("staking_transfer", "-30"), ("exchange_withdrawal", "400"), ("exchange_deposit", "-1000")]
    assert all(t["resource"] == "transaction" and t["created_at"].endswith("Z") for t in listed)
