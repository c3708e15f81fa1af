"""The row hashes of the audit chain on awkward rows of every chained raw table, loaded through the loader
(copy_insert: COPY, insert on conflict, the chain's statement trigger): V038's audit.hash_of (the row's UTF-8 bytes
trimmed, not its characters) is V018's definition (hash_version 1) byte for byte; the links the trigger writes since
V047 are hash_version 2, and the hashes they recorded are version 2's definition of the stored rows (the binary
form of the row's columns up to its last non-NULL one), written here independently; verify finds the pages intact
and still finds a row changed behind the triggers."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pipelines.domain.audit import content_hash, link_hash
from pipelines.services.audit import verify
from tests.support import admin_warehouse
from warehouse import audit as store
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse
from warehouse.loader import copy_insert

pytestmark = pytest.mark.integration
TENANT = "acme"
# V018's expression, kept here as the reference the new implementation must equal
V018_HASH = "sha256(convert_to(rtrim(r::text, ',)') || ')', 'UTF8'))"
# text that the row's text output quotes, escapes, or that is more than one byte a character
AWKWARD = ["", "a,b", "x)", "(y", 'quo"te', "back\\slash", " spaced ", "ünïcødé €", "tab\tnew\nline", "))", ",,"]
PAYLOADS = [{"id": 1, "note": 'a "quoted", (bracketed) value', "tiny": 1e-07, "big": 1e16, "é": [1, 2.50, None]},
            {"nested": {"z": "last", "a": "first", "ü": True}, "empty": "", "list": []},
            {"price": "60000.500", "fee": {"cost": "0.6", "currency": "USDT"}}]


def _value(type_name: str, nullable: bool, i: int, column: str) -> Any:
    """A value of the column's type for row i; nullable columns are NULL on every third row (trailing NULLs are
    what V018's trim removes)."""
    if column in ("tenant_id",):
        return TENANT
    if column == "source_record_id":
        return f"rec,{i}) ü"
    if nullable and i % 3 == 2:
        return None
    if type_name == "text":
        return AWKWARD[(i + len(column)) % len(AWKWARD)]
    if type_name.startswith("numeric"):
        return [Decimal("60000.5"), Decimal("-0.000000000000000001"), Decimal("0"), Decimal("12345678901234567890")][
            i % 4]
    if type_name == "timestamp with time zone":
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i, microseconds=(i * 123457) % 1_000_000)
    if type_name == "jsonb":
        return Jsonb(PAYLOADS[i % len(PAYLOADS)])
    if type_name == "boolean":
        return i % 2 == 0
    if type_name in ("bigint", "integer"):
        return -i * 1_000_003
    raise AssertionError(f"no test value for a {type_name} column ({column}): add one")


def _columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) of the columns the loader sends: all but those with a default (ingested_at)."""
    return [(n, t, not nn) for n, t, nn in conn.execute(
        """select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
             from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
            where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped and d.adbin is null
            order by a.attnum""", (table,))]


def _v2_hashes(conn: psycopg.Connection, table: str, key: str) -> dict[str, bytes]:
    """Version 2's definition (V047), written independently of audit.hash_expression: for each row, the sha256 of
    record_send of the ROW of its columns up to its last non-NULL one (found here, in Python), by key."""
    names = [n for (n,) in conn.execute("""select attname from pg_attribute where attrelid = %s::regclass
                                             and attnum > 0 and not attisdropped order by attnum""", (table,))]
    present = ", ".join(f'r."{n}" is not null' for n in names)
    hashes = {}
    for key_value, columns in conn.execute(f"select ({key}), array[{present}] from {table} r"):  # type: ignore
        last = max(i for i, there in enumerate(columns) if there)
        row = ", ".join(f'r."{n}"' for n in names[:last + 1])
        (digest,) = conn.execute(f"select sha256(record_send(row({row}))) from {table} r "  # type: ignore[arg-type]
                                 f"where ({key}) = %s", (key_value,)).fetchone()
        hashes[key_value] = bytes(digest)
    return hashes


def _rows(columns: list[tuple[str, str, bool]], n: int) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        row = {c: _value(t, nullable, i, c) for c, t, nullable in columns}
        if "entity" in row:  # raw.exchange_derivatives: a CHECK on it
            row["entity"] = "trades"
        if "record_hash" in row:
            row["record_hash"] = hashlib.sha256(str(i).encode()).hexdigest()
        rows.append(tuple(row.values()))
    return rows


@pytest.fixture(scope="module")
def loaded(cluster: LocalCluster) -> Iterator[tuple[Warehouse, list[str]]]:
    """Every chained raw table gets 12 awkward rows through the loader, one page (one link) each."""
    name = f"coinbook_rowhash_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    wh = Warehouse(cluster.url(name))
    with wh.connect() as conn:
        conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (TENANT, TENANT))
        # a column added later, NULL on some rows: the row text ends in ',)', which the hash trims
        conn.execute("alter table raw.binance_trades add column venue_note text")
        tables = [t.name for t in store.chained_tables(conn) if t.name.startswith("raw.")]
    for table in tables:
        with wh.connect() as conn:
            columns = _columns(conn, table)
            assert copy_insert(conn, table, [c for c, _, _ in columns], _rows(columns, 12)) == 12
    yield wh, tables
    cluster.drop_database(name)


def test_every_raw_table_is_covered(loaded: tuple[Warehouse, list[str]]) -> None:
    wh, tables = loaded
    assert len(tables) >= 30 and "raw.binance_trades" in tables and "raw.file_records" in tables
    with wh.connect() as conn:
        linked = dict(conn.execute("select table_name, sum(cardinality(record_keys)) from audit.chain "
                                   "where tenant_id = %s group by 1", (TENANT,)).fetchall())
    assert linked == dict.fromkeys(tables, 12)


def test_the_hash_is_v018s_on_every_stored_row(loaded: tuple[Warehouse, list[str]]) -> None:
    wh, tables = loaded
    with wh.connect() as conn:
        conn.execute("set timezone = 'UTC'")
        conn.execute("set datestyle = 'ISO, YMD'")
        for table in tables:
            rows = conn.execute(f"select audit.hash_of(r), {V018_HASH}, r::text from {table} r").fetchall()
            assert len(rows) == 12
            assert [new for new, _, _ in rows] == [old for _, old, _ in rows], table
            # the rows are awkward indeed: quoted values, multi-byte characters
            texts = [text for _, _, text in rows]
            assert any('""' in t for t in texts) and any("ü" in t for t in texts), table
        assert any(t.endswith(",)") for (t,) in conn.execute("select r::text from raw.binance_trades r"))


def test_the_links_recorded_version_2_hashes(loaded: tuple[Warehouse, list[str]]) -> None:
    """What the trigger writes since V047: hash_version 2 links whose hashes are version 2's definition of each
    stored row, key by key (trailing NULLs left out: binance_trades' added column is NULL on some rows, other
    tables' last columns on every third)."""
    wh, tables = loaded
    with wh.connect() as conn:
        keys = {t.name: t.key for t in store.chained_tables(conn)}
        conn.execute("set timezone = 'Asia/Tokyo'")  # version 2 does not depend on the session's zone or style
        conn.execute("set datestyle = 'SQL, DMY'")
        for table in tables:
            recorded = {k: bytes(h) for k, h, v in conn.execute(
                """select u.key, u.h, c.hash_version from audit.chain c
                     cross join lateral unnest(c.record_keys, c.record_hashes) as u (key, h)
                    where c.tenant_id = %s and c.table_name = %s""", (TENANT, table)) if v == 2}
            assert len(recorded) == 12 and recorded == _v2_hashes(conn, table, keys[table]), table


def test_one_page_of_two_tenants_makes_a_link_each_in_key_order(loaded: tuple[Warehouse, list[str]]) -> None:
    """A page of two tenants' rows, in reverse key order: one link per tenant (V038 sorts once for the keys, the
    hashes and the content hash), its keys in V018's key order (V047's bytewise order is the same here), its hashes
    version 2's, its content and link hashes what pipelines/domain/audit.py computes."""
    wh, _ = loaded
    with wh.connect() as conn:
        conn.execute("insert into ops.tenants (tenant_id, name) values ('bluefin', 'bluefin')")
        columns = _columns(conn, "raw.coinbase_trades")
        names = [c for c, _, _ in columns]
        rows = []
        for i, row in enumerate(_rows(columns, 30)):
            values = dict(zip(names, row, strict=True))
            values["tenant_id"] = "bluefin" if i % 2 else TENANT
            values["source_record_id"] = f"mixed-{i:02}"
            rows.append(tuple(values.values()))
        assert copy_insert(conn, "raw.coinbase_trades", names, rows[::-1]) == 30
    with wh.connect() as conn:
        conn.execute("set timezone = 'UTC'")
        conn.execute("set datestyle = 'ISO, YMD'")
        links = conn.execute(
            """select tenant_id, seq, recorded_at, actor, table_name, operation, record_keys, record_hashes,
                      content_hash, prev_hash, hash, hash_version,
                      (select array_agg(k order by k) from unnest(record_keys) k) as v018_order
                 from audit.chain c
                where seq = (select max(seq) from audit.chain d where d.tenant_id = c.tenant_id)
                order by tenant_id""").fetchall()
        v2 = _v2_hashes(conn, "raw.coinbase_trades", "concat_ws('/', r.account_id, r.source, r.source_record_id)")
    assert [(link[0], link[4], len(link[6]), link[11]) for link in links] == \
        [(TENANT, "raw.coinbase_trades", 15, 2), ("bluefin", "raw.coinbase_trades", 15, 2)]
    for tenant, seq, at, actor, table, op, keys, hashes, content, prev, digest, version, v018_order in links:
        assert {int(k[-2:]) % 2 for k in keys} == ({0} if tenant == TENANT else {1})
        hashes = [bytes(h) for h in hashes]
        assert keys == v018_order and hashes == [v2[k] for k in keys]
        assert content_hash(keys, hashes) == bytes(content)
        assert link_hash(bytes(prev), seq, at, actor, table, op, bytes(content), version) == bytes(digest)


def test_verify_finds_the_pages_intact_then_a_changed_row(loaded: tuple[Warehouse, list[str]]) -> None:
    wh, _ = loaded
    (verdict,) = verify(wh, TENANT)
    assert verdict.intact, verdict.describe()
    with psycopg.connect(admin_warehouse(wh.database_url).database_url) as conn:
        conn.execute("set session_replication_role = replica")  # the triggers off, as someone holding the server
        conn.execute("update raw.kraken_trades set payload = payload || '{\"note\": \"changed\"}' "
                     "where source_record_id = 'rec,4) ü'")
    (verdict,) = verify(wh, TENANT)
    assert not verdict.intact and verdict.broken_link is None
    assert [(m.table_name, m.problem) for m in verdict.records] == \
        [("raw.kraken_trades", "changed after its link recorded it")]
    assert verdict.records[0].record_key.endswith("rec,4) ü")
