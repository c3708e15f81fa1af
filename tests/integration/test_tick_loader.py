"""Price ticks against the real PostgreSQL: exactly-once loads on every path, bad ticks quarantined with their
reasons, prices exact to the last digit, partitions attached where they belong."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from bench.bench_ticks import generate
from pipelines.services.prices import load_ticks
from pipelines.sources.prices.ticks import canonical_decimal, read_tick_file, record_hash

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


def shifted(raw: pa.Table, days: int) -> pa.Table:
    """The same ticks `days` later (each test works on days of its own in the shared session database)."""
    ms = np.asarray(raw["timestamp"].to_pylist(), dtype=np.int64) + days * DAY_MS
    return raw.set_column(raw.column_names.index("timestamp"), "timestamp", pa.array(ms.astype(str), pa.string()))


def count(url: str, query: str, *params: object) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(query, params).fetchone()[0])  # type: ignore[index]


def test_reload_is_exactly_once(database_url: str) -> None:
    raw = shifted(generate(20_000, seed=11), days=10)
    first = load_ticks(database_url, raw, run_id="r1")
    assert first.inserted == 20_000 and first.duplicates == 0 and first.quarantined == 0
    assert {g.path for g in first.groups} == {"new partition"} and len(first.groups) == 5
    again = load_ticks(database_url, raw)
    assert again.inserted == 0 and again.duplicates == 20_000
    assert {g.path for g in again.groups} == {"identical re-load"}
    row_by_row = load_ticks(database_url, raw, trust_digest=False)  # the digest ignored: the key still holds
    assert row_by_row.inserted == 0 and {g.path for g in row_by_row.groups} == {"merge"}
    day = "2026-01-11"
    assert count(database_url, "select count(*) from raw.price_ticks where observed_at >= %s::date "
                 "and observed_at < %s::date + 1", day, day) == 20_000
    assert count(database_url, "select count(*) from raw.price_ticks where run_id = 'r1'") == 20_000

    # An overlapping file: half already loaded, half new → only the new half lands (merge into the partitions).
    more = shifted(generate(20_000, seed=12), days=10)
    overlap = pa.concat_tables([raw.slice(0, 10_000), more.slice(0, 10_000)])
    merged = load_ticks(database_url, overlap)
    assert merged.inserted == 10_000 and merged.duplicates == 10_000
    assert count(database_url, "select count(*) from raw.price_ticks where observed_at >= %s::date "
                 "and observed_at < %s::date + 1", day, day) == 30_000
    assert count(database_url, "select count(*) from ops.tick_loads where day = %s::date", day) == 20


def test_partitions_by_day_and_venue(database_url: str) -> None:
    raw = shifted(generate(2_000, seed=13), days=20)
    load_ticks(database_url, raw)
    with psycopg.connect(database_url) as conn:
        leaves = conn.execute(
            """select c.relname, p.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
               join pg_class p on p.oid = i.inhparent where p.relname = 'price_ticks_20260121'
               order by 1""").fetchall()
        assert [leaf for leaf, _ in leaves] == [f"price_ticks_20260121_{v}" for v in
                                                sorted(["binance", "coinbase", "kraken", "bitfinex", "htx"])]
        # Every leaf carries the parent's primary key: duplicates are refused on any path, even a hand-made one.
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into raw.price_ticks select * from raw.price_ticks_20260121_kraken limit 1")


def test_bad_ticks_are_quarantined_with_reasons(database_url: str) -> None:
    good = shifted(generate(1_000, seed=14), days=30)
    bad = pa.table({
        "venue": ["binance", "binance", "binance", "kraken", "binance"],
        "symbol": ["BTC/USDT", "", "BTC/USDT", "XBT/EUR", "ETH/USDT"],
        "timestamp": [str(1_769_817_600_000), str(1_769_817_600_000), "not a time", str(1_769_817_600_000),
                      str(1_769_817_600_000)],
        "price": ["0", "1", "1", "-5.5", "abc"],
        "size": ["1", "1", "1", "1", "1"],
        "tick_id": ["q1", "q2", "q3", "q4", "q5"],
    })
    raw = pa.concat_tables([good, bad])
    result = load_ticks(database_url, raw)
    assert result.inserted == 1_000 and result.quarantined == 5 and result.quarantined_new == 5 and result.balanced
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """select source_record_id, check_name, reason, payload->'tick'->>'price' from ops.quarantine
               where raw_table = 'raw.price_ticks' and tenant_id = 'public' and account_id = 'public'
                 and (source_record_id like '%%:q_' or source_record_id like 'row-sha256:%%')
               order by check_name""").fetchall()
    by_check = {check: (srid, reason, price) for srid, check, reason, price in rows}
    assert by_check["tick:price_positive"][0] in {"BTC/USDT:q1", "XBT/EUR:q4"}
    assert {r[1] for r in rows} == {"tick:price_positive", "tick:symbol_present", "tick:time_parsable",
                                    "tick:price_parsable"}
    reasons = {reason for _, _, reason, _ in rows}
    assert {"non-positive price '0'", "non-positive price '-5.5'", "missing symbol",
            "unparsable time 'not a time'"} <= reasons
    assert count(database_url, "select count(*) from raw.price_ticks where source_record_id like '%%:q_'") == 0
    # the loader prepares venue by venue: a reject still says where it sits in the file
    with psycopg.connect(database_url) as conn:
        positions = dict(conn.execute(
            "select source_record_id, (payload->>'row')::int from ops.quarantine "
            "where raw_table = 'raw.price_ticks' and source_record_id in ('BTC/USDT:q1', 'XBT/EUR:q4', "
            "'BTC/USDT:q3', 'ETH/USDT:q5')").fetchall())
    assert positions == {"BTC/USDT:q1": 1_000, "BTC/USDT:q3": 1_002, "XBT/EUR:q4": 1_003, "ETH/USDT:q5": 1_004}
    again = load_ticks(database_url, raw)  # quarantined once, not once per load
    assert again.quarantined == 5 and again.quarantined_new == 0 and again.inserted == 0


def test_prices_and_hashes_are_exact(database_url: str, tmp_path) -> None:
    csv = tmp_path / "ticks.csv"
    csv.write_text("venue,symbol,timestamp,price,size,tick_id\n"
                   "binance,SHIB/USDT,2026-03-01T12:00:00.123456Z,0.000012345678,1000000.5,1\n"
                   "kraken,BTC/EUR,1772366400000,99999999999999999999.999999999999999999,,2\n"
                   "coinbase,ETH/USD,1772366400001,3100.10,0.000000000000000001,3\n")
    result = load_ticks(database_url, read_tick_file(csv))
    assert result.inserted == 3
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """select source, symbol, payload, price, size, record_hash,
                      (extract(epoch from observed_at) * 1000000)::bigint, source_record_id
               from raw.price_ticks where observed_at >= '2026-03-01' and observed_at < '2026-03-02'
               order by source""").fetchall()
    prices = {r[0]: r[3] for r in rows}
    assert prices["binance"] == Decimal("0.000012345678")
    assert str(prices["binance"].normalize()) == "0.000012345678"
    assert prices["kraken"] == Decimal("99999999999999999999.999999999999999999")
    assert {r[0]: r[4] for r in rows} == {"binance": Decimal("1000000.5"), "kraken": None,
                                          "coinbase": Decimal("0.000000000000000001")}
    for source, symbol, _payload, price, size, hashed, observed_us, srid in rows:
        canon_size = None if size is None else canonical_decimal(str(size))
        assert hashed == record_hash(source, symbol, srid.split(":", 1)[1], observed_us, canonical_decimal(str(price)),
                                     canon_size)
    assert rows[0][6] == 1_772_366_400_123_456  # microseconds kept
    assert '"0.000012345678"' in rows[0][2]  # the delivered text, in the payload


def test_tick_inbox_sensor_and_asset_load_each_file_once(database_url: str, tmp_path: Path) -> None:
    """A file dropped into the tick inbox: the sensor asks for one run per file (keyed by its sha256), the
    Dagster run loads it and moves it to loaded/; an unusable file moves to failed/ with the reason."""
    import dagster as dg
    import pyarrow.csv as pcsv

    from pipelines.defs.common import WarehouseResource
    from pipelines.defs.prices.assets import raw_price_ticks
    from pipelines.defs.prices.sensors import tick_inbox_sensor
    from tests.support import settings_for

    inbox = tmp_path / "tick-inbox"
    inbox.mkdir()
    sensor = tick_inbox_sensor(settings_for(database_url, tick_inbox=inbox))
    pcsv.write_csv(shifted(generate(3_000, seed=21), days=40), inbox / "ticks-day.csv")
    (inbox / "broken.csv").write_text("")
    (inbox / "notes.md").write_text("not a tick file")

    with dg.instance_for_test() as instance:
        requests = sensor(dg.build_sensor_context(instance=instance)).run_requests
        assert sorted(r.run_config["ops"]["raw_price_ticks"]["config"]["path"] for r in requests) == [
            str(inbox / "broken.csv"), str(inbox / "ticks-day.csv")]
        assert all(r.run_key.startswith("ticks:") and len(r.run_key) == 6 + 64 for r in requests)
        outcomes = {}
        for request in requests:
            result = dg.materialize([raw_price_ticks], instance=instance, run_config=request.run_config,
                                    resources={"warehouse": WarehouseResource(database_url=database_url)},
                                    raise_on_error=False)
            outcomes[Path(request.run_config["ops"]["raw_price_ticks"]["config"]["path"]).name] = result

    loaded = outcomes["ticks-day.csv"]
    assert loaded.success
    metadata = loaded.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rows_in"].value == metadata["inserted"].value == 3_000
    assert count(database_url, "select count(*) from raw.price_ticks where observed_at >= '2026-02-10' "
                 "and observed_at < '2026-02-11'") == 3_000
    assert not outcomes["broken.csv"].success
    assert sorted(p.name.split("-", 1)[1] for p in (inbox / "loaded").iterdir()) == ["ticks-day.csv"]
    reasons = [p for p in (inbox / "failed").iterdir() if p.name.endswith(".reason.txt")]
    assert len(reasons) == 1 and "header" in reasons[0].read_text()
    assert [p.name for p in inbox.iterdir() if p.is_file()] == ["notes.md"]  # only what is not a tick file
    with dg.instance_for_test() as instance:
        assert sensor(dg.build_sensor_context(instance=instance)).run_requests == []
