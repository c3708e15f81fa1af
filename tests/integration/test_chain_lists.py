"""V029: the lists of who reads what and of what is chained are data (ops.relation_readers, audit.chained_tables).

A database migrated to V028 gets the objects later loads create (a venue's extra raw table, price-tick partitions, a
marts view and table, a chained day of ticks), its catalog is snapshotted (grants, row-level security, policies,
triggers, event triggers, view options), V029 is applied, and the snapshot is the same. Then one insert per list
secures a table created afterwards, and the tick days chained under V028's digest still verify under V029's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pipelines.services.audit import verify
from tests.support import admin_warehouse
from warehouse import audit as store
from warehouse.cluster import PIPELINE_ROLE, LocalCluster
from warehouse.connection import Warehouse
from warehouse.migrate import BOOKKEEPING, discover_migrations, hand_over

pytestmark = pytest.mark.integration
SCHEMAS = ("raw", "ops", "derived", "audit", "staging", "intermediate", "marts")

# Every relation of Coinbook's schemas with its ACL, row-level security flags and options; every policy; every
# trigger's definition; the event triggers. Names and definitions, no oids: what V029 must leave as it was.
SNAPSHOT = {
    "relations": """
        select c.oid::regclass::text, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
               coalesce((select array_agg(a order by a) from unnest(c.relacl::text[]) a), '{}'),
               coalesce(c.reloptions, '{}')
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm') order by 1""",
    "policies": """
        select schemaname || '.' || tablename, policyname, permissive, roles::text, cmd, qual, with_check
          from pg_policies where schemaname = any(%(schemas)s) order by 1, 2""",
    "triggers": """
        select t.tgrelid::regclass::text, t.tgname, t.tgenabled::text, pg_get_triggerdef(t.oid)
          from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
         where not t.tgisinternal and n.nspname = any(%(schemas)s) order by 1, 2""",
    "event triggers": """
        select evtname, evtevent, evtfoid::regproc::text, evtenabled::text, evttags::text
          from pg_event_trigger order by 1""",
}
NEW_IN_V029 = {"ops.relation_readers", "audit.chained_tables", "audit.tick_hours"}


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {part: [row for row in conn.execute(query, {"schemas": list(SCHEMAS)})  # type: ignore[arg-type]
                   if row[0] not in NEW_IN_V029]
            for part, query in SNAPSHOT.items()}


def migrate_until(cluster: LocalCluster, name: str, version: int, after: int = 0) -> list[str]:
    """The migrations after `after` and before `version`, as apply_migrations runs them (each in its transaction,
    recorded), then the hand-over to the pipeline: the database as it was before `version` existed."""
    applied = []
    with psycopg.connect(cluster.admin_url(name), autocommit=True) as conn:
        conn.execute(BOOKKEEPING)
        for migration in discover_migrations():
            if migration.version >= version:
                break
            if migration.version <= after:
                continue
            applied.append(migration.name)
            with conn.transaction():
                conn.execute(migration.sql)  # type: ignore[arg-type]
                conn.execute("insert into ops.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                             (migration.version, migration.name, migration.checksum))
        hand_over(conn, PIPELINE_ROLE)
    return applied


TICK_COLUMNS = "tenant_id, source, source_record_id, symbol, base_asset, quote_asset, observed_at, price, size, " \
               "payload, record_hash"


def load_tick_day_as_v028(url: str, venue: str, day: str, prices: list[str]) -> None:
    """A (venue, day) of ticks the way V028's loader left it: the leaf, its rows, its load, its chained digest."""
    leaf = f"price_ticks_{day.replace('-', '')}_{venue}"
    with psycopg.connect(url) as conn:
        conn.execute(f"create table if not exists raw.price_ticks_{day.replace('-', '')} partition of raw.price_ticks "  # type: ignore[arg-type]
                     f"for values from ('{day} 00:00+00') to ('{day}'::date + 1) partition by list (source)")
        conn.execute(f"create table raw.{leaf} partition of raw.price_ticks_{day.replace('-', '')} "  # type: ignore[arg-type]
                     f"for values in ('{venue}')")
        for i, price in enumerate(prices):
            conn.execute(f"insert into raw.price_ticks ({TICK_COLUMNS}) values ('public', %s, %s, 'BTC/USDT', "  # type: ignore[arg-type]
                         "'BTC', 'USDT', %s::timestamptz + %s * interval '17 minutes', %s, %s, %s, %s)",
                         (venue, f"BTC/USDT:{i}", day, i, price, None if i % 3 == 0 else "0.000",
                          f'["{venue}","BTC/USDT",{i}]', f"{i:064x}"))
        conn.execute("insert into ops.tick_loads (source, day, rows_in, inserted, duplicates, path, key_digest) "
                     "values (%s, %s, %s, %s, 0, 'new partition', 'x')", (venue, day, len(prices), len(prices)))
        conn.execute("select audit.chain_tick_day('public', %s, %s)", (venue, day))


@pytest.fixture()
def before_v029(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    name = f"coinbook_lists_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    migrate_until(cluster, name, 29)
    yield name, cluster.url(name)
    cluster.drop_database(name)


def test_v029_changes_no_grant_policy_or_trigger(cluster: LocalCluster, before_v029: tuple[str, str]) -> None:
    name, url = before_v029
    with psycopg.connect(url) as conn:
        # what loads and dbt create after the migrations: an extra venue's raw table, tick partitions, marts
        conn.execute("create table raw.okx_trades (like raw.binance_trades including all)")
        conn.execute("create table marts.some_table as select 'public'::text as tenant_id, 1 as n")
        conn.execute("create view marts.some_view as select * from marts.some_table")
        conn.execute("create table derived.some_result (tenant_id text, n int)")
    load_tick_day_as_v028(url, "binance", "2026-01-02", ["87000.50", "87001", "0.000000010"])
    with psycopg.connect(cluster.admin_url(name)) as conn:
        before = snapshot(conn)
    assert any(r[0] == "raw.okx_trades" for r in before["triggers"])  # the event trigger chained it
    assert sum(r[1] == "audit_append_only" and "price_ticks" in r[0] for r in before["triggers"]) == 3

    # V029 alone (later migrations add tables and grants of their own, which is not what is compared here)
    assert migrate_until(cluster, name, 30, after=28) == ["security_and_chain_lists_as_data"]
    with psycopg.connect(cluster.admin_url(name)) as conn:
        after = snapshot(conn)
    for part in SNAPSHOT:
        assert after[part] == before[part], part

    # Grants only add: the same snapshot after re-applying could hide a name the lists lost. So from scratch too:
    # every reader grant, policy and chain trigger removed, then the functions run over the catalog reading the lists.
    with psycopg.connect(cluster.admin_url(name)) as conn:
        conn.execute(STRIP)
        assert snapshot(conn) != before  # stripped
        conn.execute(RESECURE)
        assert snapshot(conn) == before


STRIP = """
do $$
declare
    r record;
begin
    for r in select c.oid::regclass as rel, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where n.nspname in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts')
                and c.relkind in ('r', 'p', 'v') and c.oid not in ('ops.relation_readers'::regclass,
                                                                  'audit.chained_tables'::regclass)
    loop
        execute format('revoke all on %s from coinbook_manager, coinbook_accountant, coinbook_auditor', r.rel);
        if r.relkind <> 'v' then
            execute format('alter table %s no force row level security', r.rel);
            execute format('alter table %s disable row level security', r.rel);
            execute format('drop policy if exists tenant_isolation on %s', r.rel);
            execute format('drop trigger if exists audit_chain_insert on %s', r.rel);
            execute format('drop trigger if exists audit_chain_update on %s', r.rel);
            execute format('drop trigger if exists audit_chain_delete on %s', r.rel);
            execute format('drop trigger if exists audit_append_only on %s', r.rel);
        end if;
    end loop;
end $$"""
RESECURE = """
select count(ops.secure_relation(c.oid)), count(audit.protect(c.oid) or null)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts')
   and c.relkind in ('r', 'p', 'v')"""


def test_a_row_in_each_list_secures_a_new_table(world_v029: Warehouse) -> None:
    admin = admin_warehouse(world_v029.database_url)
    with admin.connect() as conn:
        # before its rows: an ops table is the auditor's to read, and not chained
        conn.execute("create table ops.travel_rule_notes (tenant_id text, note_id bigint, note text, "
                     "primary key (tenant_id, note_id))")
        assert not conn.execute("select has_table_privilege('coinbook_manager', 'ops.travel_rule_notes', "
                                "'select')").fetchone()[0]  # type: ignore[index]
        assert not conn.execute("select audit.is_chained('ops.travel_rule_notes'::regclass)").fetchone()[0]  # type: ignore[index]
        # what a later migration writes: one insert per list, then the functions once for a table that exists
        conn.execute("insert into ops.relation_readers (schema_name, relation_name, readers, why) values "
                     "('ops', 'travel_rule_notes', '{coinbook_manager,coinbook_accountant,coinbook_auditor}', "
                     "'a marts view reads it')")
        conn.execute("insert into audit.chained_tables (schema_name, table_pattern, chained_by, append_only, why) "
                     "values ('ops', 'travel_rule_%%', 'statement', true, 'written by hand')")
        conn.execute("select ops.secure_relation('ops.travel_rule_notes'::regclass), "
                     "audit.protect('ops.travel_rule_notes'::regclass)")
        # and a table created afterwards needs nothing: the event trigger reads the lists
        conn.execute("create table ops.travel_rule_flags (tenant_id text, flag_id bigint, "
                     "primary key (tenant_id, flag_id))")
        for table in ("ops.travel_rule_notes", "ops.travel_rule_flags"):
            assert conn.execute("select audit.is_chained(%s::regclass)", (table,)).fetchone()[0]  # type: ignore[index]
            assert {r for (r,) in conn.execute(
                "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal", (table,))} == {
                "audit_chain_insert", "audit_chain_update", "audit_chain_delete", "audit_append_only"}
        assert conn.execute("select has_table_privilege('coinbook_manager', 'ops.travel_rule_notes', "
                            "'select')").fetchone()[0]  # type: ignore[index]
        assert not conn.execute("select has_table_privilege('coinbook_manager', 'ops.travel_rule_flags', "
                                "'select')").fetchone()[0]  # type: ignore[index]  # not listed: the schema's readers
        assert conn.execute("select relrowsecurity and relforcerowsecurity from pg_class "
                            "where oid = 'ops.travel_rule_notes'::regclass").fetchone()[0]  # type: ignore[index]
    with world_v029.connect() as conn:
        conn.execute("insert into ops.travel_rule_notes values ('acme', 1, 'checked')")
        links = conn.execute("select table_name, record_keys from audit.chain where tenant_id = 'acme'").fetchall()
        assert links == [("ops.travel_rule_notes", ["1"])]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("delete from ops.travel_rule_notes")


@pytest.fixture()
def world_v029(cluster: LocalCluster) -> Iterator[Warehouse]:
    name = f"coinbook_lists_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    yield Warehouse(cluster.url(name))
    cluster.drop_database(name)


def test_tick_days_chained_by_v028_still_verify_under_v029(cluster: LocalCluster,
                                                          before_v029: tuple[str, str]) -> None:
    name, url = before_v029
    load_tick_day_as_v028(url, "binance", "2026-01-02", ["87000.50", "87001", "0.000000010", "5"])
    load_tick_day_as_v028(url, "kraken", "2026-01-02", ["86999.9", "87000"])
    with psycopg.connect(cluster.admin_url(name)) as conn:  # changed before V029, with the triggers off
        conn.execute("set session_replication_role = replica")
        conn.execute("update raw.price_ticks set price = 1 where source = 'kraken' and source_record_id = 'BTC/USDT:1'")
    cluster.migrate(name)
    wh = Warehouse(url)
    with wh.connect() as conn:
        reasons = conn.execute("select record_keys[1], reason from audit.chain where table_name = 'raw.price_ticks' "
                               "order by seq").fetchall()
        assert reasons[-1][0] == "binance/2026-01-02" and reasons[-1][1].startswith("V029")
        assert [k for k, _ in reasons].count("kraken/2026-01-02") == 1  # the changed day is not chained again
        mismatches = store.tick_mismatches(conn, "public")
    assert [(m.record_key, m.problem) for m in mismatches] == [
        ("kraken/2026-01-02", "changed after its link recorded it (its digest differs)")]
    (verdict,) = verify(wh)
    assert verdict.broken_link is None
    assert [m.record_key for m in verdict.records] == ["kraken/2026-01-02"]
