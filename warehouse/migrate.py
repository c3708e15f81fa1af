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


def apply_migrations(url: str) -> list[str]:
    """Apply pending migrations; returns the labels newly applied. Safe to run concurrently."""
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
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now
