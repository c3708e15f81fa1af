"""Versioned, re-runnable migrations: `warehouse/migrations/V###__name.sql`, each applied once, in order,
in its own transaction, recorded with its checksum in ops.schema_migrations."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

MIGRATION_NAME = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every Coinbook process touching this database.
ADVISORY_LOCK_KEY = 0x0C0B00C


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"V{self.version:03d}__{self.name}"


def discover_migrations() -> list[Migration]:
    folder = resources.files("warehouse") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


BOOKKEEPING = """
create schema if not exists ops;
create table if not exists ops.schema_migrations (
    version    integer primary key,
    name       text not null,
    checksum   text not null,
    applied_at timestamptz not null default now()
);
"""


def apply_migrations(url: str, *, owner: str | None = None) -> list[str]:
    """Apply pending migrations; returns the labels newly applied. Safe to run concurrently. With `owner`, every
    object of the database is then handed to that role (see hand_over)."""
    migrations = discover_migrations()
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            conn.execute(BOOKKEEPING)
            done = {row[0]: row[1] for row in conn.execute("select version, checksum from ops.schema_migrations")}
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.label} was changed after it was applied (checksum differs); "
                            "write a new migration instead of editing an applied one")
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]  # trusted file from the package
                    conn.execute("insert into ops.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                                 (migration.version, migration.name, migration.checksum))
                applied_now.append(migration.label)
            if owner is not None:
                hand_over(conn, owner)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now


# Objects of Coinbook's schemas (and public, where Dagster's storage lives) not owned by the role, in an order that
# works: schemas, then tables (a table's identity/serial sequences follow it), then types. Functions stay the
# superuser's: the pipeline only calls them, and the event trigger (V016) runs ops.secure_relation for whoever
# creates a table, the superuser included — a function the pipeline owned, it could rewrite to run as the superuser.
_NOT_OWNED = """
with project as (
    select oid, nspname from pg_namespace
     where nspname not in ('pg_catalog', 'information_schema') and nspname not like 'pg\\_%%'
), extension as (  -- an extension's objects belong to it
    select objid from pg_depend where deptype = 'e'
)
select 0, format('alter schema %%I owner to %%I', nspname, %(role)s::text) from project p
 where nspname <> 'public' and (select nspowner from pg_namespace where oid = p.oid) <> %(oid)s
union all
select 1, format('alter %%s %%s owner to %%I',
                 case c.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table'
                                else 'table' end, c.oid::regclass, %(role)s::text)
  from pg_class c join project p on p.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f') and c.relowner <> %(oid)s and not c.oid in (select objid from extension)
union all
select 3, format('alter type %%s owner to %%I', t.oid::regtype, %(role)s::text)
  from pg_type t join project n on n.oid = t.typnamespace
 where t.typowner <> %(oid)s and not t.oid in (select objid from extension)
   and (t.typtype in ('e', 'd', 'r')
        or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c'))
order by 1
"""
_STANDALONE_SEQUENCES = """
select format('alter sequence %%s owner to %%I', c.oid::regclass, %(role)s::text)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'S' and c.relowner <> %(oid)s
   and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%%'
   and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                                               and d.deptype in ('a', 'i'))
"""


def hand_over(conn: psycopg.Connection, role: str) -> int:
    """Make `role` the owner of every object of this database's own schemas (the superuser migrated them): the
    pipeline then alters and drops what it builds (dbt replaces its marts, price ticks get new partitions) without
    being a superuser. Grants made by the previous owner stay. Idempotent; returns the objects handed over."""
    row = conn.execute("select oid from pg_roles where rolname = %s", (role,)).fetchone()
    if row is None:
        return 0
    params = {"role": role, "oid": row[0]}
    statements = [text for _, text in conn.execute(_NOT_OWNED, params).fetchall()]
    statements += [text for (text,) in conn.execute(_STANDALONE_SEQUENCES, params).fetchall()]
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]  # built by format(%I) from the catalog
    return len(statements)
