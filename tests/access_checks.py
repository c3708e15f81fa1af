"""Who sees what, checked from the catalog (migration V016): every relation of Coinbook's schemas, every reader
role, a login per role and tenant. Used by test_pipeline (the real pipeline's world) and test_users (a small world
of its own, where isolation is also broken on purpose to see these checks fail)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from pipelines.constants import PUBLIC_TENANT
from pipelines.services.users import ROLES, add_user, remove_user
from tests.support import admin_warehouse
from warehouse.connection import Warehouse

SCHEMAS = ("raw", "ops", "derived", "audit", "staging", "intermediate", "marts")
WRITES = ("insert", "update", "delete", "truncate")
# What a role may write, and how (migrations V016, V030, V036, V041); anything else it tries must be refused.
_CHANGES = ("insert", "update", "delete")
WRITABLE = {"accountant": dict.fromkeys(("ops.cost_basis", "ops.transfer_overrides", "ops.lot_selections",
                                         "ops.lot_methods"), _CHANGES),
            # a manager records a decision on a proposal (V036: the table's trigger keeps it to approve/reject),
            # sets targets and the arbitrage alert threshold (V041: the row names the manager's login)
            "manager": dict.fromkeys(("ops.proposal_events", "ops.rebalance_settings", "ops.rebalance_targets",
                                      "ops.arbitrage_settings"), ("insert",)),
            # append-only registers: a compliance officer adds, never changes
            "compliance": dict.fromkeys(("ops.screening_decisions", "ops.kyc_subjects", "ops.kyc_reviews",
                                         "ops.compliance_thresholds"), ("insert",))}


@dataclass(frozen=True)
class Relation:
    name: str  # schema.table, quoted as needed
    kind: str  # pg_class.relkind
    tenant_column: bool
    first_column: str


def relations(conn: psycopg.Connection) -> list[Relation]:
    rows = conn.execute(
        """select c.oid::regclass::text, c.relkind,
                  exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id'
                          and not a.attisdropped),
                  (select a.attname from pg_attribute a where a.attrelid = c.oid and a.attnum > 0
                    and not a.attisdropped order by a.attnum limit 1)
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
            order by 1""", (list(SCHEMAS),)).fetchall()
    return [Relation(*row) for row in rows]


def tenant_counts(conn: psycopg.Connection, rel: Relation) -> dict[str, int]:
    query = sql.SQL("select tenant_id::text, count(*) from {} group by 1").format(sql.SQL(rel.name))
    return {tenant: count for tenant, count in conn.execute(query)}


@contextmanager
def logins_for(wh: Warehouse, tenants: list[str]) -> Iterator[dict[tuple[str, str], str]]:
    """A login per (role, tenant), removed afterwards: {(role, tenant): conninfo}."""
    suffix = uuid.uuid4().hex[:8]
    made: dict[tuple[str, str], str] = {}
    admin = admin_warehouse(wh.database_url)
    try:
        for role in ROLES:
            for tenant in tenants:
                name = f"t{suffix}_{role}_{tenant}".replace("-", "_")[:63]
                password = add_user(admin, name, role, [tenant])
                made[(role, tenant)] = make_conninfo(wh.database_url, user=name, password=password)
        yield made
    finally:
        for (role, tenant) in made:
            remove_user(admin, f"t{suffix}_{role}_{tenant}".replace("-", "_")[:63])


def _refused(conn: psycopg.Connection, statement: sql.Composable) -> bool:
    """Whether `statement` is refused for lack of privilege or by a policy; never leaves a change behind."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
        return False
    except (errors.InsufficientPrivilege, errors.CheckViolation) as exc:
        return isinstance(exc, errors.InsufficientPrivilege) or "row-level security" in str(exc)
    except (errors.WrongObjectType, errors.ObjectNotInPrerequisiteState, errors.FeatureNotSupported):
        return True  # a view that cannot be written at all


def write_statement(kind: str, rel: Relation) -> sql.Composable:
    table, col = sql.SQL(rel.name), sql.Identifier(rel.first_column)
    return {
        "insert": sql.SQL("insert into {} overriding system value select * from {} where false").format(table, table),
        "update": sql.SQL("update {} set {} = default where false").format(table, col),  # default: identity too
        "delete": sql.SQL("delete from {} where false").format(table),
        "truncate": sql.SQL("truncate {}").format(table),
    }[kind]


def isolation_failures(wh: Warehouse, tenants: list[str]) -> list[str]:
    """Every breach found: a tenant table without FORCEd row-level security, a login reading another tenant's
    rows or not reading its own, a write a role is not granted that goes through, a granted one refused, a row of
    another tenant written. Empty when isolation holds."""
    failures: list[str] = []
    with wh.connect(autocommit=True) as admin:
        rels = relations(admin)
        truth = {rel.name: tenant_counts(admin, rel) for rel in rels if rel.tenant_column}
        unsecured = admin.execute(
            """select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = any(%s) and c.relkind in ('r', 'p')
                  and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id')
                  and not (c.relrowsecurity and c.relforcerowsecurity
                           and exists (select 1 from pg_policy p where p.polrelid = c.oid))""",
            (list(SCHEMAS),)).fetchall()
        failures += [f"{name}: no forced row-level security" for (name,) in unsecured]
    with logins_for(wh, tenants) as logins:
        for (role, tenant), conninfo in logins.items():
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("set lock_timeout = '5s'")
                failures += _reads(conn, role, tenant, rels, truth)
                failures += _writes(conn, role, rels)
                failures += _foreign_rows(conn, role, tenant, [t for t in tenants if t != tenant])
    return failures


def _reads(conn: psycopg.Connection, role: str, tenant: str, rels: list[Relation],
           truth: dict[str, dict[str, int]]) -> list[str]:
    failures = []
    for rel in rels:
        in_marts = rel.name.startswith("marts.")
        if not (rel.tenant_column or in_marts):
            continue
        try:
            with conn.transaction(force_rollback=True):
                if not rel.tenant_column:
                    conn.execute(sql.SQL("select 1 from {} limit 1").format(sql.SQL(rel.name)))
                    continue
                seen = tenant_counts(conn, rel)
        except errors.InsufficientPrivilege as exc:
            if in_marts:  # every role reads the marts (a view also needs what it reads)
                failures.append(f"{role} of {tenant} may not read {rel.name}: {str(exc).splitlines()[0]}")
            continue  # not this role's to read
        except psycopg.Error as exc:  # e.g. a view over a table the role may not read
            failures.append(f"{role} of {tenant} cannot read {rel.name}: {str(exc).splitlines()[0]}")
            continue
        foreign = {t: n for t, n in seen.items() if t not in (tenant, PUBLIC_TENANT)}
        if foreign:
            failures.append(f"{role} of {tenant} reads {rel.name} rows of {foreign}")
        if truth[rel.name].get(tenant, 0) and not seen.get(tenant):
            failures.append(f"{role} of {tenant} reads none of its {truth[rel.name][tenant]} rows in {rel.name}")
    return failures


def _writes(conn: psycopg.Connection, role: str, rels: list[Relation]) -> list[str]:
    failures = []
    for rel in rels:
        for kind in WRITES:
            granted = kind in WRITABLE.get(role, {}).get(rel.name, ())
            refused = _refused(conn, write_statement(kind, rel))
            if granted and refused:
                failures.append(f"{role} may not {kind} {rel.name}, which it should")
            elif not granted and not refused:
                failures.append(f"{role} can {kind} {rel.name}")
    return failures


def _foreign_rows(conn: psycopg.Connection, role: str, tenant: str, others: list[str]) -> list[str]:
    """A role that writes its tenants' choices cannot write another tenant's."""
    probes = {"accountant": ("ops.cost_basis", "insert into ops.cost_basis (tenant_id, entry_id, cost) "
                                               "values ({}, 'probe', 1)"),
              "compliance": ("ops.kyc_subjects", "insert into ops.kyc_subjects (tenant_id, subject_id, kind, name) "
                                                 "values ({}, 'probe', 'client', 'Probe')")}
    if role not in probes:
        return []
    table, template = probes[role]
    failures = []
    for other in others:
        if not _refused(conn, sql.SQL(template).format(sql.Literal(other))):  # type: ignore[arg-type]
            failures.append(f"{role} of {tenant} wrote {table} of {other}")
    return failures
