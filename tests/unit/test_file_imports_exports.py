"""The exports people actually have (issue 15): the Binance statement, Binance's older trade history and its
deposit/withdrawal histories, Coinbase Pro fills and account statements, Kraken trades.csv, HTX trade history,
and the Coinbase types and Ledger Live operations real files carry. Exact values from the fixtures (written from
the venues' documented layouts, tests/fixtures/imports/README.md), every line a record, a reject with a reason or
an ignored line with a reason, and a fuzz of malformed rows per format."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from pipelines.sources.files import FORMATS, OWNERS, parse_export
from tests.unit.test_file_imports import _malformed, assert_invariant, by_line, load, reasons, utc

D = Decimal


def _ignored(result) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return dict(result.ignored)


# ── Binance statement ────────────────────────────────────────────────────────────────────────────────────
def test_binance_statement_every_operation_mapped_or_ignored_with_a_reason() -> None:
    result = parse_export(load("binance_statement.csv"))
    assert result.format == "binance_statement"
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected), len(result.ignored)) == (38, 15, 6, 8)
    rows = by_line(result)
    assert (rows[2].record_type, rows[2].occurred_at, rows[2].asset, rows[2].amount) == (
        "deposit", utc(2024, 3, 1, 8, 0, 11), "USDT", D("5000"))
    # two fills of one order at 09:30:07, each a Buy, a Transaction Related and a Fee leg: one trade
    trade = rows[4]
    assert trade.lines == (4, 5, 6, 7, 8, 9)
    assert (trade.record_type, trade.side, trade.base_asset, trade.quote_asset, trade.quantity, trade.cost,
            trade.price, trade.fee_amount, trade.fee_asset) == (
        "trade", "buy", "BTC", "USDT", D("0.005") + D("0.011"), D("311.25") + D("684.75"), D("62250"),
        D("0.000612") + D("0.001347"), "BNB")
    assert len(trade.payload["rows"]) == 6
    sold = rows[10]  # the newer leg names: Transaction Sold / Revenue / Fee
    assert (sold.side, sold.base_asset, sold.quote_asset, sold.quantity, sold.cost, sold.price, sold.fee_amount,
            sold.fee_asset) == ("sell", "ETH", "USDT", D("0.5"), D("1720.5"), D("3441"), D("1.7205"), "USDT")
    convert = rows[13]
    assert (convert.lines, convert.side, convert.base_asset, convert.quote_asset, convert.quantity, convert.cost,
            convert.fee_amount) == ((13, 14), "buy", "SOL", "USDT", D("0.73421"), D("100"), None)
    incomes = {line: (r.asset, r.amount, r.income_kind) for line, r in rows.items() if r.record_type == "income"}
    assert incomes == {17: ("USDT", D("0.154321"), "interest"), 18: ("DOT", D("0.082143"), "staking"),
                       19: ("PORTAL", D("3.2187"), "interest"), 20: ("ALGO", D("0.08716713"), "airdrop"),
                       21: ("BTTC", D("1250"), "airdrop"), 32: ("USDT", D("0.0245"), "reward")}
    # small assets → BNB: one sale per coin, the 0.0041 BNB split equally (the statement does not say how)
    shib, xrp = rows[22], rows[23]
    assert (shib.lines, shib.side, shib.base_asset, shib.quote_asset, shib.quantity) == (
        (22, 24), "sell", "SHIB", "BNB", D("52000"))
    assert (xrp.lines, xrp.base_asset, xrp.quantity) == ((23,), "XRP", D("1.2"))
    assert shib.cost + xrp.cost == D("0.0041") and shib.cost == xrp.cost
    # the spot side of a transfer to the futures wallet leaves the spot ledger; the futures side is ignored
    assert (rows[27].record_type, rows[27].asset, rows[27].amount) == ("withdrawal", "USDT", D("500"))
    withdraw = rows[33]  # "Withdraw fee is included": the whole debit, no separate fee
    assert (withdraw.record_type, withdraw.amount, withdraw.fee_amount) == ("withdrawal", D("2179.399758"), None)
    wallets = "a move between the account's own Binance wallets (Spot, Funding, Earn): no holding changes"
    derivatives = ("derivatives: a futures, options or margin wallet's line (PnL, funding, fees, transfers) is not "
                   "in the spot ledger")
    assert _ignored(result) == {15: wallets, 16: wallets, 25: wallets, 26: wallets, 28: derivatives,
                                29: derivatives, 30: derivatives, 31: derivatives}
    found = reasons(result)
    two_trades = found[34]
    assert two_trades.startswith("the trade legs at 2024-03-13 11:11:11 (Buy +0.10000000 ETH, Buy +2.00000000 SOL, "
                                 "Transaction Related -632.10000000 USDT) are not one coin given for one coin")
    assert found[35] == found[36] == two_trades
    assert found[37] == "Operation: 'Asset Recovery' is not supported"
    assert found[39] == "Change: '-68.0O000000' is not a number"
    assert found[38] == "a leg of the trade at 2024-03-14 07:05:00 whose other leg (line 39) was rejected"


def _statement(*rows: str) -> str:
    return "User_ID,UTC_Time,Account,Operation,Coin,Change,Remark\n" + "\n".join(rows) + "\n"


def test_binance_statement_trade_legs_straddling_a_second_are_one_trade() -> None:
    result = parse_export(_statement("1,2024-03-01 09:30:07,Spot,Buy,BTC,0.01,",
                                     "1,2024-03-01 09:30:08,Spot,Transaction Related,USDT,-620.5,",
                                     "1,2024-03-01 09:30:08,Spot,Fee,BTC,-0.00001,"))
    assert_invariant(result)
    (trade,) = result.records
    assert (trade.lines, trade.side, trade.quantity, trade.cost, trade.fee_amount, trade.fee_asset) == (
        (2, 3, 4), "buy", D("0.01"), D("620.5"), D("0.00001"), "BTC")


def test_binance_statement_two_digit_years_and_legacy_transfers() -> None:
    result = parse_export(_statement(
        "1,21-01-24 22:24:15,Spot,transfer_out,USDT,-50,",
        "1,21-01-24 22:24:15,USDT-Futures,transfer_in,USDT,50,",
        "1,21-01-25 10:00:00,Spot,transfer_out,BNB,-1,",
        "1,21-01-25 10:00:00,Funding,transfer_in,BNB,1,",
        "1,21-01-26 10:00:00,Spot,transfer_in,ETH,0.5,"))
    assert_invariant(result)
    out = by_line(result)[2]
    assert (out.record_type, out.occurred_at, out.asset, out.amount) == (
        "withdrawal", utc(2021, 1, 24, 22, 24, 15), "USDT", D("50"))
    assert sorted(_ignored(result)) == [3, 4, 5]
    assert reasons(result)[6].startswith("transfer_in: no counterpart line")


def test_binance_statement_unknown_wallet_and_signs() -> None:
    result = parse_export(_statement("1,2024-03-01 10:00:00,Pay,Deposit,USDT,5,",
                                     "1,2024-03-01 10:00:00,Spot,Deposit,USDT,-5,",
                                     "1,2024-03-01 10:00:00,Spot,Withdraw,USDT,5,",
                                     "1,2024-03-01 10:00:00,Spot,Staking Rewards,DOT,0.1,"))
    found = reasons(result)
    assert found[2].startswith("Account: 'Pay' is not a known Binance wallet")
    assert found[3] == "Change: '-5' is negative for a Deposit"
    assert found[4] == "Change: '5' is positive for a withdrawal"
    assert by_line(result)[5].income_kind == "staking"


# ── Coinbase: the transaction types real reports carry ───────────────────────────────────────────────────
def test_coinbase_types_rejected_before_now_read() -> None:
    result = parse_export(load("coinbase_transactions_types.csv"))
    assert result.format == "coinbase_transactions"
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected), len(result.ignored)) == (16, 13, 1, 2)
    rows = by_line(result)
    incomes = {line: (r.asset, r.amount, r.income_kind) for line, r in rows.items() if r.record_type == "income"}
    assert incomes == {6: ("AMP", D("41.23"), "reward"), 7: ("USDC", D("0.512345"), "interest"),
                       8: ("USDC", D("0.034512"), "reward"), 9: ("SOL", D("0.01432"), "staking"),
                       10: ("XLM", D("5.2"), "reward"), 11: ("ATOM", D("0.0231"), "staking"),
                       17: ("USDC", D("2.99"), "reward")}
    # to Coinbase Pro and back: movements of this account (the Pro account's statement has the other side)
    assert [(rows[n].record_type, rows[n].asset, rows[n].amount) for n in (12, 13, 20)] == [
        ("withdrawal", "BTC", D("0.25")), ("deposit", "BTC", D("0.1")), ("withdrawal", "ETH", D("1"))]
    assert (rows[14].side, rows[14].quantity, rows[14].cost, rows[14].fee_amount) == (
        "buy", D("0.25"), D("595.00"), D("3.57"))
    assert (rows[15].side, rows[15].quantity, rows[15].cost) == ("sell", D("0.1"), D("242.00"))
    convert = rows[16]  # a quantity with a thousands separator in the notes
    assert (convert.base_asset, convert.quote_asset, convert.quantity, convert.cost) == (
        "ETH", "XLM", D("0.05"), D("1203.5"))
    assert _ignored(result) == {18: "'Retail Unstaking Transfer' moves SOL between the user's own Coinbase wallets",
                                19: "'Vault Withdrawal' moves BTC between the user's own Coinbase wallets"}
    assert reasons(result)[21].startswith("Transaction Type: 'Admin Debit' is not supported")


# ── Ledger Live: staking, NFT and account operations ─────────────────────────────────────────────────────
def test_ledger_live_staking_and_nft_operations() -> None:
    result = parse_export(load("ledger_live_staking.csv"))
    assert result.format == "ledger_live"
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected), len(result.ignored)) == (17, 13, 1, 3)
    rows = by_line(result)
    kinds = {line: (r.record_type, r.asset, r.amount) for line, r in rows.items()}
    assert kinds == {
        2: ("deposit", "DOT", D("120")),
        3: ("fee", "DOT", D("0.0158")), 4: ("fee", "DOT", D("0.0162")),  # BOND, NOMINATE: the fee only
        5: ("income", "DOT", D("0.3124")),  # REWARD_PAYOUT
        6: ("fee", "DOT", D("0.0159")), 7: ("fee", "DOT", D("0.0157")),  # UNBOND, WITHDRAW_UNBONDED
        8: ("fee", "ATOM", D("0.005")), 9: ("income", "ATOM", D("0.1875")),
        11: ("fee", "NEAR", D("0.0003")),  # STAKE of 25 NEAR: the staked coins stay the account's
        12: ("fee", "NEAR", D("0.0002")), 13: ("fee", "ALGO", D("0.001")),
        15: ("fee", "ETH", D("0.0021")),  # the gas of the NFT sent on line 16
        17: ("fee", "DOT", D("0.05")),  # SLASH: stake lost
    }
    assert rows[5].income_kind == "staking"
    assert _ignored(result) == {
        10: "UNDELEGATE without a fee changes no balance",
        14: "NFT_IN: NFTs are not in the ledger (the fee of an NFT sent is its FEES line)",
        16: "NFT_OUT: NFTs are not in the ledger (the fee of an NFT sent is its FEES line)"}
    assert reasons(result)[18].startswith("Operation Type: 'CREATE' is not supported")


# ── Binance's older trade history, deposit and withdrawal histories ─────────────────────────────────────
def test_binance_older_trade_history_with_a_market_column() -> None:
    result = parse_export(load("binance_trades_market.csv"))
    assert result.format == "binance_trades"
    assert_invariant(result)
    trades = [(r.base_asset, r.quote_asset, r.side, r.quantity, r.price, r.cost, r.fee_amount, r.fee_asset)
              for r in result.records]
    assert trades == [("BTC", "USDT", "buy", D("0.002"), D("56210.52"), D("112.42104"), D("0.000002"), "BTC"),
                      ("ETH", "BTC", "sell", D("0.5"), D("0.07412"), D("0.03706"), D("0.00002779"), "BNB"),
                      ("1INCH", "BUSD", "buy", D("25"), D("4.512"), D("112.8"), D("0.025"), "1INCH"),
                      ("DOGE", "EUR", "sell", D("1000"), D("0.4105"), D("410.5"), D("0.4105"), "EUR")]
    assert reasons(result)[6].startswith("Market: 'FOOBAR' does not end with a known quote asset")


def test_binance_deposit_and_withdrawal_histories() -> None:
    deposits = parse_export(load("binance_deposits.csv"))
    assert deposits.format == "binance_transfers"
    assert_invariant(deposits)
    assert [(r.record_type, r.occurred_at, r.asset, r.amount, r.fee_amount) for r in deposits.records] == [
        ("deposit", utc(2024, 2, 1, 9, 12, 44), "USDT", D("2500"), None),
        ("deposit", utc(2024, 2, 3, 14), "BTC", D("0.045"), None)]  # '24-02-03': Binance's two-digit year
    assert deposits.records[1].txid == "4b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
    assert _ignored(deposits) == {4: "status 'Rejected': the deposit did not complete"}
    withdrawals = parse_export(load("binance_withdrawals.csv"))
    assert_invariant(withdrawals)
    assert [(r.record_type, r.asset, r.amount, r.fee_amount, r.fee_asset) for r in withdrawals.records] == [
        ("withdrawal", "USDT", D("1000"), D("1"), "USDT"), ("withdrawal", "BTC", D("0.01"), D("0.0000071"), "BTC")]
    assert _ignored(withdrawals) == {4: "status 'Cancelled': the withdrawal did not complete"}
    assert reasons(withdrawals) == {5: "Fee: empty (a withdrawal history line states its fee)"}


# ── Coinbase Pro ──────────────────────────────────────────────────────────────────────────────────────────
def test_coinbase_pro_fills_total_includes_the_fee() -> None:
    result = parse_export(load("coinbase_pro_fills.csv"))
    assert result.format == "coinbase_pro_fills"
    assert_invariant(result)
    rows = by_line(result)
    buy = rows[2]  # total -0.00005534535 = -(0.001 × 0.05507 + 2.7535e-7)
    assert (buy.side, buy.base_asset, buy.quote_asset, buy.quantity, buy.price, buy.cost, buy.fee_amount,
            buy.fee_asset, buy.venue_record_id, buy.occurred_at) == (
        "buy", "SOL", "ETH", D("0.001"), D("0.05507"), D("0.00005507"), D("2.7535e-7"), "ETH", "SOL-ETH:123",
        utc(2021, 11, 6, 9, 33, 32, 618000))
    sell = rows[3]  # total 20452.321643292 = 20413.54 × 1.002 − 2.045436708
    assert (sell.side, sell.quantity, sell.cost, sell.fee_amount) == (
        "sell", D("20413.54"), D("20413.54") * D("1.002"), D("2.045436708"))
    assert rows[4].cost == D("5.41307455") * D("101.86")
    assert reasons(result) == {5: "side: 'HOLD' is not BUY or SELL"}


def test_coinbase_pro_account_statement_pairs_match_and_fee_lines() -> None:
    result = parse_export(load("coinbase_pro_account.csv"))
    assert result.format == "coinbase_pro_account"
    assert_invariant(result)
    rows = by_line(result)
    assert (rows[2].record_type, rows[2].asset, rows[2].amount) == ("deposit", "USD", D("5000"))
    buy = rows[3]
    assert (buy.lines, buy.side, buy.base_asset, buy.quote_asset, buy.quantity, buy.cost, buy.price, buy.fee_amount,
            buy.fee_asset) == ((3, 4, 5), "buy", "BTC", "USD", D("0.1"), D("4912.34"), D("49123.4"), D("24.5617"),
                               "USD")
    sell = rows[6]
    assert (sell.lines, sell.side, sell.quantity, sell.cost, sell.fee_amount) == (
        (6, 7, 8), "sell", D("0.04"), D("1950"), D("9.75"))
    assert (rows[9].record_type, rows[9].asset, rows[9].amount) == ("withdrawal", "BTC", D("0.06"))
    found = reasons(result)
    assert found[10].startswith("trade 9912/")  # a lone match line
    assert found[11].startswith("type: 'conversion' is not supported")


# ── Kraken trades.csv ─────────────────────────────────────────────────────────────────────────────────────
def test_kraken_trades_export() -> None:
    result = parse_export(load("kraken_trades.csv"))
    assert result.format == "kraken_trades"
    assert_invariant(result)
    trades = [(r.venue_record_id, r.base_asset, r.quote_asset, r.side, r.quantity, r.price, r.cost, r.fee_amount,
               r.fee_asset) for r in result.records]
    assert trades == [
        ("TQ4B2N-HXWJ7-3ZK5VA", "BTC", "USD", "buy", D("0.02"), D("61500.1"), D("1230.002"), D("1.968"), "USD"),
        ("TM2XQK-5TUVC-N7J3GE", "ETH", "EUR", "sell", D("0.5"), D("3210.5"), D("1605.25"), D("4.17365"), "EUR"),
        ("TGT7YS-4I5WE-LBQZ2N", "SOL", "USD", "buy", D("2"), D("145.2"), D("290.4"), D("0.4646"), "USD"),
        ("T7RLII-OJ5TE-XPBLK2", "BTC", "USDT", "sell", D("0.01"), D("64000"), D("640"), D("1.024"), "USDT"),
        # 0.2 ETH at 3520 = 704 USD, fee 0.16 % = 1.1264 USD (the row whose day, 18, tells a re-saved file's order)
        ("TC3D4E-5F6G7-H8I9J0", "ETH", "USD", "buy", D("0.2"), D("3520"), D("704"), D("1.1264"), "USD")]
    assert result.records[0].occurred_at == utc(2024, 3, 1, 10, 0, 0, 123400)
    assert result.records[-1].occurred_at == utc(2024, 3, 18, 21, 7, 44, 221000)
    assert _ignored(result) == {6: "derivatives: a margin trade (a leveraged position) is not in the spot ledger"}
    assert reasons(result) == {7: "type: 'hold' is not buy or sell"}


# ── HTX trade history ─────────────────────────────────────────────────────────────────────────────────────
def test_htx_trade_history_in_the_zone_it_was_exported_in() -> None:
    result = parse_export(load("htx_trades.csv"), default_timezone="Asia/Singapore")
    assert result.format == "htx_trades"
    assert_invariant(result)
    trades = [(r.occurred_at, r.base_asset, r.quote_asset, r.side, r.quantity, r.price, r.cost, r.fee_amount,
               r.fee_asset) for r in result.records]
    assert trades == [
        (utc(2023, 10, 3, 6, 29, 46), "SOL", "USDT", "sell", D("62.72"), D("24.14"), D("1514.0608"), D("3.0281216"),
         "USDT"),
        (utc(2023, 10, 3, 6, 30, 28), "DYDX", "USDT", "buy", D("550.3272"), D("2.0566"), D("1131.80291952"),
         D("1.1006544"), "DYDX"),
        (utc(2023, 10, 4, 1), "BTC", "USDT", "buy", D("0.01"), D("27500"), D("275"), None, None),  # fee in points
        # 08:15:02 in Singapore (UTC+8); 10 SOL × 21.5 = 215 USDT, the fee in the coin received
        (utc(2023, 10, 16, 0, 15, 2), "SOL", "USDT", "buy", D("10"), D("21.5"), D("215"), D("0.02"), "SOL")]
    assert _ignored(result) == {5: "derivatives: a margin account's fill is not in the spot ledger"}
    assert reasons(result) == {6: "symbol: 'ETHUSDT' is not BASE/QUOTE"}


def test_htx_trade_history_without_a_zone_is_refused_not_guessed() -> None:
    result = parse_export(load("htx_trades.csv"))
    assert result.records == [] and result.refused is not None
    assert "deal_time: '2023-10-03 14:29:46' has no time zone and HTX does not write one" in result.refused


# ── the fuzz, per new format ─────────────────────────────────────────────────────────────────────────────
NEW_SPECS: dict[str, dict[str, object]] = {
    "binance_statement": {"file": "binance_statement.csv", "row": 2, "time": 1, "type": 3, "number": 5, "asset": 4,
                          "time_format": "%Y-%m-%d %H:%M:%S"},
    "binance_transfers": {"file": "binance_withdrawals.csv", "row": 2, "time": 0, "type": 7, "number": 3, "asset": 1,
                          "time_format": "%Y-%m-%d %H:%M:%S"},
    "coinbase_pro_fills": {"file": "coinbase_pro_fills.csv", "row": 2, "time": 4, "type": 3, "number": 5, "asset": 6,
                           "time_format": "%Y-%m-%dT%H:%M:%S.000Z"},
    "coinbase_pro_account": {"file": "coinbase_pro_account.csv", "row": 2, "time": 2, "type": 1, "number": 3,
                             "asset": 5, "time_format": "%Y-%m-%dT%H:%M:%S.000Z"},
    "kraken_trades": {"file": "kraken_trades.csv", "row": 2, "time": 3, "type": 4, "number": 9, "asset": 2,
                      "time_format": "%Y-%m-%d %H:%M:%S"},
}


@pytest.mark.parametrize("fmt", list(NEW_SPECS))
def test_fuzz_malformed_rows_in_the_new_formats_are_rejected_never_raised(fmt: str) -> None:
    """200 malformed rows at random places: none raises, none becomes a record, none is silently dropped."""
    spec = NEW_SPECS[fmt]
    rng = random.Random(f"coinbook-fuzz-{fmt}")
    text = load(str(spec["file"])).removeprefix("\ufeff")
    base = parse_export(text, fmt)
    lines = text.replace("\r\n", "\n").split("\n")[:-1]
    template = next(csv.reader([lines[int(spec["row"]) - 1]]))  # type: ignore[call-overload]
    bad = [_malformed(rng, template, spec) for _ in range(200)]
    result = parse_export("\n".join(lines + bad) + "\n", fmt)
    assert_invariant(result)
    assert result.data_lines == base.data_lines + 200
    assert Counter(r.record_type for r in result.records) == Counter(r.record_type for r in base.records)
    assert len(result.rejected) + len(result.ignored) == len(base.rejected) + len(base.ignored) + 200


def test_every_new_format_is_registered_with_its_owner() -> None:
    for fmt in NEW_SPECS:
        assert fmt in FORMATS and fmt in OWNERS



# ── Binance statement: the newer header (User ID,Time,…), its time zone in the file name ─────────────────
NEWER = "Binance-Transaction-History-202410021135(UTC+7).csv"


def test_binance_statement_newer_header_reads_time_in_the_zone_the_file_name_states() -> None:
    result = parse_export(load(NEWER), file_name=NEWER)
    assert result.format == "binance_statement"
    assert_invariant(result)
    got = [(r.record_type, r.occurred_at, r.asset or r.base_asset, r.amount or r.quantity) for r in result.records]
    assert got == [  # 15:01:04 at UTC+7 is 08:01:04 UTC; '24-09-03' is 2024-09-03 (year first)
        ("deposit", utc(2024, 9, 3, 8, 1, 4), "USDT", D("2500.00000000")),
        ("trade", utc(2024, 9, 12, 2, 41, 17), "ETH", D("0.50000000")),
        ("income", utc(2024, 9, 12, 17, 0, 9), "USDT", D("0.01842311")),
        ("withdrawal", utc(2024, 10, 1, 1, 15, 2), "ETH", D("0.20000000"))]
    assert sorted(_ignored(result)) == [3, 4]  # Funding ↔ Spot: no holding changes
    # the same lines under the older header, in UTC, are the same records
    older = load(NEWER).replace("User ID,Time,", "User_ID,UTC_Time,")
    shifted = parse_export(older, default_timezone=None)
    assert [r.occurred_at for r in shifted.records] == [r.occurred_at + timedelta(hours=7) for r in result.records]


def test_binance_statement_newer_header_without_its_zone_is_refused_not_guessed() -> None:
    result = parse_export(load(NEWER), file_name="statement.csv")
    assert result.records == [] and result.refused is not None
    assert "in the time zone chosen when the statement was exported" in result.refused
    given = parse_export(load(NEWER), default_timezone="Asia/Bangkok", file_name="statement.csv")  # UTC+7 too
    assert [r.occurred_at for r in given.records] == [r.occurred_at for r in
                                                     parse_export(load(NEWER), file_name=NEWER).records]


@pytest.mark.parametrize(("name", "hours"), [
    ("Binance-Transaction-History-202604281735(UTC+2).csv", 2), ("x(UTC-5).csv", -5), ("x(UTC+5:30).csv", 5.5),
    ("x(UTC0).csv", 0), ("x(UTC+0)_abcd.csv", 0), ("plain.csv", None), ("x(UTC+19).csv", None)])
def test_binance_statement_zone_of_file_name(name: str, hours: float | None) -> None:
    from pipelines.sources.files.binance_statement import zone_of_file

    zone = zone_of_file(name)
    assert (None if zone is None else zone.utcoffset(None) / timedelta(hours=1)) == hours
