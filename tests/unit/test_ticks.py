"""Price ticks, pure part: the column-wise parse/validate/hash agrees with the per-row references, bad ticks
are rejected with the check that failed, duplicates within a batch are dropped, the order is canonical."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.sources.prices.ticks import (
    _decimals,
    _sha256_hex,
    canonical_decimal,
    final_columns,
    group_digest,
    parse_time,
    prepare_ticks,
    record_hash,
    split_symbol,
)

MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


def ticks(**columns: list) -> pa.Table:
    base = {"venue": ["binance"], "symbol": ["BTC/USDT"], "timestamp": [str(MS)], "price": ["87000.5"],
            "size": ["0.25"], "tick_id": ["1"]}
    n = max(len(v) for v in columns.values()) if columns else 1
    data = {k: (columns.get(k) or v * n) for k, v in base.items()}
    return pa.table({k: pa.array(v, pa.string()) for k, v in data.items()})


@pytest.mark.parametrize(("text", "expected"), [
    ("1.50", "1.5"), ("100", "100"), ("100.000", "100"), ("0.000012345678", "0.000012345678"), ("1e-5", "0.00001"),
    ("+2.0", "2"), ("007.50", "7.5"), ("-3", "-3"), ("0.00", "0"), ("1" * 20, "1" * 20),
    ("1" * 21, None), ("12345678901234567890.123456789012345678",) * 2,
    ("0." + "0" * 17 + "1", "0." + "0" * 17 + "1"), ("0." + "0" * 18 + "1", None),
    ("abc", None), ("NaN", None), ("Infinity", None), ("", None),
])
def test_canonical_decimal(text: str, expected: str | None) -> None:
    assert canonical_decimal(text) == expected


@given(st.decimals(min_value=Decimal("-1e19"), max_value=Decimal("1e19"), places=None, allow_nan=False,
                   allow_infinity=False).filter(lambda d: d.as_tuple().exponent >= -18))
@settings(max_examples=300, deadline=None)
def test_vectorised_decimals_equal_reference(value: Decimal) -> None:
    texts = [format(value, "f"), str(value), format(value, "f") + "000" if "." in format(value, "f") else str(value)]
    canon, sign, valid = _decimals(pa.array(texts, pa.string()))
    for text, got, s, ok in zip(texts, canon.to_pylist(), sign.tolist(), valid.tolist(), strict=True):
        exact = canonical_decimal(text)
        assert ok == (exact is not None), text
        if exact is not None:
            assert got == exact.lstrip("-"), text
            assert Decimal(got) == value.copy_abs() and s == (value > 0) - (value < 0), text


def test_times_epoch_ms_and_iso() -> None:
    raw = ticks(timestamp=[str(MS), "2026-01-01T00:00:00.123Z", "2026-01-01T01:00:00.123+01:00",
                           "2026-01-01 00:00:00.123", "2026-01-01T00:00:00.123456789Z"],
                tick_id=["1", "2", "3", "4", "5"])
    batch = prepare_ticks(raw)
    assert not batch.rejects
    assert set(batch.table["observed_us"].to_pylist()) == {MS * 1000, MS * 1000 + 456}
    assert parse_time("2026-01-01T00:00:00.123456789Z") == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)


def test_integer_time_column() -> None:
    raw = ticks().set_column(2, "timestamp", pa.array([MS], pa.int64()))
    assert prepare_ticks(raw).table["observed_us"].to_pylist() == [MS * 1000]


def test_bad_ticks_are_rejected_with_their_check() -> None:
    raw = ticks(
        venue=["binance", "", "Bin Ance", "binance", "binance", "binance", "binance", "binance", "binance",
               "binance", "binance", "binance"],
        symbol=["BTC/USDT", "BTC/USDT", "BTC/USDT", "", "BTCUSDT", "BTC/USDT", "BTC/USDT", "BTC/USDT", "BTC/USDT",
                "BTC/USDT", "BTC/USDT", "BTC/USDT"],
        timestamp=[str(MS)] * 6 + ["yesterday", "1767225600", str(MS), str(MS), str(MS), str(MS)],
        price=["1"] * 8 + ["-1", "0", "abc", "1"],
        size=["1"] * 11 + ["-0.5"],
        tick_id=["1", "2", "3", "4", "5", "", "7", "8", "9", "10", "11", "12"],
    )
    batch = prepare_ticks(raw)
    checks = {r.row: r.check_name for r in batch.rejects}
    assert checks == {1: "tick:venue_present", 2: "tick:venue_id", 3: "tick:symbol_present",
                      4: "tick:symbol_pair", 5: "tick:tick_id_present", 6: "tick:time_parsable",
                      7: "tick:time_in_range", 8: "tick:price_positive", 9: "tick:price_positive",
                      10: "tick:price_parsable", 11: "tick:size_non_negative"}
    assert batch.table.num_rows == 1
    assert batch.rows_in == batch.table.num_rows + len(batch.rejects) + batch.in_batch_duplicates
    reasons = {r.row: r.reason for r in batch.rejects}
    assert reasons[8] == "non-positive price '-1'" and "'yesterday'" in reasons[6]
    assert batch.rejects[0].payload["price"] == "1"  # the tick as delivered goes with it
    no_id = next(r for r in batch.rejects if r.row == 5)
    assert no_id.source_record_id.startswith("row-sha256:")  # stable identity for the quarantine


def test_default_source_fills_only_empty_venues() -> None:
    batch = prepare_ticks(ticks(venue=["", "kraken"], tick_id=["1", "2"]), default_source="binance")
    assert sorted(batch.table["source"].to_pylist()) == ["binance", "kraken"]
    with pytest.raises(ValueError, match="--source"):
        prepare_ticks(ticks().drop_columns(["venue"]))


def test_missing_column_is_an_error_not_a_quarantine() -> None:
    with pytest.raises(ValueError, match="price"):
        prepare_ticks(ticks().drop_columns(["price"]))


def test_duplicates_within_a_batch_and_order() -> None:
    rng = random.Random(1)
    rows = [(v, f"{s}/USDT", str(MS + rng.randrange(3)), str(i % 50)) for i in range(400)
            for v, s in [(rng.choice(["kraken", "binance"]), rng.choice(["BTC", "ETH"]))]]
    raw = ticks(venue=[r[0] for r in rows], symbol=[r[1] for r in rows], timestamp=[r[2] for r in rows],
                tick_id=[r[3] for r in rows])
    batch = prepare_ticks(raw)
    keys = list(zip(batch.table["source"].to_pylist(), batch.table["observed_us"].to_pylist(),
                    batch.table["source_record_id"].to_pylist(), strict=True))
    assert keys == sorted(set(keys))  # unique, and in (source, time, id) order within the day
    assert batch.in_batch_duplicates == len(rows) - len(set((r[0], r[2], f"{r[1]}:{r[3]}") for r in rows))
    assert [(g.source, g.day) for g in batch.groups] == [("binance", date(2026, 1, 1)), ("kraken", date(2026, 1, 1))]
    shuffled = raw.take(pa.array(rng.sample(range(raw.num_rows), raw.num_rows)))
    again = prepare_ticks(shuffled)  # same ticks in another order: same rows, same digests
    assert again.table.equals(batch.table)
    assert [group_digest(again.table.slice(g.start, g.rows)) for g in again.groups] == \
        [group_digest(batch.table.slice(g.start, g.rows)) for g in batch.groups]


def test_record_hash_vectorised_equals_reference() -> None:
    raw = ticks(venue=["binance", "kraken", "htx"], symbol=["BTC/USDT", "XBT/EUR", "ETH/BTC"],
                price=["87000.50", "0.000012345678", "1e-3"], size=["0.25", "", "3"], tick_id=["1", "2", "é"])
    batch = prepare_ticks(raw)
    final = final_columns(batch.table)
    for row, hashed in zip(batch.table.to_pylist(), final["record_hash"].to_pylist(), strict=True):
        assert hashed == record_hash(row["source"], row["symbol"], row["tick_id"], row["observed_us"], row["price"],
                                     row["size"])
    texts = pa.array(["", "a", "x" * 1000, "ü"])
    assert _sha256_hex(texts).to_pylist() == [hashlib.sha256(t.encode()).hexdigest() for t in texts.to_pylist()]
    assert final["observed_at"][0].as_py().endswith("+00")


def test_payload_is_the_tick_as_delivered() -> None:
    raw = ticks(venue=["binance", "binance"], price=["87000.50", "1"], size=["", "2"], tick_id=['a"b\\c', "2"])
    batch = prepare_ticks(raw)
    payloads = [json.loads(p) for p in batch.table["payload"].to_pylist()]
    assert ["binance", "BTC/USDT", str(MS), "87000.50", "", 'a"b\\c'] in payloads
    assert batch.table["price"].to_pylist()[payloads.index(["binance", "BTC/USDT", str(MS), "87000.50", "",
                                                            'a"b\\c'])] == "87000.5"
    nulls = prepare_ticks(ticks().set_column(4, "size", pa.nulls(1, pa.string())))
    assert json.loads(nulls.table["payload"][0].as_py())[4] is None


def test_split_symbol() -> None:
    assert split_symbol("BTC/USDT") == ("BTC", "USDT")
    assert split_symbol("BTC/USDT:USDT") == ("BTC", "USDT")
    assert split_symbol("BTCUSDT") is None and split_symbol("/USDT") is None
