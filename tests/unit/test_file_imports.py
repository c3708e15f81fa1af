"""CSV export parsers (pipelines/sources/files): exact values from realistic samples, rejects with reasons,
time zones, a fuzz of malformed rows in every format, whole-file refusals (mostly junk; another venue's export),
NUL bytes, what a rejected line keeps, and the sandbox's exports read back."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.sources.files import (
    FORMATS,
    OWNERS,
    SAMPLE_LINES,
    EmptyFile,
    FileRefused,
    ImportedRecord,
    ParseResult,
    UnknownFormat,
    check_owner,
    detect_format,
    kraken_asset,
    parse_export,
)
from pipelines.sources.files.records import (
    CELL_LIMIT,
    LINE_LIMIT,
    REASON_LIMIT,
    RowError,
    bounded_payload,
    find_header,
    parse_decimal,
    parse_money,
    split_lines,
)
from sandbox import coinbase as coinbase_api
from sandbox import kraken as kraken_api
from sandbox.exports import binance_trade_history_csv, coinbase_transactions_csv, kraken_ledgers_csv
from sandbox.world import START_MS, World

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"
D = Decimal


def load(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")  # as the caller reads it: BOM and CRLF kept


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def assert_invariant(result: ParseResult) -> None:
    """Every data line is in exactly one record, one reject or one ignored entry."""
    record_lines = [line for record in result.records for line in record.lines]
    assert len(record_lines) == len(set(record_lines)), "a line feeds two records"
    every = record_lines + [r.line for r in result.rejected] + [line for line, _ in result.ignored]
    assert len(every) == len(set(every)), "a line is in two places"
    assert len(every) == result.data_lines
    assert all(r.reason for r in result.rejected)
    assert not [r for r in result.rejected if r.reason.startswith("unexpected error")], "a parser bug"
    for record in result.records:
        assert record.occurred_at.tzinfo is not None and record.occurred_at.utcoffset() == timedelta(0)
        for value in (record.quantity, record.price, record.cost, record.amount, record.fee_amount):
            assert value is None or isinstance(value, Decimal)
        if record.record_type == "trade":
            assert record.quantity and record.quantity > 0 and record.cost and record.cost > 0
            assert record.price and record.price > 0 and record.side in ("buy", "sell")
        else:
            assert record.amount is not None and record.amount > 0
        assert record.fee_amount is None or record.fee_amount >= 0


def by_line(result: ParseResult) -> dict[int, ImportedRecord]:
    return {record.lines[0]: record for record in result.records}


def reasons(result: ParseResult) -> dict[int, str]:
    return {r.line: r.reason for r in result.rejected}


# ── Binance ──────────────────────────────────────────────────────────────────────────────────────────────
def test_binance_trade_history_with_unit_suffixes() -> None:
    text = load("binance_trades.csv")
    assert text.startswith("\ufeff") and "\r\n" in text  # as downloaded: BOM and CRLF
    result = parse_export(text)
    assert result.format == "binance_trades" == detect_format(text)
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected)) == (15, 11, 4)
    rows = by_line(result)
    first = rows[16]
    assert (first.record_type, first.occurred_at, first.base_asset, first.quote_asset, first.side) == (
        "trade", utc(2024, 3, 1, 10, 0, 0), "BTC", "USDT", "buy")
    assert (first.quantity, first.price, first.cost, first.fee_amount, first.fee_asset) == (
        D("0.001"), D("62000.01"), D("62.00001"), D("0.000001"), "BTC")
    assert first.venue_record_id is None and first.payload["Pair"] == "BTCUSDT"
    assert first.payload["Date(UTC)"] == "2024-03-01 10:00:00"
    sell = rows[2]
    assert (sell.side, sell.quantity, sell.cost, sell.fee_amount, sell.fee_asset) == (
        "sell", D("0.015"), D("1023.7575"), D("1.0237575"), "USDT")
    cross = rows[3]  # ETH/BTC with the fee paid in BNB
    assert (cross.base_asset, cross.quote_asset, cross.fee_asset, cross.fee_amount) == (
        "ETH", "BTC", "BNB", D("0.0001875"))
    inch = rows[5]  # an asset code starting with a digit, glued to the number
    assert (inch.base_asset, inch.quantity, inch.fee_asset, inch.fee_amount) == ("1INCH", D("500"), "1INCH", D("0.5"))
    assert reasons(result) == {
        9: "Side: 'HOLD' is not BUY or SELL",
        10: "Price: 'abc' is not a number",
        11: "Date(UTC): '2024-02-30 10:00:00' is not a valid date and time",
        12: "Executed/Amount: units of '1.000' and '120.50000000USDT' do not split Pair 'SOLUSDT' into base and "
            "quote (expected e.g. '0.001BTC' and '62.0USDT' for BTCUSDT)",
    }
    assert result.rejected[0].payload["Side"] == "HOLD"


def test_binance_legacy_columns() -> None:
    result = parse_export(load("binance_trades_legacy.csv"))
    assert result.format == "binance_trades"
    assert_invariant(result)
    rows = by_line(result)
    assert (rows[3].base_asset, rows[3].quote_asset, rows[3].side, rows[3].quantity, rows[3].price, rows[3].cost,
            rows[3].fee_amount, rows[3].fee_asset) == ("ETH", "BTC", "sell", D("1.5"), D("0.05432"), D("0.08148"),
                                                       D("0.00008148"), "BTC")
    assert rows[4].fee_asset == "BNB"
    assert reasons(result) == {6: "Amount: '-20' must be positive",
                               7: "Pair: 'ETHUSDT' is not Base Asset + Quote Asset ('ETH' + 'BTC')"}


def test_binance_header_names_its_time_zone() -> None:
    text = "Date(UTC+8),Pair,Side,Price,Executed,Amount,Fee\n2024-03-01 18:00:00,BTCUSDT,BUY,1,1BTC,1USDT,0BTC\n"
    result = parse_export(text)
    assert result.records[0].occurred_at == utc(2024, 3, 1, 10, 0, 0)


# ── Coinbase ─────────────────────────────────────────────────────────────────────────────────────────────
def test_coinbase_transaction_history() -> None:
    text = load("coinbase_transactions.csv")
    result = parse_export(text)
    assert result.format == "coinbase_transactions" == detect_format(text)
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected), len(result.ignored)) == (20, 14, 5, 1)
    rows = by_line(result)  # line numbers count the 4 preamble lines and the header
    buy = rows[6]
    assert (buy.record_type, buy.occurred_at, buy.base_asset, buy.quote_asset, buy.side, buy.quantity, buy.price,
            buy.cost, buy.fee_amount, buy.fee_asset, buy.venue_record_id) == (
        "trade", utc(2024, 3, 1, 10), "BTC", "USD", "buy", D("0.0016"), D("62000"), D("99.20"), D("1.49"), "USD",
        "65e1a0c4f3b2a1d0c9e8f7a6")
    assert buy.payload["Price at Transaction"] == "$62,000.00"
    sell = rows[8]  # negative quantity and subtotal: the direction is the type's
    assert (sell.side, sell.quantity, sell.price, sell.cost, sell.fee_amount) == (
        "sell", D("0.2"), D("3500"), D("700"), D("4.20"))
    send = rows[9]
    assert (send.record_type, send.asset, send.amount, send.txid) == ("withdrawal", "BTC", D("0.0005"), None)
    assert (rows[10].record_type, rows[10].asset, rows[10].amount) == ("deposit", "SOL", D("12.5"))
    assert (rows[11].record_type, rows[11].income_kind, rows[11].amount) == ("income", "staking", D("0.00123"))
    assert (rows[12].income_kind, rows[16].income_kind, rows[17].income_kind) == ("reward", "reward", "staking")
    convert = rows[13]
    assert (convert.record_type, convert.base_asset, convert.quote_asset, convert.side, convert.quantity,
            convert.cost, convert.price, convert.fee_amount) == (
        "trade", "ETH", "USDC", "sell", D("0.01"), D("30.50"), D("3050"), None)
    assert (rows[14].record_type, rows[14].asset, rows[14].amount) == ("deposit", "USD", D("5000"))
    assert (rows[15].record_type, rows[15].amount) == ("withdrawal", D("1000"))
    crypto_quote = rows[19]
    assert (crypto_quote.quote_asset, crypto_quote.cost, crypto_quote.fee_asset) == ("BTC", D("0.005432"), "BTC")
    assert result.ignored == [(20, "'Retail Staking Transfer' moves ETH between the user's own Coinbase wallets")]
    found = reasons(result)
    assert found[21] == "Price at Transaction: '$abc' is not an amount of money"
    assert found[22] == "Timestamp: '2024-03-16 10:00:00' has no time zone (Coinbase writes '… UTC' or '…Z')"
    assert found[23].startswith("Transaction Type: 'Margin Call' is not supported")
    assert found[24] == "Quantity Transacted: '-0.5' must be positive"
    assert found[25].startswith("Notes: 'Swapped some ETH' does not read 'Converted")


def test_coinbase_withdrawal_fee_is_inside_the_quantity_and_a_send_books_no_usd_fee() -> None:
    """Layout of Coinbase's current report (the fixture's header). A fiat Withdrawal's quantity is the whole
    debit: -100 USD with a 1.50 fee is 98.50 to the bank + 1.50 fee, 100 out in all (BittyTax's coinbase parser,
    src/bittytax/conv/parsers/coinbase.py, reads it so). A Send's Fees cell is in the price currency (USD), the
    value of a network fee paid in the coin: no USD fee is booked, the quantity is what left the wallet."""
    header = load("coinbase_transactions.csv").splitlines()[4]
    rows = ("w1,2024-04-02 09:00:00 UTC,Withdrawal,USD,-100,USD,$1.00,-$98.50,-$100.00,$1.50,"
            "Withdrawal to Chase Bank ****1234\n"
            "s1,2024-04-03 09:00:00 UTC,Send,ETH,-0.5,USD,\"$3,000.00\",\"-$1,497.00\",\"-$1,500.00\",$3.00,"
            "Sent 0.499 ETH to 0x9a1b2c3d4e5f60718293a4b5c6d7e8f901234567\n"
            "w2,2024-04-04 09:00:00 UTC,Withdrawal,USD,-1,USD,$1.00,$0.00,-$1.00,$2.00,fee above the debit\n")
    result = parse_export(header + "\n" + rows)
    withdrawal, send = result.records
    assert (withdrawal.record_type, withdrawal.asset, withdrawal.amount, withdrawal.fee_amount,
            withdrawal.fee_asset) == ("withdrawal", "USD", D("98.50"), D("1.50"), "USD")
    assert withdrawal.amount + withdrawal.fee_amount == D("100")
    assert (send.record_type, send.asset, send.amount, send.fee_amount, send.fee_asset) == (
        "withdrawal", "ETH", D("0.5"), None, None)
    assert send.payload["Fees and/or Spread"] == "$3.00"  # kept, never booked as a USD fee
    assert [r.reason for r in result.rejected] == [
        "Fees and/or Spread: 2.00 is more than the 1 withdrawn, fee included"]


def test_coinbase_older_report() -> None:
    result = parse_export(load("coinbase_transactions_legacy.csv"))
    assert result.format == "coinbase_transactions"
    assert_invariant(result)
    rows = by_line(result)
    assert (rows[6].occurred_at, rows[6].quantity, rows[6].price, rows[6].cost, rows[6].fee_amount,
            rows[6].venue_record_id) == (utc(2021, 3, 1, 10), D("0.01"), D("49000"), D("490"), D("7.35"), None)
    assert (rows[9].record_type, rows[9].amount, rows[10].amount) == ("withdrawal", D("0.5"), D("12.3456789"))
    assert reasons(result) == {11: "Price at Transaction: 'NaN' is not a finite number"}


def test_coinbase_crypto_quoted_fill_read_from_its_notes() -> None:
    header = load("coinbase_transactions.csv").splitlines()[4]
    row = ("x1,2024-03-13 13:00:00 UTC,Advanced Trade Buy,ETH,0.1,USD,\"$3,700.00\",$370.00,$372.22,$2.22,"
           "Bought 0.1 ETH for 0.005432 BTC on ETH-BTC at 0.05432 BTC/ETH")
    record = parse_export(header + "\n" + row + "\n").records[0]
    assert (record.base_asset, record.quote_asset, record.quantity, record.cost, record.price) == (
        "ETH", "BTC", D("0.1"), D("0.005432"), D("0.05432"))
    assert (record.fee_amount, record.fee_asset) == (D("2.22"), "USD")  # as the report states it


# ── Kraken ───────────────────────────────────────────────────────────────────────────────────────────────
def test_kraken_ledgers() -> None:
    text = load("kraken_ledgers.csv")
    result = parse_export(text)
    assert result.format == "kraken_ledgers" == detect_format(text)
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected), len(result.ignored)) == (25, 10, 7, 4)
    rows = by_line(result)
    trade = rows[5]  # two ledger lines, one trade
    assert (trade.lines, trade.record_type, trade.base_asset, trade.quote_asset, trade.side, trade.quantity,
            trade.cost, trade.price, trade.fee_amount, trade.fee_asset, trade.venue_record_id) == (
        (5, 6), "trade", "BTC", "USD", "buy", D("0.02"), D("1240"), D("62000"), D("3.224"), "USD",
        "TCWJDP-3Q6WX-BPLN3K")
    assert trade.occurred_at == datetime(2024, 3, 1, 10, 0, 0, 123400, tzinfo=UTC)
    assert [r["asset"] for r in trade.payload["rows"]] == ["XXBT", "ZUSD"]
    cross = rows[7]  # ETH sold for BTC: BTC is the quote
    assert (cross.base_asset, cross.quote_asset, cross.side, cross.quantity, cross.cost, cross.price,
            cross.fee_amount, cross.fee_asset) == ("ETH", "BTC", "sell", D("1.5"), D("0.0813"), D("0.0542"),
                                                   D("0.00021138"), "BTC")
    spend = rows[9]  # spend/receive pair ("Buy Crypto")
    assert (spend.lines, spend.base_asset, spend.quote_asset, spend.side, spend.quantity, spend.cost, spend.price,
            spend.fee_amount, spend.fee_asset) == ((9, 10), "SOL", "EUR", "buy", D("2"), D("250"), D("125"),
                                                   D("3.73"), "EUR")
    doge = rows[18]
    assert (doge.base_asset, doge.side, doge.quantity, doge.price, doge.fee_amount) == (
        "DOGE", "sell", D("1000"), D("0.15"), D("0.39"))
    assert doge.occurred_at == datetime(2024, 3, 9, 14, 45, 9, 500000, tzinfo=UTC)
    deposit = rows[2]
    assert (deposit.record_type, deposit.asset, deposit.amount, deposit.venue_record_id) == (
        "deposit", "USD", D("10000"), "FTJ4XB-7ONKQ-6MLOPC")
    withdrawal = rows[14]
    assert (withdrawal.record_type, withdrawal.asset, withdrawal.amount, withdrawal.fee_amount,
            withdrawal.fee_asset) == ("withdrawal", "BTC", D("0.01"), D("0.00015"), "BTC")
    assert (rows[13].record_type, rows[13].asset, rows[13].income_kind, rows[13].amount) == (
        "income", "DOT", "staking", D("0.1234"))
    assert (rows[17].record_type, rows[17].asset) == ("income", "ETH")
    assert [line for line, _ in result.ignored] == [11, 12, 15, 16]
    assert reasons(result) == {
        20: "trade leg without its counterpart (refid TORPHN-5JXBT-Q2ZKAD)",
        21: "amount: '12,5' is not a number",
        22: "time: '2024-13-01 00:00:00' is not a valid date and time",
        23: "type: 'margin' is not supported (known: trade, spend, receive, deposit, withdrawal, staking, earn, "
            "transfer)",
        24: "trade line whose counterpart (line 25) was rejected (refid TBRKEN-XXXXX-DDDDDD)",
        25: "amount: 'abc' is not a number",
        26: "amount: '-75.0000' is negative; a deposit must be positive",
    }


def test_kraken_older_export_without_wallet_and_legs_far_apart() -> None:
    text = ('"txid","refid","time","type","subtype","aclass","asset","amount","fee","balance"\n'
            '"L1","TAAAAA","2024-03-01 10:00:00","trade","","currency","XETH","0.5","0","0.5"\n'
            '"L2","FBBBBB","2024-03-01 10:00:01","deposit","","currency","USDT","100","0","100"\n'
            '"L3","TAAAAA","2024-03-01 10:00:00","trade","","currency","USDT","-1500","1.2","-1401.2"\n'
            '"L4","TCCCCC","2024-03-01 11:00:00","trade","","currency","XETH","0.1","0","0.6"\n'
            '"L5","TCCCCC","2024-03-01 11:00:00","trade","","currency","XETH","-0.1","0","0.5"\n')
    result = parse_export(text)
    assert_invariant(result)
    trade = by_line(result)[2]
    assert (trade.lines, trade.base_asset, trade.quote_asset, trade.side, trade.price, trade.fee_asset) == (
        (2, 4), "ETH", "USDT", "buy", D("3000"), "USDT")
    assert set(reasons(result)) == {5, 6}
    assert "one negative and one positive amount of different assets" in reasons(result)[5]


@pytest.mark.parametrize(("code", "unified"), [
    ("XXBT", "BTC"), ("XBT", "BTC"), ("XETH", "ETH"), ("ZUSD", "USD"), ("ZEUR", "EUR"), ("XXDG", "DOGE"),
    ("XDG", "DOGE"), ("USDT", "USDT"), ("XXRP", "XRP"), ("ZGBP", "GBP"), ("DOT.S", "DOT"), ("ETH2.S", "ETH2"),
    ("XBT.M", "BTC"), ("USDC.F", "USDC"), ("SOL.B", "SOL"), ("XTZ", "XTZ"), ("ZRX", "ZRX"), ("sol", "SOL"),
])
def test_kraken_asset_codes(code: str, unified: str) -> None:
    assert kraken_asset(code) == unified


# ── Ledger Live ──────────────────────────────────────────────────────────────────────────────────────────
def test_ledger_live_operations() -> None:
    text = load("ledger_live.csv")
    result = parse_export(text)
    assert result.format == "ledger_live" == detect_format(text)
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected), len(result.ignored)) == (17, 10, 4, 3)
    rows = by_line(result)
    incoming = rows[2]
    assert (incoming.record_type, incoming.asset, incoming.amount, incoming.fee_amount, incoming.txid) == (
        "deposit", "BTC", D("0.05"), None, "3a1b5c7d9e0f21436587a9cbedf0123456789abcdef0123456789abcdef01234")
    out = rows[3]  # Operation Amount 0.0101 includes the 0.0001 fee
    assert (out.record_type, out.amount, out.fee_amount, out.fee_asset, out.occurred_at) == (
        "withdrawal", D("0.01"), D("0.0001"), "BTC", utc(2024, 2, 1, 12))
    assert (rows[5].record_type, rows[5].amount) == ("fee", D("0.0021"))
    assert (rows[6].record_type, rows[6].amount) == ("fee", D("0.0031"))  # failed, but its gas was paid
    assert (rows[7].record_type, rows[7].asset, rows[7].amount) == ("fee", "ATOM", D("0.005"))
    assert (rows[8].record_type, rows[8].income_kind, rows[8].amount, rows[8].fee_amount) == (
        "income", "staking", D("0.123456"), D("0.004"))
    assert (rows[10].occurred_at, rows[10].amount) == (utc(2024, 3, 1, 8), D("0.02"))  # +02:00 → UTC
    assert (rows[12].record_type, rows[12].income_kind) == ("income", "staking")
    assert (rows[13].record_type, rows[13].asset, rows[13].amount) == ("fee", "ALGO", D("0.001"))
    assert result.ignored == [(9, "DELEGATE without a fee changes no balance"),
                              (11, "status 'Pending': the operation did not take effect"),
                              (16, "NFT_IN: NFTs are not in the ledger (the fee of an NFT sent is its FEES line)")]
    found = reasons(result)
    assert found[14] == ("Operation Amount: 0.00005 is less than its Operation Fees 0.0001 "
                         "(an OUT's amount includes its fee)")
    assert found[15] == ("Operation Date: '2024-03-06 10:00:00' has no time zone (Ledger Live writes ISO 8601 "
                         "with 'Z')")
    assert found[17] == "Operation Amount: '1.2.3' is not a number"
    assert found[18] == "Operation Amount: '0' must be positive"


def test_ledger_live_older_export_without_status() -> None:
    text = ("Operation Date,Currency Ticker,Operation Type,Operation Amount,Operation Fees,Operation Hash,"
            "Account Name,Account xpub,Countervalue Ticker,Countervalue at Operation Date,"
            "Countervalue at CSV Export\n"
            "2023-05-01T08:00:00.000Z,ETH,OUT,0.2105,0.0105,0xabc,Ethereum 1,0x71C7,USD,380.00,400.00\n")
    result = parse_export(text)
    assert result.format == "ledger_live"
    record = result.records[0]
    assert (record.record_type, record.amount, record.fee_amount, record.txid) == (
        "withdrawal", D("0.2"), D("0.0105"), "0xabc")


# ── generic template and time zones ──────────────────────────────────────────────────────────────────────
def test_generic_template() -> None:
    text = load("generic.csv")
    result = parse_export(text)
    assert result.format == "generic" == detect_format(text)
    assert_invariant(result)
    assert (result.data_lines, len(result.records), len(result.rejected)) == (16, 9, 7)
    rows = by_line(result)
    assert (rows[2].side, rows[2].quantity, rows[2].cost, rows[2].price, rows[2].fee_amount, rows[2].fee_asset,
            rows[2].venue_record_id) == ("buy", D("0.5"), D("28000"), D("56000"), D("14"), "EUR", "OTC-0001")
    assert str(rows[2].price) == "56000"
    sell = rows[3]  # +02:00 converted to UTC
    assert (sell.occurred_at, sell.side, sell.price, sell.payload["note"]) == (
        utc(2024, 3, 1, 10), "sell", D("3500.25"), "sold on a DEX, gas paid separately")
    assert (rows[4].record_type, rows[4].txid) == (
        "deposit", "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16")
    assert (rows[5].occurred_at, rows[5].fee_amount) == (utc(2024, 3, 3, 14, 30), D("1"))
    assert [rows[n].income_kind for n in (6, 7, 9)] == ["staking", "other", "airdrop"]
    assert (rows[8].record_type, rows[8].occurred_at) == ("fee", datetime(2024, 3, 6, 0, 0, 0, 250000, tzinfo=UTC))
    assert (rows[10].base_asset, rows[10].quote_asset) == ("SOL", "USDT")
    assert reasons(result) == {
        11: "timestamp '2024-03-08 10:00:00' has no time zone (add an offset or pass --timezone)",
        12: "type: 'swap' is not one of buy, sell, deposit, withdrawal, income, fee (income may be income:<kind>)",
        13: "quote_asset: empty (an asset code is required)",
        14: "quote_asset: must be empty for a deposit (only buy and sell have a quote side)",
        15: "type: income kind 'lottery' is not one of staking, interest, airdrop, reward, other",
        16: "base_quantity: '0.1234567890123456789' has more than 18 decimals",
        17: "fee_quantity: '-0.001' must not be negative",
    }


def test_naive_times_with_a_default_time_zone_across_daylight_saving() -> None:
    text = ("timestamp,type,base_asset,base_quantity\n"
            "2024-03-09 12:00:00,deposit,BTC,1\n"  # EST, UTC-5
            "2024-03-11 12:00:00,deposit,BTC,1\n"  # EDT, UTC-4
            "2024-03-10 02:30:00,deposit,BTC,1\n"  # skipped when clocks went forward
            "2024-11-03 01:30:00,deposit,BTC,1\n"  # happened twice when they went back
            "2024-11-03T01:30:00-04:00,deposit,BTC,1\n")  # an explicit offset wins
    assert [r.line for r in parse_export(text).rejected] == [2, 3, 4, 5]
    result = parse_export(text, default_timezone="America/New_York")
    assert_invariant(result)
    assert [r.occurred_at for r in result.records] == [utc(2024, 3, 9, 17), utc(2024, 3, 11, 16),
                                                        utc(2024, 11, 3, 5, 30)]
    assert reasons(result)[4].endswith("does not exist in America/New_York (clocks were put forward); add an offset")
    assert "happened twice in America/New_York" in reasons(result)[5]
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_export(text, default_timezone="Mars/Olympus")


def test_dates_outside_the_crypto_era_are_rejected() -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = ("timestamp,type,base_asset,base_quantity\n2009-01-02T23:59:59Z,deposit,BTC,1\n"
            f"{future},deposit,BTC,1\n2009-01-03T00:00:00Z,deposit,BTC,1\n")
    result = parse_export(text)
    assert [r.lines for r in result.records] == [(4,)]
    assert "before 2009-01-03" in reasons(result)[2] and "in the future" in reasons(result)[3]


def test_headers_are_matched_loosely() -> None:
    text = ('\ufeff"TIMESTAMP", Type ,BASE_ASSET , base_quantity ,Note\r\n'
            '2024-03-01T10:00:00Z , DEPOSIT? ,BTC,1,x\r\n'
            '"2024-03-01T10:00:00Z",deposit, btc ," 1.5 ",\r\n\r\n'
            ',,,,\r\n'
            'timestamp,type,base_asset,base_quantity,note\r\n')
    result = parse_export(text)
    assert_invariant(result)
    assert result.data_lines == 3 and [r.line for r in result.rejected] == [2]
    assert (result.records[0].asset, result.records[0].amount) == ("BTC", D("1.5"))
    assert result.ignored == [(6, "repeated header line")]


@pytest.mark.parametrize(("text", "column", "kwargs", "expected"), [
    ("1" * 20 + ".5", "x", {}, D("1" * 20 + ".5")),
    ("0." + "1" * 18, "x", {}, D("0." + "1" * 18)),
    ("1.50000000000000000000000", "x", {}, D("1.5")),  # trailing zeros are not precision
    ("1e-8", "x", {}, D("0.00000001")),
    ("1,234.5", "x", {"thousands": True}, D("1234.5")),
])
def test_decimal_limits_accepted(text: str, column: str, kwargs: dict[str, bool], expected: Decimal) -> None:
    assert parse_decimal(text, column, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [
    ("1" * 21, "more than 20 integer digits"), ("0." + "1" * 19, "more than 18 decimals"),
    ("NaN", "not a finite number"), ("-Infinity", "not a finite number"), ("1e40", "more than 20 integer"),
    ("-1", "must be positive"), ("0", "must be positive (it is zero)"), ("1,234.5", "not a number"),
    ("", "empty"), ("0x10", "not a number"),
])
def test_decimal_limits_rejected(text: str, message: str) -> None:
    with pytest.raises(RowError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_decimal(text, "Qty")


def test_money_cells() -> None:
    assert parse_money("$62,000.00", "p") == D("62000")
    assert parse_money("-$1.50", "p") == D("-1.5")
    assert parse_money("€3.10", "p") == D("3.1")
    for bad in ("$1,00.0", "--$1", "$", "USD 5"):
        with pytest.raises(RowError):
            parse_money(bad, "p")


# ── detection ────────────────────────────────────────────────────────────────────────────────────────────
def test_unknown_and_empty_files() -> None:
    with pytest.raises(UnknownFormat) as info:
        detect_format("Date,Description,Amount\n2024-01-01,Coffee,3.50\n")
    assert all(name in str(info.value) for name in FORMATS)
    with pytest.raises(EmptyFile):
        parse_export("\ufeff\r\n  \n")
    with pytest.raises(UnknownFormat, match="no kraken_ledgers header"):
        parse_export(load("generic.csv"), "kraken_ledgers")
    with pytest.raises(UnknownFormat, match="unknown format 'excel'"):
        parse_export(load("generic.csv"), "excel")
    header_only = parse_export(load("generic.csv").splitlines()[0])
    assert (header_only.data_lines, header_only.records, header_only.rejected) == (0, [], [])


# ── fuzz: malformed rows injected into valid files of every format ───────────────────────────────────────
# Per format: the sample file, a valid row used as the template, and which cell is the time, the type,
# a number that must be positive, and an asset; plus how the format writes a time.
FUZZ_SPECS: dict[str, dict[str, object]] = {
    "binance_trades": {"file": "binance_trades.csv", "row": 16, "time": 0, "type": 2, "number": 3, "asset": 1,
                       "time_format": "%Y-%m-%d %H:%M:%S"},
    "coinbase_transactions": {"file": "coinbase_transactions.csv", "row": 6, "time": 1, "type": 2, "number": 4,
                              "asset": 3, "time_format": "%Y-%m-%d %H:%M:%S UTC"},
    "kraken_ledgers": {"file": "kraken_ledgers.csv", "row": 2, "time": 2, "type": 3, "number": 8, "asset": 6,
                       "time_format": "%Y-%m-%d %H:%M:%S"},
    "ledger_live": {"file": "ledger_live.csv", "row": 2, "time": 0, "type": 3, "number": 4, "asset": 2,
                    "time_format": "%Y-%m-%dT%H:%M:%S.000Z"},
    "generic": {"file": "generic.csv", "row": 2, "time": 0, "type": 1, "number": 3, "asset": 2,
                "time_format": "%Y-%m-%dT%H:%M:%SZ"},
}
JUNK_ALPHABET = [chr(c) for c in range(1, 256) if chr(c) not in "\r\n"]


def _join(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _malformed(rng: random.Random, template: list[str], spec: dict[str, object]) -> str:
    cells = list(template)
    time, kind, number, asset = (int(spec[k]) for k in ("time", "type", "number", "asset"))  # type: ignore[call-overload]
    mutation = rng.choice(["bad_number", "not_finite", "huge", "decimals", "negative", "missing", "extra",
                           "unknown_type", "bad_date", "old_or_future", "quote", "junk", "asset"])
    if mutation == "bad_number":
        cells[number] = rng.choice(["abc", "12..3", "1,2,3", "--5", "0x1F", "1e", ".", "5-", "½", "1 000", ""])
    elif mutation == "not_finite":
        cells[number] = rng.choice(["NaN", "nan", "Infinity", "-inf", "sNaN", "+Infinity", "inf"])
    elif mutation == "huge":
        cells[number] = "9" * rng.randint(21, 40) + rng.choice(["", ".5"])
    elif mutation == "decimals":
        cells[number] = "0." + "".join(rng.choice("123456789") for _ in range(rng.randint(19, 30)))
    elif mutation == "negative":
        cells[number] = "-" + cells[number]
    elif mutation == "missing":
        cells = cells[:rng.randint(1, len(cells) - 1)]
    elif mutation == "extra":
        cells += ["junk"] * rng.randint(1, 3)
    elif mutation == "unknown_type":
        cells[kind] = rng.choice(["FOO", "bought", "Margin", "x", "??", "airdropped"])
    elif mutation == "bad_date":
        cells[time] = rng.choice(["2024-13-45 25:61:00", "yesterday", "", "2024/03/01 10:00:00", "01.03.2024 10:00",
                                  "2024-02-30T10:00:00Z", "2024-03-01T10:00:00+25:00", "2024-03-01"])
    elif mutation == "old_or_future":
        year = rng.choice([1990, 2005, 2099])
        cells[time] = datetime(year, rng.randint(1, 12), rng.randint(1, 28), 12, 0, 0).strftime(
            str(spec["time_format"]))
    elif mutation == "quote":  # a quote opened and never closed
        i = rng.randrange(len(cells))
        cells[i] = '"' + cells[i]
        return ",".join(cells)
    elif mutation == "junk":
        return "".join(rng.choice(JUNK_ALPHABET) for _ in range(rng.randint(3, 80))) + "\x00\xff#"
    else:
        cells[asset] = rng.choice(["", "B@D", "???", "$$$", "BTC USD", "ÉTH", "<script>"])
    return _join(cells)


@pytest.mark.parametrize("fmt", list(FUZZ_SPECS))
def test_fuzz_malformed_rows_never_raise_and_are_all_rejected(fmt: str) -> None:
    spec = FUZZ_SPECS[fmt]
    rng = random.Random(f"coinbook-fuzz-{fmt}")
    base_text = load(str(spec["file"])).removeprefix("\ufeff")
    base = parse_export(base_text, fmt)
    lines = base_text.replace("\r\n", "\n").split("\n")[:-1]
    header_line = next(i for i, line in enumerate(lines, 1) if FORMATS[fmt][0](
        tuple(" ".join(c.strip().lower().split()) for c in next(csv.reader([line]), []))))
    template = next(csv.reader([lines[int(spec["row"]) - 1]]))  # type: ignore[call-overload]
    # 200 malformed rows (5 formats → 1,000) and some blank lines, at random places after the header
    out = lines[:header_line]
    body: list[tuple[str, bool]] = [(line, False) for line in lines[header_line:]]
    for _ in range(200):
        body.insert(rng.randint(0, len(body)), (_malformed(rng, template, spec), True))
    for _ in range(15):
        body.insert(rng.randint(0, len(body)), (rng.choice(["", "   ", "\t"]), False))
    bad_lines = {len(out) + i + 1 for i, (_, bad) in enumerate(body) if bad}
    text = "\n".join(out + [line for line, _ in body]) + "\n"

    result = parse_export(text, fmt)
    assert_invariant(result)
    rejected = reasons(result)
    missed = sorted(bad_lines - set(rejected))
    assert not missed, [(n, text.split("\n")[n - 1]) for n in missed[:5]]
    assert len(result.records) == len(base.records)  # the good rows are untouched
    assert len(result.rejected) == len(base.rejected) + 200
    assert result.data_lines == base.data_lines + 200
    assert all(rejected[n].strip() for n in bad_lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.text(max_size=400), fmt=st.sampled_from(list(FUZZ_SPECS)))
def test_random_text_after_a_header_never_raises(body: str, fmt: str) -> None:
    header = next(line for line in load(str(FUZZ_SPECS[fmt]["file"])).removeprefix("\ufeff").splitlines()
                  if line and FORMATS[fmt][0](tuple(" ".join(c.strip().lower().split())
                                                   for c in next(csv.reader([line]), []))))
    result = parse_export(header + "\n" + body, fmt)
    assert_invariant(result)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300), fmt=st.sampled_from([None, *FUZZ_SPECS]))
def test_random_text_is_a_result_or_an_unknown_format(text: str, fmt: str | None) -> None:
    try:
        result = parse_export(text, fmt)
    except UnknownFormat:
        return
    assert_invariant(result)


# ── NUL bytes, whole-file refusals, what a rejected line keeps ──────────────────────────────────────────────
GENERIC_HEADER = load("generic.csv").removeprefix("\ufeff").splitlines()[0]


def _good_generic(n: int) -> list[str]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [f"{(start + timedelta(hours=i)).isoformat()},buy,SOL,{i + 1},USDT,{150 * (i + 1)},,,,," for i in range(n)]


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("fmt", list(FUZZ_SPECS))
def test_a_nul_byte_rejects_its_line_and_every_other_line_reads(fmt: str) -> None:
    """A NUL in one cell (binary data pasted in, a file half overwritten) rejects that line with a reason naming the
    column; the file's other lines read as without it; no reason or kept cell holds a NUL (PostgreSQL refuses
    it in text and jsonb)."""
    spec = FUZZ_SPECS[fmt]
    base_text = load(str(spec["file"])).removeprefix("\ufeff").replace("\r\n", "\n")
    base = parse_export(base_text, fmt)
    lines = base_text.split("\n")[:-1]
    cells = next(csv.reader([lines[int(spec["row"]) - 1]]))  # type: ignore[call-overload]
    asset = int(spec["asset"])  # type: ignore[call-overload]
    cells[asset] = cells[asset][:1] + "\x00" + cells[asset][1:]
    text = "\n".join([*lines, _join(cells)]) + "\n"

    result = parse_export(text, fmt)
    assert_invariant(result)
    assert result.refused is None and len(result.records) == len(base.records)
    (nul,) = [r for r in result.rejected if r.line == len(lines) + 1]
    header = find_header(split_lines(text), FORMATS[fmt][0])
    assert header is not None
    column = header.names[asset]
    assert nul.reason.startswith(f"{column}: contains a NUL byte")
    assert nul.payload[column] == cells[asset].replace("\x00", "\\x00")  # shown where it was, not stored
    assert not [s for r in result.rejected for s in (r.reason, *_strings(r.payload)) if "\x00" in s]


def test_a_nul_byte_in_a_free_text_cell_is_rejected_too() -> None:
    """A cell no rule checks (the generic template's record_id, txid, note) would carry the NUL into a text
    column of raw.file_records: its line is rejected like any other."""
    text = "\n".join([GENERIC_HEADER, *_good_generic(3),
                      "2024-02-01T00:00:00Z,buy,SOL,1,USDT,150,,,otc\x00-7,,",
                      "2024-02-01T00:00:00Z,buy,SOL,1,USDT,150,,,,,gift \x00\x00"]) + "\n"
    result = parse_export(text)
    assert [(r.line, r.reason.split(":")[0]) for r in result.rejected] == [(5, "record_id"), (6, "note")]
    assert len(result.records) == 3 and result.refused is None


def test_a_file_of_junk_is_refused_after_reading_a_sample() -> None:
    """Megabytes of junk after a valid header: reading stops after SAMPLE_LINES data lines, and the file is
    refused with one line saying what was expected and the first reasons (the issue: 50 MB read to the end,
    every line quarantined)."""
    rng = random.Random("coinbook-junk")
    unique = ["".join(rng.choice(JUNK_ALPHABET) for _ in range(rng.randint(40, 120))) for _ in range(300)]
    text = GENERIC_HEADER + "\n" + "\n".join(unique[i % len(unique)] for i in range(40_000)) + "\n"
    assert len(text) > 3_000_000

    result = parse_export(text)
    assert result.refused is not None and not result.complete
    assert result.data_lines == SAMPLE_LINES  # read no further than the sample
    assert result.records == [] and len(result.rejected) == SAMPLE_LINES
    assert result.refused.startswith(f"refused, nothing imported: {SAMPLE_LINES} of the first {SAMPLE_LINES} data "
                                     "lines are not valid generic rows (expected Coinbook generic template: "
                                     "timestamp,type,base_asset")
    assert "First reasons: line 2: " in result.refused and "; line 4: " in result.refused
    assert len(result.refused) < 1_500 and not any(c in result.refused for c in "\x00\r\n")


@pytest.mark.parametrize(("good", "bad", "refused"), [(600, 700, True), (600, 500, False), (9, 9, False),
                                                     (1, 2, True)])
def test_a_file_is_refused_when_most_of_it_fails(good: int, bad: int, refused: bool) -> None:
    """Judged on the sample while reading and on the whole file: good lines first and more junk after them is
    refused too; up to half of the lines failing is a file with bad lines, imported with its rejects."""
    text = "\n".join([GENERIC_HEADER, *_good_generic(good), *(["2024-01-01T00:00:00Z,buy,SOL,-1,USDT,1,,,,,"] * bad)])
    result = parse_export(text)
    assert result.complete and result.data_lines == good + bad  # the sample was fine, so all of it was read
    assert (result.refused is not None) is refused
    assert len(result.records) == good and len(result.rejected) == bad
    if refused:
        assert result.refused.startswith(f"refused, nothing imported: {bad} of {good + bad} data lines")
        assert f"line {good + 2}: base_quantity: '-1' must be positive" in result.refused


def test_a_rejected_line_keeps_bounded_cells_and_a_printable_reason() -> None:
    huge = "X" * 50_000
    text = "\n".join([GENERIC_HEADER, *_good_generic(3),
                      f"2024-02-01T00:00:00Z,buy,{huge},1,USDT,150,,,,,",  # one huge cell
                      ",".join(["Y" * 2_000] * 30),  # a line of the wrong width: kept as its text, cut
                      '2024-02-01T00:00:00Z,buy,"B\rTC",1,USDT,150,,,,,']) + "\n"  # a CR inside a quoted cell
    result = parse_export(text)
    huge_cell, wide, carriage = result.rejected
    assert huge_cell.truncated and len(huge_cell.payload["base_asset"]) < CELL_LIMIT + 40
    assert huge_cell.payload["base_asset"].endswith("… (cut, 50,000 characters)")
    assert len(huge_cell.reason) < REASON_LIMIT + 40 and huge_cell.reason.startswith("base_asset: 'XXX")
    assert wide.truncated and list(wide.payload) == ["text"] and len(wide.payload["text"]) < LINE_LIMIT + 40
    assert not carriage.truncated and carriage.reason == "base_asset: 'B\\x0dTC' is not an asset code"

    many, cut = bounded_payload({f"c{i}": "z" * 900 for i in range(30)})
    assert cut and sum(len(v) for v in many.values()) <= LINE_LIMIT + CELL_LIMIT
    assert many["…"] == f"{30 - (len(many) - 1)} more cells left out"
    assert bounded_payload({"a": "b"}) == ({"a": "b"}, False)


# ── whose export a format is ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(("fmt", "kind", "venue", "accepted"), [
    ("kraken_ledgers", "exchange", "kraken", True),
    ("kraken_ledgers", "exchange", "binance", False),
    ("binance_trades", "exchange", "binance", True),
    ("binance_trades", "wallet", "bitcoin", False),
    ("coinbase_transactions", "exchange", "coinbase", True),
    ("coinbase_transactions", "exchange", "kraken", False),
    ("ledger_live", "wallet", "bitcoin", True),
    ("ledger_live", "wallet", "ethereum", True),
    ("ledger_live", "exchange", "htx", False),
    ("ledger_live", "defi", "ethereum", False),
    ("generic", "exchange", "htx", True),
    ("generic", "wallet", "bitcoin", True),
    ("generic", "defi", "ethereum", True),
])
def test_a_venues_export_goes_only_into_an_account_of_that_venue(fmt: str, kind: str, venue: str,
                                                                  accepted: bool) -> None:
    if accepted:
        check_owner(fmt, "acct", kind, venue)
        return
    with pytest.raises(FileRefused) as info:
        check_owner(fmt, "acct", kind, venue)
    owner_kind, venues = OWNERS[fmt]
    message = str(info.value)
    assert message.startswith(f"{fmt} is the export of ")
    assert f"but 'acct' is {'an' if kind == 'exchange' else 'a'} {kind} account on {venue}" in message
    assert all(v in message for v in venues or ()) and owner_kind in message and "generic template" in message


def test_every_format_but_the_generic_template_has_an_owner() -> None:
    assert set(OWNERS) == set(FORMATS) - {"generic"}


# ── the sandbox's exports, read back ─────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)


def _seconds(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC)


EXPORTS: dict[str, tuple[Callable[..., str], str, Callable[[int], datetime]]] = {
    # venue: (exporter, format, the file's time resolution: Binance and Coinbase whole seconds)
    "binance": (binance_trade_history_csv, "binance_trades", _seconds),
    "kraken": (kraken_ledgers_csv, "kraken_ledgers", _ms_time),
    "coinbase": (coinbase_transactions_csv, "coinbase_transactions", _seconds),
}


def test_sandbox_exports_read_back(world: World) -> None:
    start, end = START_MS + 60 * 86_400_000, START_MS + 330 * 86_400_000
    checked: Counter[str] = Counter()
    for account_id, account in world.accounts.items():
        if account.venue not in EXPORTS:
            continue
        exporter, fmt, file_time = EXPORTS[account.venue]
        result = parse_export(exporter(world, account_id, start, end))
        assert result.format == fmt
        assert_invariant(result)
        assert result.rejected == [] and result.ignored == []
        trades = [t for t in world.trades[account_id] if start <= t.time_ms <= end]
        transfers = [t for t in world.transfers[account_id] if t.status == "ok" and start <= t.time_ms <= end]
        parsed = [r for r in result.records if r.record_type == "trade"]
        assert len(parsed) == len(trades) > 50
        markets = [world.market_of(t) for t in trades]
        # every trade, exactly: time, pair, side, quantity, price, cost, fee
        assert Counter(
            (file_time(t.time_ms), m.base, m.quote, "buy" if t.is_buyer else "sell", t.qty, t.price, t.quote_qty,
             t.commission, t.commission_asset) for t, m in zip(trades, markets, strict=True)
        ) == Counter((r.occurred_at, r.base_asset, r.quote_asset, r.side, r.quantity, r.price, r.cost,
                      r.fee_amount, r.fee_asset) for r in parsed)
        kinds = Counter(r.record_type for r in result.records if r.record_type != "trade")
        checked[account.venue] += 1
        if account.venue == "binance":  # the trade history file has trades only
            assert kinds == Counter()
            continue
        assert kinds == Counter(t.kind for t in transfers) and kinds["deposit"] > 0 and kinds["withdrawal"] > 0
        ids = {r.venue_record_id: r for r in result.records}
        sample = trades[len(trades) // 3]
        if account.venue == "kraken":  # refids are the API's ids: TradesHistory keys, DepositStatus refids
            record = ids[kraken_api._txid("T", sample.id)]
            for tr in transfers:
                moved = ids[kraken_api.transfer_json(tr)["refid"]]
                assert (moved.record_type, moved.asset, moved.amount, moved.fee_amount) == (
                    tr.kind, tr.coin, tr.amount, tr.fee)
        else:  # Coinbase: the fill's trade_id, the v2 transaction id
            record = ids[str(sample.id)]
            for tr in transfers:
                moved = ids[coinbase_api._uuid("tx", tr.id)]
                # the quantity is the whole debit: a fiat withdrawal's fee is in it and read out (fee in USD);
                # a Send's network fee is in the coin and not in the file (its Fees cell is its USD value)
                fiat = tr.coin == "USD" and tr.kind == "withdrawal"
                expected = tr.amount if fiat or tr.kind == "deposit" else tr.amount + tr.fee
                assert (moved.record_type, moved.asset, moved.amount, moved.fee_amount) == (
                    tr.kind, tr.coin, expected, tr.fee if fiat else None)
        assert (record.side, record.quantity, record.price, record.cost) == (
            "buy" if sample.is_buyer else "sell", sample.qty, sample.price, sample.quote_qty)
    assert checked == Counter({"binance": 3, "kraken": 1, "coinbase": 1})
