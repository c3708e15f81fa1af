"""Moves between a venue account's own wallets on Bitfinex, HTX and Coinbase, read from the venues' documented
layouts through ccxt's own parsers (as the sync receives them): which side of the move a record is, the other
wallet, and what is not such a move."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from pipelines.sources.exchanges.normalise import normalise_transfer, normalise_wallet_move

COMMON = {"tenant_id": "t", "account_id": "a", "run_id": None}
BITFINEX, HTX, COINBASE = ccxt.bitfinex(), ccxt.htx(), ccxt.coinbase()


def _bitfinex(wallet: str, amount: float, description: str, entry_id: int = 10503927492) -> dict[str, Any]:
    """A ledger entry of POST /v2/auth/r/ledgers/hist: [ID, CURRENCY, WALLET, MTS, _, AMOUNT, BALANCE, _,
    DESCRIPTION] (docs.bitfinex.com/reference/rest-auth-ledgers), as ccxt's fetch_ledger wraps and parses it."""
    return BITFINEX.parse_ledger_entry({"result": [entry_id, "USD", wallet, 1786873048000, None, amount, 0, None,
                                                   description]})


@pytest.mark.parametrize(("wallet", "amount", "description", "expected"), [
    ("exchange", -184.3, "Transfer of 184.3 USD from wallet Exchange to Deposit on wallet exchange",
     ("wallet_out", "bitfinex:funding")),
    ("exchange", 0.001, "Transfer of 0.001 BTC from wallet Trading to Exchange on wallet exchange",
     ("wallet_in", "bitfinex:margin")),
    # the other wallet's own entry of the same move: not a wallet Coinbook reads
    ("funding", 184.3, "Transfer of 184.3 USD from wallet Exchange to Deposit on wallet funding", None),
    # between two wallets neither of which is the exchange wallet
    ("margin", -5.0, "Transfer of 5.0 USD from wallet Trading to Deposit on wallet margin", None),
    # to a sub-account: another account's, not the owner's other wallet
    ("exchange", -5.0, "Transfer of 5.0 UST from wallet Exchange to Exchange SA(acc1->acc2) on wallet exchange", None),
    ("exchange", -2.0, "Exchange 2.0 BTC for USD @ 60000.0 on wallet exchange", None),
])
def test_bitfinex_ledger_transfers_seen_from_the_exchange_wallet(wallet: str, amount: float, description: str,
                                                                 expected: tuple[str, str] | None) -> None:
    row = normalise_wallet_move(_bitfinex(wallet, amount, description), source="bitfinex", **COMMON)
    if expected is None:
        assert row is None
        return
    assert row is not None
    assert (row["transfer_type"], row["address"]) == expected
    assert row["amount"] == abs(Decimal(str(amount))) and row["asset"] == "USD" and row["status"] == "ok"
    assert row["transfer_id"] == "10503927492" and row["occurred_at"].timestamp() == 1786873048


def _htx(transfer_type: str, amount: float, at: int = 1629882331066) -> dict[str, Any]:
    """An entry of GET /v2/account/ledger (the docs' example: transactId 0), as ccxt's fetch_ledger parses it."""
    return HTX.parse_ledger_entry({"accountId": 10000001, "currency": "usdt", "transactAmt": amount,
                                   "transactType": "transfer", "transferType": transfer_type, "transactId": 0,
                                   "transactTime": at, "transferer": 28483123, "transferee": 13496526})


@pytest.mark.parametrize(("transfer_type", "amount", "expected"), [
    ("margin-transfer-out", 10, ("wallet_in", "htx:margin")),     # out of margin, into spot (docs' example)
    ("margin-transfer-in", -10, ("wallet_out", "htx:margin")),
    ("spot-to-futures", -3.5, ("wallet_out", "htx:futures")),
    ("linear-swap-to-spot", 7, ("wallet_in", "htx:linear-swap")),
    ("dm-spot-to-swap", -1, ("wallet_out", "htx:swap")),
    ("otc-to-spot", 2, ("wallet_in", "htx:otc")),
    ("master-transfer-in", 5, None),   # from the parent user: another user's account
    ("sub-transfer-out", -5, None),
])
def test_htx_ledger_transfers_of_the_spot_account(transfer_type: str, amount: float,
                                                  expected: tuple[str, str] | None) -> None:
    row = normalise_wallet_move(_htx(transfer_type, amount), source="htx", **COMMON)
    if expected is None:
        assert row is None
        return
    assert row is not None
    assert (row["transfer_type"], row["address"]) == expected
    assert row["amount"] == abs(Decimal(str(amount))) and row["asset"] == "USDT" and row["status"] == "ok"


def test_htx_entries_with_transact_id_zero_keep_distinct_identities() -> None:
    """HTX's examples carry transactId 0: two moves must not collapse into one record."""
    first = normalise_wallet_move(_htx("margin-transfer-in", -10, 1629882096562), source="htx", **COMMON)
    again = normalise_wallet_move(_htx("margin-transfer-in", -10, 1629882096562), source="htx", **COMMON)
    later = normalise_wallet_move(_htx("margin-transfer-in", -10, 1629882331066), source="htx", **COMMON)
    assert first and again and later
    assert first["source_record_id"] == again["source_record_id"] != later["source_record_id"]


def _coinbase(kind: str, amount: str, currency: str = "USD") -> dict[str, Any]:
    """A v2 transaction of GET /v2/accounts/:id/transactions, as ccxt's fetch_deposits_withdrawals parses it."""
    return COINBASE.parse_transaction({
        "id": "4117f7d6-5694-5b36-bc8f-847509850ea4", "type": kind, "status": "completed",
        "amount": {"amount": amount, "currency": currency}, "native_amount": {"amount": amount, "currency": "USD"},
        "description": None, "created_at": "2025-06-01T10:00:00Z", "updated_at": "2025-06-01T10:00:00Z",
        "resource": "transaction",
        "resource_path": "/v2/accounts/2bbf394c/transactions/4117f7d6-5694-5b36-bc8f-847509850ea4"})


@pytest.mark.parametrize(("kind", "amount", "expected"), [
    ("exchange_deposit", "-100.00", ("wallet_out", "coinbase:exchange")),
    ("exchange_withdrawal", "40.00", ("wallet_in", "coinbase:exchange")),
    ("pro_deposit", "-1.5", ("wallet_out", "coinbase:pro")),
    ("intx_withdrawal", "3", ("wallet_in", "coinbase:international")),
    ("staking_transfer", "-2", ("wallet_out", "coinbase:staking")),
    ("unstaking_transfer", "2", ("wallet_in", "coinbase:staking")),
    ("vault_withdrawal", "0.5", ("wallet_in", "coinbase:vault")),
    ("derivatives_settlement", "-12.34", ("wallet_out", "coinbase:derivatives")),
    ("transfer", "-7", ("wallet_out", "coinbase:account")),
])
def test_coinbase_moves_between_own_accounts(kind: str, amount: str, expected: tuple[str, str]) -> None:
    row = normalise_transfer(_coinbase(kind, amount), source="coinbase", **COMMON)
    assert (row["transfer_type"], row["address"]) == expected
    assert row["amount"] == abs(Decimal(amount)) and row["fee_amount"] is None and row["status"] == "ok"


@pytest.mark.parametrize(("kind", "amount", "expected"), [
    ("fiat_deposit", "100.00", "deposit"), ("fiat_withdrawal", "-100.00", "withdrawal"),
])
def test_coinbase_fiat_movements_stay_deposits_and_withdrawals(kind: str, amount: str, expected: str) -> None:
    row = normalise_transfer(_coinbase(kind, amount), source="coinbase", **COMMON)
    assert row["transfer_type"] == expected and row["address"] is None
