"""The audit chain (migration V018, issue 16 §1) on a database of its own: what the pipeline and people write is
chained; raw is append-only but for the maintenance path; `verify` finds an UPDATE of one historical raw row made
by the superuser with the triggers off (table and key), a deleted row, reordered links and a rewritten chain."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from pipelines.domain.audit import content_hash, link_hash
from pipelines.services.audit import verify
from pipelines.services.users import add_user, remove_user
from tests.support import admin_warehouse
from warehouse import audit as store
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def trade(tenant: str, i: int) -> dict[str, Any]:
    payload = {"id": i, "price": "60000.5"}
    return {"tenant_id": tenant, "account_id": f"{tenant}-binance", "source": "binance",
            "source_record_id": f"BTC/USDT:{i}", "occurred_at": T0 + timedelta(minutes=i), "symbol": "BTC/USDT",
            "base_asset": "BTC", "quote_asset": "USDT", "side": "buy", "price": Decimal("60000.5"),
            "quantity": Decimal("0.01"), "cost": Decimal("600.005"), "fee_amount": Decimal("0.00001"),
            "fee_asset": "BTC", "order_id": str(i), "is_maker": False, "payload": payload,
            "record_hash": hashlib.sha256(repr(payload).encode()).hexdigest()}


def insert_trades(url: str, rows: list[dict[str, Any]]) -> None:
    """One statement (one link per tenant), as the loaders write a page."""
    cols = list(rows[0])
    values = ", ".join("(" + ", ".join(["%s"] * len(cols)) + ")" for _ in rows)
    with psycopg.connect(url) as conn:
        conn.execute(f"insert into raw.binance_trades ({', '.join(cols)}) values {values}",  # type: ignore[arg-type]
                     [Jsonb(v) if isinstance(v, dict) else v for row in rows for v in row.values()])


@pytest.fixture()
def world(cluster: LocalCluster) -> Iterator[Warehouse]:
    name = f"coinbook_audit_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    url = cluster.url(name)
    with psycopg.connect(url) as conn:
        for tenant in ("acme", "bluefin"):
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (tenant, tenant))
    insert_trades(url, [trade(t, i) for t in ("acme", "bluefin") for i in range(5)])
    insert_trades(url, [trade("acme", i) for i in range(5, 8)])
    yield Warehouse(url)
    cluster.drop_database(name)


@contextmanager
def tampering(wh: Warehouse) -> Iterator[psycopg.Connection]:
    """The superuser with the triggers off: what someone holding the server could do."""
    with psycopg.connect(admin_warehouse(wh.database_url).database_url) as conn:
        conn.execute("set session_replication_role = replica")
        yield conn


def test_what_is_written_is_chained_and_verifies(world: Warehouse) -> None:
    with world.connect() as conn:
        links = conn.execute("select tenant_id, seq, table_name, operation, cardinality(record_keys), actor "
                             "from audit.chain order by tenant_id, seq").fetchall()
    assert links == [("acme", 1, "raw.binance_trades", "insert", 5, "coinbook_pipeline"),
                     ("acme", 2, "raw.binance_trades", "insert", 3, "coinbook_pipeline"),
                     ("bluefin", 1, "raw.binance_trades", "insert", 5, "coinbook_pipeline")]
    verdicts = verify(world)
    assert [(v.tenant_id, v.intact, v.links_checked, v.head_seq) for v in verdicts] == \
        [("acme", True, 2, 2), ("bluefin", True, 1, 1)]
    with world.connect() as conn:  # a column added later (NULL in the old rows) changes no record's hash
        conn.execute("alter table raw.binance_trades add column venue_note text")
    assert all(v.intact for v in verify(world))
    with world.connect() as conn:  # a session in another zone and date style neither
        conn.execute("alter role coinbook_pipeline in database " + conn.info.dbname + " set timezone = 'Asia/Tokyo'")
    insert_trades(world.database_url, [trade("acme", 30)])
    assert all(v.intact for v in verify(world))


def test_python_recomputes_what_sql_wrote(world: Warehouse) -> None:
    """The two writings of the link arithmetic (V018's SQL, V047's for version-2 links, pipelines/domain/audit.py)
    agree on real links."""
    with world.connect() as conn:
        rows = conn.execute("select seq, recorded_at, actor, table_name, operation, record_keys, record_hashes, "
                            "content_hash, prev_hash, hash, hash_version from audit.chain where tenant_id = 'acme' "
                            "order by seq").fetchall()
    assert rows[0][8] == bytes(32)
    assert {row[10] for row in rows} == {2}  # what the statement trigger writes since V047
    for seq, at, actor, table, op, keys, hashes, content, prev, digest, version in rows:
        assert content_hash(keys, [bytes(h) for h in hashes]) == bytes(content)
        assert link_hash(bytes(prev), seq, at, actor, table, op, bytes(content), version) == bytes(digest)
        assert link_hash(bytes(prev), seq, at, actor, table, op, bytes(content), 1) != bytes(digest)
    assert rows[1][8] == rows[0][9]


def test_raw_is_append_only_but_for_the_chained_maintenance_path(world: Warehouse) -> None:
    for statement in ("update raw.binance_trades set price = 1", "delete from raw.binance_trades",
                      "truncate raw.binance_trades"):
        with world.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)  # type: ignore[arg-type]
    with world.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("set local coinbook.maintenance = 'me too'")  # not the superuser: the reason is not enough
        conn.execute("delete from raw.binance_trades")
    admin = admin_warehouse(world.database_url)
    with pytest.raises(ValueError, match="reason"):
        store.maintain(admin, "  ", "delete from raw.binance_trades")
    assert store.maintain(admin, "the venue withdrew a duplicated fill",
                          "delete from raw.binance_trades where source_record_id = 'BTC/USDT:6'") == 1
    with world.connect() as conn:
        last = conn.execute("select operation, actor, reason, record_keys from audit.chain where tenant_id = 'acme' "
                            "order by seq desc limit 1").fetchone()
    assert last == ("delete", "postgres", "the venue withdrew a duplicated fill", ["acme-binance/binance/BTC/USDT:6"])
    assert all(v.intact for v in verify(world))


def test_verify_finds_an_update_a_delete_and_a_row_slipped_in(world: Warehouse) -> None:
    with tampering(world) as conn:
        conn.execute("update raw.binance_trades set price = 0, cost = 1 "
                     "where tenant_id = 'acme' and source_record_id = 'BTC/USDT:2'")
        conn.execute("delete from raw.binance_trades where tenant_id = 'acme' and source_record_id = 'BTC/USDT:6'")
        row = trade("acme", 99)
        conn.execute(f"insert into raw.binance_trades ({', '.join(row)}) values ({', '.join(['%s'] * len(row))})",
                     [Jsonb(v) if isinstance(v, dict) else v for v in row.values()])
    acme, bluefin = verify(world)
    assert bluefin.intact and not acme.intact and acme.broken_link is None  # links intact; records not
    found = {(m.table_name, m.record_key, m.seq, m.problem.split(":")[0]) for m in acme.records}
    assert found == {
        ("raw.binance_trades", "acme-binance/binance/BTC/USDT:2", 1, "changed after its link recorded it"),
        ("raw.binance_trades", "acme-binance/binance/BTC/USDT:6", 2, "missing"),
        ("raw.binance_trades", "acme-binance/binance/BTC/USDT:99", None,
         "a row no link recorded (written with the chain's triggers bypassed)")}
    printed = "\n".join(acme.describe())
    assert "BROKEN" in printed and "acme-binance/binance/BTC/USDT:2" in printed


def swap_first_two_links(conn: psycopg.Connection) -> None:
    conn.execute("update audit.chain set seq = seq + 1000 where tenant_id = 'acme' and seq in (1, 2)")
    conn.execute("update audit.chain set seq = case seq when 1001 then 2 else 1 end "
                 "where tenant_id = 'acme' and seq > 1000")


def test_verify_finds_reordered_removed_and_rewritten_links(world: Warehouse) -> None:
    insert_trades(world.database_url, [trade("acme", 10)])
    store.write_checkpoints(world, date(2026, 1, 2))
    insert_trades(world.database_url, [trade("acme", 11)])
    assert all(v.intact for v in verify(world))
    with tampering(world) as conn:  # two links swap places (their sequence numbers exchanged)
        swap_first_two_links(conn)
    (acme,) = verify(world, "acme")
    assert acme.broken_link is not None and acme.broken_link.seq == 1 and "previous hash" in acme.broken_link.reason
    with tampering(world) as conn:  # put back
        swap_first_two_links(conn)
    assert all(v.intact for v in verify(world))
    with tampering(world) as conn:  # remove a link
        conn.execute("delete from audit.chain where tenant_id = 'acme' and seq = 3")
    (acme,) = verify(world, "acme")
    assert acme.broken_link is not None and acme.broken_link.seq == 4 and "sequence jumps" in acme.broken_link.reason


def test_a_rewritten_chain_is_caught_by_its_checkpoint(world: Warehouse) -> None:
    """Someone changes a row and recomputes every hash after it: the chain holds together again, but the day's
    checkpoint (kept outside too: `coinbook audit checkpoints`) no longer matches."""
    store.write_checkpoints(world, date(2026, 1, 2))
    with tampering(world) as conn:
        conn.execute("update raw.binance_trades set price = 0 where tenant_id = 'acme' and source_record_id = "
                     "'BTC/USDT:1'")
        # the row's new hash as its link's version (2, V047) defines it
        expression = conn.execute("select audit.hash_expression('raw.binance_trades', 'r')").fetchone()[0]
        new_hash = conn.execute(f"select {expression} from raw.binance_trades r where tenant_id = "
                                "'acme' and source_record_id = 'BTC/USDT:1'").fetchone()[0]
        rows = conn.execute("select seq, recorded_at, actor, table_name, operation, record_keys, record_hashes, "
                            "hash_version from audit.chain where tenant_id = 'acme' order by seq").fetchall()
        prev = bytes(32)
        for seq, at, actor, table, op, keys, hashes, version in rows:
            hashes = [new_hash if k.endswith("BTC/USDT:1") else h for k, h in zip(keys, hashes, strict=True)]
            content = content_hash(keys, [bytes(h) for h in hashes])
            digest = link_hash(prev, seq, at, actor, table, op, content, version)
            conn.execute("update audit.chain set record_hashes = %s, content_hash = %s, prev_hash = %s, hash = %s "
                         "where tenant_id = 'acme' and seq = %s", (hashes, content, prev, digest, seq))
            prev = digest
    (acme,) = verify(world, "acme")
    assert acme.broken_link is None and not acme.records  # a consistent forgery…
    assert acme.checkpoint_problem and "2026-01-02" in acme.checkpoint_problem  # …that its checkpoint exposes


def test_peoples_changes_are_chained_with_their_login(world: Warehouse) -> None:
    admin = admin_warehouse(world.database_url)
    name = f"acct_{uuid.uuid4().hex[:6]}"
    password = add_user(admin, name, "accountant", ["acme"])
    try:
        with psycopg.connect(make_conninfo(world.database_url, user=name, password=password),
                             autocommit=True) as conn:
            conn.execute("insert into ops.cost_basis (tenant_id, entry_id, cost) values ('acme', 'e1', 100)")
            conn.execute("update ops.cost_basis set cost = 120 where entry_id = 'e1'")
            conn.execute("delete from ops.cost_basis where entry_id = 'e1'")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("insert into audit.chain (tenant_id, seq, recorded_at, actor, table_name, operation, "
                             "record_keys, record_hashes, content_hash, prev_hash, hash) values ('acme', 99, now(), "
                             "'x', 'x', 'insert', '{}', '{}', '', '', '')")
    finally:
        remove_user(admin, name)
    with world.connect() as conn:
        changes = conn.execute("select operation, actor, record_keys from audit.chain where tenant_id = 'acme' "
                               "and table_name = 'ops.cost_basis' order by seq").fetchall()
    assert changes == [(op, name, ["e1"]) for op in ("insert", "update", "delete")]
    assert all(v.intact for v in verify(world))


def test_the_nightly_run_checkpoints_intact_chains_and_alerts_on_a_break(world: Warehouse,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pipelines.app.main import app
    from pipelines.services.audit import AUDIT_ALERT_KIND, nightly_verification
    from pipelines.settings import get_settings

    day1 = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    verdicts, written = nightly_verification(world, day1)
    assert all(v.intact for v in verdicts) and written == 2
    insert_trades(world.database_url, [trade("acme", 20)])
    # A later run the same day starts from the day's checkpoint: only the link since (the new trade) is checked
    verdicts, written = nightly_verification(world, day1 + timedelta(hours=5))
    assert [(v.tenant_id, v.intact, v.links_checked) for v in verdicts] == [("acme", True, 1), ("bluefin", True, 0)]
    assert written == 0  # the day's first checkpoint stands
    with tampering(world) as conn:
        conn.execute("update raw.binance_trades set quantity = 5 where source_record_id = 'BTC/USDT:20'")
    verdicts, written = nightly_verification(world, day1 + timedelta(days=1))
    assert [(v.tenant_id, v.intact, v.links_checked) for v in verdicts] == [("acme", False, 1), ("bluefin", True, 0)]
    assert written == 1  # bluefin's; acme's chain is not vouched for
    with world.connect() as conn:
        alert = conn.execute("select tenant_id, severity, message from ops.alerts where kind = %s "
                             "and resolved_at is null", (AUDIT_ALERT_KIND,)).fetchall()
    assert [(t, s) for t, s, _ in alert] == [("acme", "critical")] and "BTC/USDT:20" in alert[0][2]

    import io

    from pipelines.app import console as consoles

    out = io.StringIO()
    monkeypatch.setenv("COINBOOK_DATABASE_URL", world.database_url)
    monkeypatch.setattr(consoles.console, "file", out)
    monkeypatch.setattr(consoles.err_console, "file", out)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["audit", "verify", "--tenant", "acme"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 1 and "acme-binance/binance/BTC/USDT:20" in out.getvalue(), out.getvalue()


def test_price_tick_days_are_chained_by_digest_and_append_only(world: Warehouse) -> None:
    """Ticks are chained per (venue, day) as a digest (V028), not row by row: a load adds one link per day it
    changed; an UPDATE is refused; one made with the triggers off, or a deleted tick, is found with its venue and
    day; a re-load that adds nothing adds no link."""
    from bench.bench_ticks import generate
    from pipelines.services.prices import load_ticks

    url = world.database_url
    raw = generate(2_000, seed=5)
    load_ticks(url, raw)

    def tick_links() -> list[tuple[str, list[str]]]:
        with world.connect() as conn:
            return conn.execute("select tenant_id, record_keys from audit.chain where table_name = 'raw.price_ticks' "
                                "order by seq").fetchall()

    first = tick_links()
    venues = {"binance", "coinbase", "kraken", "bitfinex", "htx"}
    assert {t for t, _ in first} == {"public"} and {k.split("/")[0] for _, (k,) in first} == venues
    load_ticks(url, raw)  # identical: nothing new, no link
    assert tick_links() == first
    (public,) = verify(world, "public")
    assert public.intact, public.describe()

    with world.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("update raw.price_ticks set price = price * 2 where source = 'kraken'")
    with tampering(world) as conn:
        (day,) = conn.execute("select min(observed_at at time zone 'UTC')::date from raw.price_ticks "
                              "where source = 'kraken'").fetchone()
        # one tick each (a ctid is per partition: the venue's and the day's leaf named)
        conn.execute(f"update raw.price_ticks_{day:%Y%m%d}_kraken set price = price * 2 "
                     f"where ctid = (select min(ctid) from raw.price_ticks_{day:%Y%m%d}_kraken)")
        conn.execute(f"delete from raw.price_ticks_{day:%Y%m%d}_htx "
                     f"where ctid = (select min(ctid) from raw.price_ticks_{day:%Y%m%d}_htx)")
    (public,) = verify(world, "public")
    found = {(m.table_name, m.record_key.split("/")[0], m.problem.split(" (")[0]) for m in public.records}
    assert ("raw.price_ticks", "kraken", "changed after its link recorded it") in found
    assert {m.record_key for m in public.records} == {f"kraken/{day}", f"htx/{day}"}
    acme, bluefin = verify(world, "acme")[0], verify(world, "bluefin")[0]
    assert acme.intact and bluefin.intact  # the tenants' own chains are not the market data's
