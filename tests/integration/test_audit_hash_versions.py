"""V047: row hash version 2. A database chained before V047 (its links hash_version 1) takes the migration and keeps
verifying; links written after it are hash_version 2; verify hashes each record by the version of the link that last
recorded it, finds a change in either kind of link with its table and key, and a link whose version was changed
(its hash covers it); a column added later, NULL in the old rows, changes no hash of either version."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pipelines.services.audit import verify
from tests.integration.test_audit_chain_lz4 import COLUMNS, TENANT, _key, _trades
from tests.integration.test_chain_lists import migrate_until
from tests.support import admin_warehouse
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse
from warehouse.loader import copy_insert

pytestmark = pytest.mark.integration
PAGE = 50


@pytest.fixture()
def chained(cluster: LocalCluster) -> Iterator[Warehouse]:
    """Two pages chained as the warehouse stood before V047 (links 1, 2), then V047, then two pages (links 3, 4)."""
    name = f"coinbook_hashv_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    try:
        migrate_until(cluster, name, 47)
        wh = Warehouse(cluster.url(name))
        with wh.connect() as conn:
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (TENANT, TENANT))
        for first in (0, PAGE):
            with wh.connect() as conn:
                assert copy_insert(conn, "raw.binance_trades", COLUMNS, _trades(first, PAGE)) == PAGE
        assert "V047__audit_row_hash_v2" in cluster.migrate(name)
        for first in (2 * PAGE, 3 * PAGE):
            with wh.connect() as conn:
                assert copy_insert(conn, "raw.binance_trades", COLUMNS, _trades(first, PAGE)) == PAGE
        yield wh
    finally:
        cluster.drop_database(name)


def _versions(wh: Warehouse) -> list[tuple[int, int]]:
    with wh.connect() as conn:
        return conn.execute("select seq, hash_version from audit.chain where tenant_id = %s order by seq",
                            (TENANT,)).fetchall()


def _as_superuser(wh: Warehouse, *statements: str) -> None:
    with psycopg.connect(admin_warehouse(wh.database_url).database_url) as conn:
        conn.execute("set session_replication_role = replica")  # the triggers off, as someone holding the server
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def test_links_before_v047_keep_version_1_and_both_verify(chained: Warehouse) -> None:
    assert _versions(chained) == [(1, 1), (2, 1), (3, 2), (4, 2)]
    (verdict,) = verify(chained, TENANT)
    assert verdict.intact and verdict.links_checked == 4, verdict.describe()
    with chained.connect() as conn:  # a column added later: NULL in every row so far, in either kind of link
        conn.execute("alter table raw.binance_trades add column venue_note text")
    (verdict,) = verify(chained, TENANT)
    assert verdict.intact, verdict.describe()


def test_verify_finds_a_change_in_either_version(chained: Warehouse) -> None:
    changes = {  # row → the change; rows 0-99 were chained by version-1 links, 100-199 by version-2 ones
        5: "payload = payload || '{\"note\": \"changed\"}'",
        120: "payload = payload || '{\"note\": \"changed\"}'",
        60: "quantity = quantity + 0.000000000000000001",
        170: "quantity = quantity + 0.000000000000000001",
        199: "occurred_at = occurred_at + interval '1 microsecond'",
    }
    _as_superuser(chained, *(f"update raw.binance_trades set {change} where source_record_id = 'BTC/USDT:{i}'"
                             for i, change in changes.items()))
    (verdict,) = verify(chained, TENANT)
    assert not verdict.intact and verdict.broken_link is None
    assert {(m.record_key, m.seq, m.problem) for m in verdict.records} == \
        {(_key(i), 1 + i // PAGE, "changed after its link recorded it") for i in changes}


def test_a_row_rechained_by_a_version_2_link_verifies_by_version_2(chained: Warehouse) -> None:
    """A record's latest link decides: a row of a version-1 link deleted through the maintenance path, then loaded
    again, is version 2's; a change to it after that is found."""
    from warehouse import audit as store

    admin = admin_warehouse(chained.database_url)
    assert store.maintain(admin, "re-load one fill", "delete from raw.binance_trades "
                                                    "where source_record_id = 'BTC/USDT:7'") == 1
    with chained.connect() as conn:
        assert copy_insert(conn, "raw.binance_trades", COLUMNS, _trades(7, 1)) == 1
    assert _versions(chained)[-2:] == [(5, 2), (6, 2)]
    (verdict,) = verify(chained, TENANT)
    assert verdict.intact, verdict.describe()
    _as_superuser(chained, "update raw.binance_trades set price = 1 where source_record_id = 'BTC/USDT:7'")
    (verdict,) = verify(chained, TENANT)
    assert [(m.record_key, m.seq) for m in verdict.records] == [(_key(7), 6)]


def test_a_links_version_changed_breaks_its_hash(chained: Warehouse) -> None:
    """Changing a link's version (so that its rows would be hashed by the other definition) breaks the link."""
    with psycopg.connect(admin_warehouse(chained.database_url).database_url) as conn:
        conn.execute("update audit.chain set hash_version = 1 where tenant_id = %s and seq = 3", (TENANT,))
    (verdict,) = verify(chained, TENANT)
    assert verdict.broken_link is not None and verdict.broken_link.seq == 3
    assert "hash version" in verdict.broken_link.reason
