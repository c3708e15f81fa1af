"""Moves between a venue account's own wallets, read from the venues' own layouts (the docs' examples), as
transfers rows: which side of the move each record is, the other wallet, and what is not such a move."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pipelines.sources.exchanges.normalise import normalise_wallet_move

COMMON = {"tenant_id": "t", "account_id": "a", "run_id": None}


def _binance(kind: str, status: str = "CONFIRMED") -> dict[str, Any]:
    """ccxt's transfer structure around a row of GET /sapi/v1/asset/transfer (the docs' response example)."""
    info = {"asset": "USDT", "amount": "1", "type": kind, "status": status, "tranId": 11415955596,
            "timestamp": 1544433328000}
    return {"info": info, "id": "11415955596", "timestamp": 1544433328000, "currency": "USDT", "amount": 1.0,
            "status": "ok" if status == "CONFIRMED" else status}


def _kraken(subtype: str, asset: str, amount: str, kind: str = "transfer") -> dict[str, Any]:
    """ccxt's ledger entry around an entry of POST /0/private/Ledgers (the docs' layout)."""
    info = {"refid": "RKB7ODD-AUNIS-XMLWRT", "time": 1688464484.1787, "type": kind, "subtype": subtype,
            "aclass": "currency", "asset": asset, "amount": amount, "fee": "0.0000", "balance": "10.0000"}
    return {"info": info, "id": "L4UESK-KG3EQ-UFO4T5", "timestamp": 1688464484178, "currency": asset,
            "amount": abs(float(amount)), "status": "ok"}


@pytest.mark.parametrize(("kind", "expected"), [
    ("MAIN_FUNDING", ("wallet_out", "binance:funding")),
    ("UMFUTURE_MAIN", ("wallet_in", "binance:umfuture")),
    ("MAIN_MARGIN", ("wallet_out", "binance:margin")),
    ("FUNDING_UMFUTURE", None),  # spot is neither side: nothing the spot books see
])
def test_binance_universal_transfer_seen_from_spot(kind: str, expected: tuple[str, str] | None) -> None:
    row = normalise_wallet_move(_binance(kind), source="binance", **COMMON)
    if expected is None:
        assert row is None
        return
    assert row is not None
    assert (row["transfer_type"], row["address"]) == expected
    assert row["amount"] == Decimal("1") and row["asset"] == "USDT" and row["status"] == "ok"
    assert row["fee_amount"] is None and row["txid"] is None  # one record per move: the other side is mirrored
    assert row["source_record_id"] == f"{expected[0]}:11415955596:ok"


def test_binance_pending_and_failed_keep_their_status() -> None:
    assert normalise_wallet_move(_binance("MAIN_FUNDING", "PENDING"), source="binance", **COMMON)["status"] == "pending"
    assert normalise_wallet_move(_binance("MAIN_FUNDING", "FAILED"), source="binance", **COMMON)["status"] == "failed"


@pytest.mark.parametrize(("subtype", "asset", "amount", "expected"), [
    ("spottostaking", "XETH", "-2.5", ("wallet_out", "kraken:staking")),
    ("stakingfromspot", "ETH.S", "2.5", ("wallet_in", "kraken:spot")),
    ("stakingtospot", "ETH.S", "-1", ("wallet_out", "kraken:spot")),
    ("spotfromfutures", "ZUSD", "100", ("wallet_in", "kraken:futures")),
])
def test_kraken_transfer_entries_name_their_own_and_the_other_wallet(subtype: str, asset: str, amount: str,
                                                                     expected: tuple[str, str]) -> None:
    row = normalise_wallet_move(_kraken(subtype, asset, amount), source="kraken", **COMMON)
    assert row is not None
    assert (row["transfer_type"], row["address"]) == expected
    assert row["amount"] == abs(Decimal(amount)) and row["asset"] == asset
    assert row["txid"] == "RKB7ODD-AUNIS-XMLWRT"  # the refid both sides of one move share


@pytest.mark.parametrize(("subtype", "kind"), [("", "trade"), ("spotfromspot", "transfer"), ("", "transfer")])
def test_other_kraken_entries_are_not_wallet_moves(subtype: str, kind: str) -> None:
    assert normalise_wallet_move(_kraken(subtype, "XXBT", "-1", kind), source="kraken", **COMMON) is None
