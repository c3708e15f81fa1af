"""The tick loader chains a (venue, day) by the digest it computes while copying (warehouse/ticks.py TickDigest):
it must be audit.tick_digest's (V029) to the byte, whatever the chunking, and what verify recomputes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from bench.bench_ticks import generate
from pipelines.services.audit import verify
from pipelines.services.prices import load_ticks
from pipelines.sources.prices.ticks import final_columns, iter_chunks, prepare_ticks
from tests.support import admin_warehouse
from warehouse import audit as store
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse
from warehouse.ticks import TickDigest

pytestmark = pytest.mark.integration
DAY_MS = 1_767_225_600_000  # bench_ticks' day: 2026-01-01


@pytest.fixture(scope="module")
def tick_world(cluster: LocalCluster) -> Iterator[Warehouse]:
    name = f"coinbook_ticks_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    yield Warehouse(cluster.url(name))
    cluster.drop_database(name)


def awkward(n: int) -> pa.Table:
    """bench_ticks' feed with the cases a text digest can get wrong: no size, a zero size, trailing zeros, ticks of
    one venue in the same millisecond (ordered by id), and hours with no tick."""
    raw = generate(n, seed=29)
    size = raw["size"].to_pylist()
    price = raw["price"].to_pylist()
    ms = np.asarray(raw["timestamp"].to_pylist(), dtype=np.int64)
    for i in range(0, n, 7):
        size[i] = None
    for i in range(3, n, 11):
        size[i] = "0.0000"
    for i in range(5, n, 13):
        price[i] = price[i] + "000"
    ms[ms < DAY_MS + 3 * 3_600_000] = DAY_MS + 4 * 3_600_000  # hours 0-3 empty; thousands of ticks in one ms
    return raw.set_column(raw.column_names.index("size"), "size", pa.array(size, pa.string())) \
              .set_column(raw.column_names.index("price"), "price", pa.array(price, pa.string())) \
              .set_column(raw.column_names.index("timestamp"), "timestamp", pa.array(ms.astype(str), pa.string()))


def server_digest(wh: Warehouse, venue: str, day: date) -> bytes:
    with wh.connect() as conn:
        return bytes(conn.execute("select audit.tick_digest('public', %s, %s)", (venue, day)).fetchone()[0])  # type: ignore[index]


def linked(wh: Warehouse, venue: str, day: date) -> list[bytes]:
    with wh.connect() as conn:
        return [bytes(h) for (h,) in conn.execute(
            "select record_hashes[1] from audit.chain where tenant_id = 'public' and table_name = 'raw.price_ticks' "
            "and record_keys[1] = %s order by seq", (f"{venue}/{day}",))]


def test_the_loader_digest_is_the_servers(tick_world: Warehouse) -> None:
    raw = awkward(30_000)
    load = load_ticks(tick_world.database_url, raw)
    assert load.inserted == raw.num_rows - load.duplicates and {g.path for g in load.groups} == {"new partition"}
    batch = prepare_ticks(raw)
    for group in batch.groups:
        on_server = server_digest(tick_world, group.source, group.day)
        assert linked(tick_world, group.source, group.day) == [on_server]  # the link the loader wrote
        for size in (1, 7, 4096, group.stop - group.start):  # chunks that cut hours, and none
            digest = TickDigest()
            for chunk in iter_chunks(batch.table, group.start, group.stop, size):
                digest.add(final_columns(chunk))
            assert digest.digest() == on_server, (group.source, size)
    (verdict,) = verify(tick_world, "public")
    assert verdict.intact, verdict.describe()


def test_a_merge_rechains_the_day_and_a_changed_price_shows(tick_world: Warehouse) -> None:
    raw = generate(6_000, seed=31)
    ms = np.asarray(raw["timestamp"].to_pylist(), dtype=np.int64) + 5 * 86_400_000  # days of its own
    raw = raw.set_column(raw.column_names.index("timestamp"), "timestamp", pa.array(ms.astype(str), pa.string()))
    first, second = raw.slice(0, 3_000), raw.slice(2_000)  # overlapping files
    load_ticks(tick_world.database_url, first)
    merged = load_ticks(tick_world.database_url, second)
    assert {g.path for g in merged.groups} == {"merge"} and merged.inserted == 3_000
    day = date(2026, 1, 6)
    links = linked(tick_world, "binance", day)
    assert len(links) == 2 and links[-1] == server_digest(tick_world, "binance", day)
    (verdict,) = verify(tick_world, "public")
    assert verdict.intact, verdict.describe()

    # a price changed in place, the payload and hash left alone: the typed column is in the digest
    with admin_warehouse(tick_world.database_url).connect() as conn:
        conn.execute("set session_replication_role = replica")
        # one tick (a ctid is per partition: the day's and venue's leaf named)
        conn.execute(f"update raw.price_ticks_{day:%Y%m%d}_kraken set price = price + 0.01 "  # type: ignore[arg-type]
                     f"where ctid = (select min(ctid) from raw.price_ticks_{day:%Y%m%d}_kraken)")
    with tick_world.connect() as conn:
        assert [m.record_key for m in store.tick_mismatches(conn, "public")] == [f"kraken/{day}"]


def test_ticks_out_of_order_are_refused() -> None:
    batch = prepare_ticks(generate(500, seed=3))
    group = batch.groups[0]
    rows = final_columns(batch.table.slice(group.start, group.stop - group.start))
    digest = TickDigest()
    with pytest.raises(ValueError, match="order"):
        digest.add(rows.take(pa.array(np.arange(rows.num_rows)[::-1])))


def one_hour(raw: pa.Table, venue: str, hour: int) -> pa.Table:
    ms = np.asarray(raw["timestamp"].to_pylist(), dtype=np.int64)
    keep = (np.asarray(raw["venue"].to_pylist()) == venue) & ((ms // 3_600_000) % 24 == hour)
    return raw.filter(pa.array(keep))


def hour_digests(wh: Warehouse, venue: str, day: date) -> dict[int, bytes]:
    with wh.connect() as conn:
        return {h: bytes(d) for h, d in conn.execute(
            "select hour, digest from audit.tick_hours where tenant_id = 'public' and source = %s and day = %s",
            (venue, day))}


def test_a_merge_digests_only_the_hours_it_adds_to(tick_world: Warehouse) -> None:
    def later(raw: pa.Table) -> pa.Table:  # 2026-01-10: a day of its own
        ms = np.asarray(raw["timestamp"].to_pylist(), dtype=np.int64) + 9 * 86_400_000
        return raw.set_column(raw.column_names.index("timestamp"), "timestamp", pa.array(ms.astype(str), pa.string()))

    day = date(2026, 1, 10)
    load_ticks(tick_world.database_url, later(generate(4_000, seed=37)))
    before = hour_digests(tick_world, "binance", day)
    assert len(before) == 24
    with admin_warehouse(tick_world.database_url).connect() as conn:  # hour 2 changed, with the triggers off
        conn.execute("set session_replication_role = replica")
        conn.execute(f"update raw.price_ticks_{day:%Y%m%d}_binance set price = price + 1 where ctid = "  # type: ignore[arg-type]
                     f"(select min(ctid) from raw.price_ticks_{day:%Y%m%d}_binance "
                     f"where extract(hour from observed_at at time zone 'UTC') = 2)")
        conn.execute("delete from audit.tick_hours where source = 'kraken' and day = %s", (day,))  # as before V029

    extra = later(generate(3_000, seed=38))
    merged = load_ticks(tick_world.database_url, pa.concat_tables([one_hour(extra, "binance", 10),
                                                                   one_hour(extra, "kraken", 11)]))
    assert {g.path for g in merged.groups} == {"merge"} and merged.inserted > 0
    after = hour_digests(tick_world, "binance", day)
    assert [h for h in range(24) if after[h] != before[h]] == [10]  # hour 2 not digested again
    # so the merge's link does not launder the earlier change into the chain: verify still finds the day
    assert linked(tick_world, "binance", day)[-1] != server_digest(tick_world, "binance", day)
    # a day without stored hours (loaded before V029) is digested whole, and its hours kept from then on
    assert linked(tick_world, "kraken", day)[-1] == server_digest(tick_world, "kraken", day)
    assert len(hour_digests(tick_world, "kraken", day)) == 24
    with tick_world.connect() as conn:
        assert f"binance/{day}" in [m.record_key for m in store.tick_mismatches(conn, "public")]
