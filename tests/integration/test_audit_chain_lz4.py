"""V043: the audit chain's link arrays are compressed with lz4 (storage only). A database chained before V043 (its
links pglz-compressed) takes the migration and keeps verifying; links written after it are lz4; verify still finds,
with table and key, an UPDATE of only the payload, of only a numeric column, of only record_hash, of the price of
a historical trade, a deleted row, in either kind of link, and links swapped."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pipelines.services.audit import verify
from tests.integration.test_chain_lists import migrate_until
from tests.support import admin_warehouse
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse
from warehouse.loader import copy_insert

pytestmark = pytest.mark.integration
TENANT = "acme"
PAGE = 2_000  # a link's keys and hashes then are ~70 kB each: well past the 2 kB where PostgreSQL compresses
COLUMNS = ("tenant_id", "account_id", "source", "source_record_id", "occurred_at", "symbol", "base_asset",
           "quote_asset", "side", "price", "quantity", "cost", "fee_amount", "fee_asset", "order_id", "is_maker",
           "payload", "record_hash")


def _trades(first: int, n: int) -> list[tuple[Any, ...]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(first, first + n):
        payload = {"id": str(i), "symbol": "BTC/USDT", "price": "60000.5", "amount": "0.01",
                   "fee": {"cost": "0.6", "currency": "USDT"}, "timestamp": 1767225600000 + i * 1000}
        rows.append((TENANT, "acme-binance", "binance", f"BTC/USDT:{i}", start + timedelta(seconds=i), "BTC/USDT",
                     "BTC", "USDT", "buy" if i % 2 else "sell", Decimal("60000.5"), Decimal("0.01"),
                     Decimal("600.005"), Decimal("0.6"), "USDT", str(i // 3), bool(i % 3), Jsonb(payload),
                     hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()))
    return rows


def _key(i: int) -> str:
    return f"acme-binance/binance/BTC/USDT:{i}"


def _compression(wh: Warehouse) -> list[tuple[int, str | None, str | None]]:
    """Each link's keys' and hashes' compression (None: stored as is — pglz leaves the random hashes uncompressed,
    lz4 still gains a little on the array's element headers)."""
    with wh.connect() as conn:
        return conn.execute("""select seq, pg_column_compression(record_keys), pg_column_compression(record_hashes)
                                 from audit.chain where tenant_id = %s order by seq""", (TENANT,)).fetchall()


@pytest.fixture(scope="module")
def chained(cluster: LocalCluster) -> Iterator[Warehouse]:
    """A page chained as the warehouse stood before V043, then V043, then a page chained after it."""
    name = f"coinbook_lz4_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    try:
        migrate_until(cluster, name, 43)
        wh = Warehouse(cluster.url(name))
        with wh.connect() as conn:
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (TENANT, TENANT))
            assert copy_insert(conn, "raw.binance_trades", COLUMNS, _trades(0, PAGE)) == PAGE
        assert "V043__audit_chain_lz4" in cluster.migrate(name)
        with wh.connect() as conn:
            assert copy_insert(conn, "raw.binance_trades", COLUMNS, _trades(PAGE, PAGE)) == PAGE
        yield wh
    finally:
        cluster.drop_database(name)


def test_links_before_v043_stay_pglz_and_later_ones_are_lz4(chained: Warehouse) -> None:
    assert _compression(chained) == [(1, "pglz", None), (2, "lz4", "lz4")]
    (verdict,) = verify(chained, TENANT)
    assert verdict.intact and verdict.links_checked == 2, verdict.describe()


def test_verify_finds_each_change_in_either_kind_of_link(chained: Warehouse) -> None:
    changes = {  # row → the change, made by the superuser with the triggers off
        5: "payload = payload || '{\"note\": \"changed\"}'",  # only the payload (link 1, pglz)
        2500: "quantity = quantity + 0.000000000000000001",  # only a numeric column, by its last digit (link 2)
        10: "record_hash = repeat('0', 64)",  # only record_hash (link 1)
        3000: "price = 0, cost = 1",  # a historical trade's price (link 2, lz4)
    }
    deleted = 1500  # link 1
    admin = admin_warehouse(chained.database_url)
    with psycopg.connect(admin.database_url) as conn:
        conn.execute("set session_replication_role = replica")
        for i, change in changes.items():
            assert conn.execute(f"update raw.binance_trades set {change} where tenant_id = %s "  # type: ignore[arg-type]
                                "and source_record_id = %s", (TENANT, f"BTC/USDT:{i}")).rowcount == 1
        conn.execute("delete from raw.binance_trades where tenant_id = %s and source_record_id = %s",
                     (TENANT, f"BTC/USDT:{deleted}"))
    (verdict,) = verify(chained, TENANT)
    assert not verdict.intact and verdict.broken_link is None  # the links hold; the records do not
    found = {(m.table_name, m.record_key, m.seq, m.problem) for m in verdict.records}
    changed = {("raw.binance_trades", _key(i), 1 if i < PAGE else 2, "changed after its link recorded it")
               for i in changes}
    assert found == changed | {("raw.binance_trades", _key(deleted), 1, "missing: deleted outside the chain")}


def test_verify_finds_swapped_links(chained: Warehouse) -> None:
    admin = admin_warehouse(chained.database_url)
    swap = ["update audit.chain set seq = seq + 1000 where tenant_id = 'acme' and seq in (1, 2)",
            "update audit.chain set seq = case seq when 1001 then 2 else 1 end where tenant_id = 'acme' and seq > 1000"]
    with psycopg.connect(admin.database_url) as conn:
        for statement in swap:
            conn.execute(statement)  # type: ignore[arg-type]
    (verdict,) = verify(chained, TENANT)
    assert verdict.broken_link is not None and verdict.broken_link.seq == 1
    assert "previous hash" in verdict.broken_link.reason
    assert _compression(chained) == [(1, "lz4", "lz4"), (2, "pglz", None)]  # the arrays moved, not rewritten
