"""Kraken Earn in the ledger, read from Kraken's own layout (POST /0/private/Ledgers, the entry fields of the
docs; types and subtypes as support.kraken.com "How to interpret Ledger history fields" lists them): an
allocation or deallocation is a move between spot and the Earn balance (one entry per balance, sharing the
refid), a reward is income, anything else is no business of these rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pipelines.sources.exchanges.normalise import kraken_reward, normalise_wallet_move

COMMON = {"tenant_id": "t", "account_id": "a", "run_id": None}


def _entry(kind: str, subtype: str, asset: str, amount: str, fee: str = "0.0000000000") -> dict[str, Any]:
    """ccxt's ledger entry around an entry of POST /0/private/Ledgers."""
    info = {"refid": "ELFI7UE-CC2EW-6CJNBK", "time": 1718000000.2172, "type": kind, "subtype": subtype,
            "aclass": "currency", "asset": asset, "amount": amount, "fee": fee, "balance": "12.0000000000"}
    return {"info": info, "id": "LQ3GQZ-OFW3O-C6GFE3", "timestamp": 1718000000217, "currency": asset,
            "amount": abs(float(amount)), "status": "ok"}


@pytest.mark.parametrize(("subtype", "asset", "amount", "expected"), [
    ("allocation", "DOT", "-10.0000000000", ("wallet_out", "kraken:earn")),        # spot's side
    ("allocation", "DOT.B", "10.0000000000", ("wallet_in", "kraken:spot")),        # the Earn balance's side
    ("autoallocation", "USDC.F", "250.0000000000", ("wallet_in", "kraken:spot")),  # Auto Earn
    ("deallocation", "DOT.B", "-4.0000000000", ("wallet_out", "kraken:spot")),
    ("deallocation", "DOT", "4.0000000000", ("wallet_in", "kraken:earn")),
    ("migration", "DOT.S", "-10.0000000000", ("wallet_out", "kraken:spot")),       # legacy staked → Earn
    ("migration", "DOT.B", "10.0000000000", ("wallet_in", "kraken:spot")),
])
def test_an_earn_allocation_is_a_move_between_the_accounts_own_wallets(subtype: str, asset: str, amount: str,
                                                                       expected: tuple[str, str]) -> None:
    row = normalise_wallet_move(_entry("earn", subtype, asset, amount), source="kraken", **COMMON)
    assert row is not None
    assert (row["transfer_type"], row["address"]) == expected
    assert row["amount"] == abs(Decimal(amount)) and row["asset"] == asset and row["status"] == "ok"
    assert row["txid"] == "ELFI7UE-CC2EW-6CJNBK"  # both entries of one allocation share it: no 'held' leg
    assert row["source_record_id"] == f"{expected[0]}:LQ3GQZ-OFW3O-C6GFE3:ok"


@pytest.mark.parametrize(("kind", "subtype", "asset"), [("earn", "reward", "DOT.B"), ("earn", "reward", "XETH"),
                                                        ("staking", "", "XTZ.S")])
def test_an_earn_or_staking_reward_is_income(kind: str, subtype: str, asset: str) -> None:
    row = normalise_wallet_move(_entry(kind, subtype, asset, "0.0215000000"), source="kraken", **COMMON)
    assert row is not None
    assert (row["transfer_type"], row["asset"], row["amount"]) == ("income", asset, Decimal("0.0215"))
    assert row["fee_amount"] is None and row["address"] is None and row["status"] == "ok"
    assert row["source_record_id"] == "income:LQ3GQZ-OFW3O-C6GFE3:ok"


def test_a_reward_with_a_fee_is_what_the_balance_gained() -> None:
    # balance = old + amount − fee: income 0.0200 of a 0.0215 reward that carries a 0.0015 fee
    row = normalise_wallet_move(_entry("earn", "reward", "DOT.B", "0.0215", "0.0015"), source="kraken", **COMMON)
    assert row is not None and row["amount"] == Decimal("0.0200")


def test_a_reward_taken_back_is_no_income_and_is_quarantined_by_its_type() -> None:
    assert kraken_reward(_entry("earn", "reward", "DOT.B", "-0.0215")) == "kraken:earn_reward"
    row = normalise_wallet_move(_entry("earn", "reward", "DOT.B", "-0.0215"), source="kraken", **COMMON)
    assert row is not None and row["transfer_type"] == "kraken:earn_reward"  # not in the gate's transfer types


@pytest.mark.parametrize(("kind", "subtype"), [("trade", ""), ("earn", ""), ("deposit", ""), ("earn", "other")])
def test_other_entries_are_neither(kind: str, subtype: str) -> None:
    assert kraken_reward(_entry(kind, subtype, "DOT", "1")) is None
    assert normalise_wallet_move(_entry(kind, subtype, "DOT", "1"), source="kraken", **COMMON) is None


def test_an_earn_entry_elsewhere_is_no_kraken_entry() -> None:
    # the Kraken rules apply to Kraken only: a Binance record with the same fields is not a wallet move
    assert normalise_wallet_move(_entry("earn", "allocation", "DOT", "-1"), source="binance", **COMMON) is None
