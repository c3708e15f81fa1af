"""`coinbook report compliance`: a tenant's quarter for an auditor — one CSV per section, a manifest of them
(rows and sha256 of each) and a PDF laid out by `compliance_pdf` that prints the manifest's hash, so the PDF ties
to the CSVs.

The quarter is taken in the tenant's time zone (ops.tenants.tax_timezone, else COINBOOK_TAX_TIMEZONE, default
UTC), as `coinbook report tax` takes its year: 2026Q1 in New York is [2026-01-01 00:00 -05:00, 2026-04-01 00:00
-04:00). Every section selects by that window of timestamps; times in the CSVs are printed in the same zone.

Sections whose mart belongs to a migration or a model this warehouse does not have yet (screening, large and
unhosted transfers, KYC) are not an error: the section says so (`MISSING`) and its CSV holds the header only.

Queries return plain rows; the layout (`compliance_pdf.render_pack`) reads no database and no clock.
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from pipelines.services.audit import verify_tenant
from pipelines.services.reports.compliance_known import known_at_relations, rewrite
from pipelines.services.reports.tax import tenant_zone
from warehouse.connection import Warehouse

MISSING = "not available in this warehouse (migration/mart missing)"

# ------------------------------------------------------------------------------------------ the quarter (pure)

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


def parse_quarter(text: str) -> tuple[int, int]:
    """"2026Q1" (or "2026-q1") → (2026, 1); ValueError otherwise."""
    match = _QUARTER.match(text)
    if match is None:
        raise ValueError(f"quarter {text!r}: write it as YYYYQn, e.g. 2026Q1")
    return int(match[1]), int(match[2])


def quarter_window(year: int, quarter: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the quarter in `zone`: midnight on its first day there, to midnight on the next quarter's."""
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone) if quarter == 4 else datetime(year, 3 * quarter + 1, 1, tzinfo=zone)
    return start, end


def last_utc_day(end: datetime) -> date:
    """The last UTC day that begins before `end` (exclusive): audit checkpoints are kept per UTC day."""
    return (end.astimezone(UTC) - timedelta(microseconds=1)).date()


# ------------------------------------------------------------------------------------------------- the sections

# Each section: (key, title, what it is and where it comes from, the SQL, the columns summed on the PDF).
# The SQL takes %(t)s (tenant), %(start)s and %(end)s (the quarter's window); its columns are the CSV's.

HOLDINGS_SQL = """
with held as (
    -- the ledger up to the quarter's last instant, read as marts.positions reads it (receipt tokens, spam left out)
    select account_id, asset, sum(quantity) as quantity, max(occurred_at) as last_movement_at
    from marts.ledger
    where tenant_id = %(t)s and occurred_at < %(end)s and entry_type not in ('defi_receipt', 'spam')
    group by account_id, asset
    having sum(quantity) <> 0
),
priced as (
    select h.*, a.kind as account_kind, a.venue, coalesce(alias.priced_as, h.asset) as priced_as,
           peg.asset is not null as pegged, p.close_usd, p.price_date, p.source_venue, p.source_symbol, p.fallback
    from held as h
    left join ops.accounts as a on a.tenant_id = %(t)s and a.account_id = h.account_id
    left join intermediate.int_price_aliases as alias on alias.asset = h.asset
    left join staging.usd_pegged_assets as peg on peg.asset = coalesce(alias.priced_as, h.asset)
    -- the last daily close at or before the quarter's end (a close is the price at the end of its UTC day), no
    -- older than 7 days: the rule of the lot marts (macro daily_close)
    left join lateral (
        select d.close_usd, d.price_date, d.source_venue, d.source_symbol, d.fallback
        from marts.prices_daily as d
        where d.asset = coalesce(alias.priced_as, h.asset)
          and (d.price_date + 1)::timestamp at time zone 'UTC' <= %(end)s
          and (d.price_date + 8)::timestamp at time zone 'UTC' > %(end)s
        order by d.price_date desc limit 1
    ) as p on true
)
select account_id, account_kind, venue, asset, quantity,
       case when pegged then 1 else close_usd end as price_usd,
       round(quantity * case when pegged then 1 else close_usd end, 2) as value_usd,
       case when pegged then 'usd_peg' when close_usd is not null then 'daily_close' else 'unpriced' end
           as price_source,
       case when pegged then null else source_venue end as price_venue,
       case when pegged then null else source_symbol end as price_symbol,
       case when pegged or close_usd is null then null else (price_date + 1)::timestamp at time zone 'UTC' end
           as priced_at,
       nullif(priced_as, asset) as priced_as,
       case when not pegged then fallback end as price_fallback,
       last_movement_at
from priced
order by account_id, asset
"""

# Deposits and withdrawals (to and from outside the tenant) apart from moves between its own accounts; each valued
# at the daily close of its UTC day (or up to 7 days before), as the lot marts value them.
FLOWS_SQL = """
with moves as (
    select l.account_id, l.asset, l.quantity, l.occurred_at,
           case when l.treatment = 'external_inflow' then 'deposit'
                when l.treatment = 'external_outflow' then 'withdrawal'
                when l.quantity > 0 then 'internal_in' else 'internal_out' end as flow,
           coalesce(alias.priced_as, l.asset) as priced_as
    from marts.ledger as l
    left join intermediate.int_price_aliases as alias on alias.asset = l.asset
    where l.tenant_id = %(t)s and l.occurred_at >= %(start)s and l.occurred_at < %(end)s
      and l.treatment in ('external_inflow', 'external_outflow', 'internal_transfer') and l.leg = 'amount'
),
valued as (
    select m.*, case when peg.asset is not null then 1 else p.close_usd end as unit_usd
    from moves as m
    left join staging.usd_pegged_assets as peg on peg.asset = m.priced_as
    left join lateral (
        select d.close_usd from marts.prices_daily as d
        where d.asset = m.priced_as and d.price_date <= (m.occurred_at at time zone 'UTC')::date
          and d.price_date >= (m.occurred_at at time zone 'UTC')::date - 7
        order by d.price_date desc limit 1
    ) as p on true
)
select account_id, flow, asset, count(*) as movements, sum(abs(quantity)) as quantity,
       round(sum(abs(quantity) * unit_usd), 2) as value_usd, count(*) filter (where unit_usd is null) as unvalued,
       min(occurred_at) as first_at, max(occurred_at) as last_at
from valued
group by account_id, flow, asset
order by account_id, array_position(array['deposit', 'withdrawal', 'internal_in', 'internal_out'], flow), asset
"""

REALIZED_SQL = """
select method, coalesce(term, 'unknown') as term, count(distinct disposal_event_id) as disposals, count(*) as slices,
       coalesce(sum(proceeds) filter (where gain is not null), 0) as proceeds,
       coalesce(sum(cost) filter (where gain is not null), 0) as cost,
       coalesce(sum(gain), 0) as gain,
       count(*) filter (where gain is null) as slices_gain_unknown,
       coalesce(sum(proceeds) filter (where gain is null), 0) as proceeds_gain_unknown
from marts.disposals
where tenant_id = %(t)s and disposed_at >= %(start)s and disposed_at < %(end)s and treatment = 'realized'
group by method, coalesce(term, 'unknown')
order by method, array_position(array['short', 'long', 'unknown'], coalesce(term, 'unknown'))
"""

# The kind of an income: what the ledger entry says it is (entry_type) and where it came from (source).
INCOME_SQL = """
select coalesce(l.entry_type, 'income') as kind, coalesce(l.source, '') as source, i.asset, count(*) as receipts,
       sum(i.quantity) as quantity, coalesce(sum(i.value_usd), 0) as value_usd,
       count(*) filter (where i.value_usd is null) as unvalued
from marts.income as i
left join marts.ledger as l on l.tenant_id = i.tenant_id and l.ledger_entry_id = i.event_id
where i.tenant_id = %(t)s and i.occurred_at >= %(start)s and i.occurred_at < %(end)s
group by 1, 2, 3
order by 1, 2, 3
"""

TRANSFER_COLUMNS = ("transfer_key", "account_id", "source", "source_record_id", "occurred_at", "direction", "asset",
                    "amount", "value", "value_currency", "threshold", "counterparty_address", "counterparty_kind",
                    "originator", "beneficiary", "txid", "unvalued")


def _transfers_sql(relation: str) -> str:
    return f"""
select {", ".join(TRANSFER_COLUMNS)}
from {relation}
where tenant_id = %(t)s and occurred_at >= %(start)s and occurred_at < %(end)s
order by occurred_at, transfer_key
"""


SCREENING_COLUMNS = ("hit_id", "account_id", "source", "source_record_id", "direction", "occurred_at", "asset",
                     "amount", "address", "list_name", "list_version", "entry_name", "entry_uid", "decision",
                     "decided_by", "decided_at", "reason")
# the quarter's hits, and older hits decided in the quarter
SCREENING_SQL = f"""
select {", ".join(SCREENING_COLUMNS)}
from marts.screening_hits
where tenant_id = %(t)s and ((occurred_at >= %(start)s and occurred_at < %(end)s)
                             or (decided_at >= %(start)s and decided_at < %(end)s))
order by occurred_at, hit_id
"""

# reconciliation_break_history keeps each build's breaks (observed_at = the build). A break (account, asset,
# difference) is open at quarter end when the last build on or before the end saw it; resolved in the quarter when
# it was seen in the quarter and a later build before the end no longer saw it.
RECONCILIATION_SQL = """
with seen as (
    select * from marts.reconciliation_break_history where tenant_id = %(t)s and observed_at < %(end)s
),
builds as (select distinct observed_at from seen),
breaks as (
    select account_id, asset, difference, min(observed_at) as first_seen_at, max(observed_at) as last_seen_at,
           count(*) as builds_seen
    from seen group by account_id, asset, difference
),
labelled as (
    select b.*,
           case when b.last_seen_at = (select max(observed_at) from builds) then 'open_at_quarter_end'
                when b.last_seen_at >= %(start)s then 'resolved_in_quarter' end as status,
           (select min(x.observed_at) from builds as x where x.observed_at > b.last_seen_at) as resolved_by_build
    from breaks as b
)
select l.status, l.account_id, l.asset, s.reported_quantity, s.computed_quantity, l.difference, s.reported_at,
       l.first_seen_at, l.last_seen_at, l.builds_seen, l.resolved_by_build
from labelled as l
join seen as s on s.account_id = l.account_id and s.asset = l.asset and s.difference = l.difference
              and s.observed_at = l.last_seen_at
where l.status is not null
order by l.status, l.account_id, l.asset
"""
RECONCILIATION_CONTEXT_SQL = """
select (select min(observed_at) from marts.reconciliation_break_history where tenant_id = %(t)s),
       (select count(*) from marts.reconciliation_breaks where tenant_id = %(t)s)
"""

QUALITY_SQL = """
select source, raw_table, check_name, count(distinct source_record_id) as records, count(*) as failed_checks,
       count(*) filter (where quarantined_at >= %(start)s and quarantined_at < %(end)s) as quarantined_in_quarter,
       min(quarantined_at) as first_quarantined_at, max(quarantined_at) as last_quarantined_at,
       (array_agg(reason order by quarantined_at desc, quarantine_id desc))[1] as example_reason
from ops.quarantine
where tenant_id = %(t)s
group by source, raw_table, check_name
order by source, raw_table, check_name
"""

KYC_SQL = """
select kyc_valid, status, verified_at, risk_rating, next_review_due, review_overdue, reason
from marts.kyc_status where tenant_id = %s
"""

CHECKPOINT_SQL = """
select day, seq, hash, created_at from audit.checkpoints
where tenant_id = %s and day <= %s and (%s::timestamptz is null or created_at <= %s)
order by day desc limit 1
"""


@dataclass(frozen=True)
class SectionSpec:
    key: str  # the CSV's file stem
    title: str
    about: str  # what it is, from where: printed under the title
    relation: str  # the relation whose absence makes the section "not available"
    sql: str
    columns: tuple[str, ...]  # the CSV's header (the SQL's columns, in order)
    totals: tuple[str, ...] = ()  # columns summed on the PDF


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("holdings", "Holdings at quarter end",
                "Quantities from the ledger (marts.ledger) up to the quarter's last instant, per account and asset, "
                "valued at the last daily close at or before the quarter end (marts.prices_daily: venue, market and "
                "close time), USD stablecoins at 1. DeFi protocol positions are contract snapshots, not ledger "
                "movements, and are not reconstructed at a past instant.",
                "marts.ledger", HOLDINGS_SQL,
                ("account_id", "account_kind", "venue", "asset", "quantity", "price_usd", "value_usd",
                 "price_source", "price_venue", "price_symbol", "priced_at", "priced_as", "price_fallback",
                 "last_movement_at"), ("value_usd",)),
    SectionSpec("flows", "Flows in and out by account",
                "Deposits and withdrawals (to or from outside the tenant) and internal transfers between its own "
                "accounts (marts.ledger treatment; pairs in marts.internal_transfers), per account, direction and "
                "asset, valued at the daily close of the day moved.",
                "marts.ledger", FLOWS_SQL,
                # in and out added together mean nothing: the summary page totals each direction
                ("account_id", "flow", "asset", "movements", "quantity", "value_usd", "unvalued", "first_at",
                 "last_at"), ("movements",)),
    SectionSpec("realized_gains", "Realized gains by lot method and term",
                "Disposals of the quarter (marts.disposals, treatment realized) by the lot method that matched them "
                "and holding term (short / long, from the UTC dates of the marts). Slices whose cost basis or "
                "proceeds are unknown are counted apart, never at zero (marts.missing_cost_basis says why).",
                "marts.disposals", REALIZED_SQL,
                ("method", "term", "disposals", "slices", "proceeds", "cost", "gain", "slices_gain_unknown",
                 "proceeds_gain_unknown"), ("proceeds", "cost", "gain", "proceeds_gain_unknown")),
    SectionSpec("income", "Income",
                "Staking, rewards, airdrops and interest received in the quarter at fair value on receipt "
                "(marts.income), by kind (the ledger's entry type), source and asset.",
                "marts.income", INCOME_SQL,
                ("kind", "source", "asset", "receipts", "quantity", "value_usd", "unvalued"), ("value_usd",)),
    SectionSpec("large_transfers", "Large transfers",
                "Transfers at or above the reporting threshold in the quarter (marts.large_transfers).",
                "marts.large_transfers", _transfers_sql("marts.large_transfers"), TRANSFER_COLUMNS, ("value",)),
    SectionSpec("unhosted_transfers", "Transfers with unhosted wallets",
                "Transfers to or from self-hosted (unhosted) wallets in the quarter "
                "(marts.unhosted_wallet_transfers).",
                "marts.unhosted_wallet_transfers", _transfers_sql("marts.unhosted_wallet_transfers"),
                TRANSFER_COLUMNS, ("value",)),
    SectionSpec("screening", "Screening hits and their decisions",
                "Sanctions-list screening hits on the quarter's transfers, and older hits decided in the quarter "
                "(marts.screening_hits): the list and entry matched, the decision, who made it and why.",
                "marts.screening_hits", SCREENING_SQL, SCREENING_COLUMNS),
    SectionSpec("reconciliation_breaks", "Reconciliation breaks open and resolved in the quarter",
                "Balance breaks (venue-reported vs ledger-computed) from marts.reconciliation_break_history: open at "
                "quarter end = seen by the last model build on or before it; resolved = seen in the quarter, not by "
                "a later build before its end.",
                "marts.reconciliation_break_history", RECONCILIATION_SQL,
                ("status", "account_id", "asset", "reported_quantity", "computed_quantity", "difference",
                 "reported_at", "first_seen_at", "last_seen_at", "builds_seen", "resolved_by_build")),
    SectionSpec("data_quality", "Data quality: quarantined rows",
                "Raw records the quality gate keeps out of the models (ops.quarantine), as of generation: a record "
                "is quarantined when it is loaded, which for a past quarter may be later. By source, raw table and "
                "check, with the newest reason; quarantined_in_quarter counts the rows quarantined during the "
                "quarter.",
                "ops.quarantine", QUALITY_SQL,
                ("source", "raw_table", "check_name", "records", "failed_checks", "quarantined_in_quarter",
                 "first_quarantined_at", "last_quarantined_at", "example_reason"),
                ("records", "failed_checks", "quarantined_in_quarter")),
)


# -------------------------------------------------------------------------------------------------- the pack


@dataclass(frozen=True)
class Section:
    spec: SectionSpec
    rows: tuple[tuple[Any, ...], ...]
    available: bool = True
    notes: tuple[str, ...] = ()  # gaps and context, printed under the section's title

    @property
    def key(self) -> str:
        return self.spec.key

    def total(self, column: str) -> Decimal:
        index = self.spec.columns.index(column)
        return sum((Decimal(row[index]) for row in self.rows if row[index] is not None), Decimal(0))


@dataclass(frozen=True)
class Kyc:
    valid: bool
    available: bool  # marts.kyc_status exists
    status: str | None = None
    verified_at: Any = None
    risk_rating: str | None = None
    next_review_due: Any = None
    review_overdue: bool | None = None
    reason: str | None = None

    @property
    def flag(self) -> str | None:
        """The cover's warning, or None when the tenant has a valid KYC record."""
        if self.valid:
            return None
        if not self.available:
            why = f"marts.kyc_status is {MISSING}"
        else:
            why = self.reason or ("no KYC row for this tenant" if self.status is None else f"status {self.status}")
        return f"No valid KYC record: {why}"


@dataclass(frozen=True)
class Checkpoint:
    day: date
    seq: int
    hash_hex: str
    created_at: datetime


@dataclass(frozen=True)
class AuditResult:
    intact: bool
    links_checked: int
    head_seq: int
    lines: tuple[str, ...]  # TenantVerdict.describe(): "ok", or the first broken link and the records
    checkpoint: Checkpoint | None
    checkpoint_day_limit: date  # the last UTC day on or before the quarter end


@dataclass(frozen=True)
class ManifestEntry:
    section: str
    file: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class PackData:
    """Everything the PDF shows (the layout reads nothing else)."""

    tenant_id: str
    tenant_name: str
    quarter: str  # "2026Q1"
    start: datetime  # in `zone`
    end: datetime  # exclusive
    zone: str
    generated_at: datetime
    generated_by: str
    version: str
    kyc: Kyc
    sections: tuple[Section, ...]
    audit: AuditResult
    manifest: tuple[ManifestEntry, ...] = ()
    manifest_file: str = ""
    manifest_sha256: str = ""
    known_at: datetime | None = None  # the pack as known then (None: as known when generated)
    as_of: datetime | None = None  # the window cut short at this instant (None: the whole quarter)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def _section(conn: psycopg.Connection, spec: SectionSpec, window: dict[str, Any],
             swaps: dict[str, str] | None = None) -> Section:
    """A section's rows; `swaps`: its relations as known at a past time (compliance_known)."""
    if not _exists(conn, spec.relation):
        return Section(spec, (), available=False, notes=(f"{spec.relation} is {MISSING}.",))
    rows = tuple(tuple(row) for row in conn.execute(rewrite(spec.sql, swaps or {}), window).fetchall())
    notes: tuple[str, ...] = ()
    if spec.key == "reconciliation_breaks":
        notes = _reconciliation_notes(conn, window, swaps or {})
    elif spec.key == "holdings":
        unpriced = sum(1 for row in rows if row[spec.columns.index("price_source")] == "unpriced")
        if unpriced:
            notes = (f"{unpriced} holding{'s' if unpriced != 1 else ''} unpriced (no daily close in the 7 days "
                     "before the quarter end): listed, left out of the total value.",)
    return Section(spec, rows, notes=notes)


def _reconciliation_notes(conn: psycopg.Connection, window: dict[str, Any],
                          swaps: dict[str, str]) -> tuple[str, ...]:
    first_build, open_now = conn.execute(rewrite(RECONCILIATION_CONTEXT_SQL, swaps), window).fetchone()
    gap = ("The history records the builds that saw a break, not the clean ones: a break is called resolved only "
           "once a later build saw other breaks; after the last recorded build it stays open here.")
    if first_build is None or first_build >= window["end"]:
        since = "no build recorded any break yet" if first_build is None else \
            f"its first recorded break is from {first_build.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return (f"No reconciliation history reaches into this quarter ({since}): the breaks of the quarter cannot "
                f"be shown. Open now: {open_now} (marts.reconciliation_breaks).", gap)
    return (gap,)


def _kyc(conn: psycopg.Connection, tenant_id: str, swaps: dict[str, str]) -> Kyc:
    if not _exists(conn, "marts.kyc_status"):
        return Kyc(valid=False, available=False)
    row = conn.execute(rewrite(KYC_SQL, swaps), (tenant_id,)).fetchone()
    if row is None:
        return Kyc(valid=False, available=True)
    valid, status, verified_at, risk, due, overdue, reason = row
    return Kyc(valid is True, True, status, verified_at, risk, due, overdue, reason)


def _audit(wh: Warehouse, conn: psycopg.Connection, tenant_id: str, end: datetime,
           known_at: datetime | None) -> AuditResult:
    verdict = verify_tenant(wh, tenant_id)
    limit = last_utc_day(end)
    row = conn.execute(CHECKPOINT_SQL, (tenant_id, limit, known_at, known_at)).fetchone()
    checkpoint = Checkpoint(row[0], int(row[1]), bytes(row[2]).hex(), row[3]) if row else None
    lines = tuple(line.strip() for line in verdict.describe())
    return AuditResult(verdict.intact, verdict.links_checked, verdict.head_seq, lines, checkpoint, limit)


def gather(wh: Warehouse, conn: psycopg.Connection, tenant_id: str, quarter: str, *, timezone: str | None = None,
           default_timezone: str = "UTC", now: datetime | None = None, generated_by: str | None = None,
           known_at: datetime | None = None, as_of: datetime | None = None) -> PackData:
    """The pack's content for `tenant_id` and `quarter` ("2026Q1") read through `conn` (the chain is verified on
    connections of its own, from `wh`). `known_at`: as the firm knew it then — the records ingested, the KYC
    entries, decisions and thresholds recorded by then (compliance_known); `as_of`: an instant inside the quarter
    that ends its window (the quarter to date). LookupError for an unknown tenant or zone, or marts not built yet;
    ValueError for an as_of outside the quarter."""
    year, number = parse_quarter(quarter)
    name, zone = tenant_zone(conn, tenant_id, timezone, default_timezone)
    if not _exists(conn, "marts.ledger"):
        raise LookupError("the marts are not built yet: run `coinbook run` first")
    start, end = quarter_window(year, number, zone)
    if as_of is not None:
        if not start <= as_of < end:
            raise ValueError(f"--as-of {as_of.isoformat()} is not inside {year}Q{number} ({start.isoformat()} to "
                             f"{end.isoformat()})")
        end = as_of + timedelta(microseconds=1)  # the window's end is exclusive; as_of is the last instant in it
    window = {"t": tenant_id, "start": start, "end": end}
    with contextlib.ExitStack() as stack:
        swaps = stack.enter_context(known_at_relations(conn, tenant_id, known_at, end)) if known_at else {}
        sections = tuple(_section(conn, spec, window, swaps) for spec in SECTIONS)
        kyc = _kyc(conn, tenant_id, swaps)
    login = conn.execute("select session_user").fetchone()[0]
    return PackData(tenant_id, name, f"{year}Q{number}", start, end, zone.key, now or datetime.now(UTC),
                    generated_by or f"{_os_user()} (database login {login})", _version(), kyc, sections,
                    _audit(wh, conn, tenant_id, end, known_at), known_at=known_at, as_of=as_of)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (e.g. a container's numeric uid)
        return "unknown user"


def _version() -> str:
    try:
        return metadata.version("coinbook")
    except metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------- CSV and manifest


def csv_value(value: Any, zone: ZoneInfo) -> str:
    """A cell: Decimals exact without exponent, times in the report's zone (ISO 8601 with offset), text made safe
    for spreadsheets (a leading = + - @ would be read as a formula), None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.match(text) else text


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def section_csv(section: Section, zone: ZoneInfo) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(section.spec.columns)
    writer.writerows([csv_value(value, zone) for value in row] for row in section.rows)
    return buffer.getvalue().encode("utf-8")


MANIFEST_COLUMNS = ("section", "file", "rows", "sha256")


def manifest_csv(entries: Sequence[ManifestEntry]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows((e.section, e.file, e.rows, e.sha256) for e in entries)
    return buffer.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class CompliancePack:
    directory: Path
    pdf_path: Path
    manifest_path: Path
    manifest_sha256: str
    data: PackData
    pages: int


def pack_name(tenant_id: str, quarter: str, known_at: datetime | None = None, as_of: datetime | None = None) -> str:
    """The pack's folder (and PDF) name: compliance_<tenant>_<quarter>[_asof_<UTC>][_known_<UTC>] — a pack as known
    at a past time never overwrites the current one, and a re-performed one lands under the same name."""
    stamp = "%Y%m%dT%H%M%S%fZ"
    return (f"compliance_{tenant_id}_{quarter}" + (f"_asof_{as_of.astimezone(UTC):{stamp}}" if as_of else "")
            + (f"_known_{known_at.astimezone(UTC):{stamp}}" if known_at else ""))


def write_compliance_pack(wh: Warehouse, tenant_id: str, quarter: str, out_dir: Path, *,
                          timezone: str | None = None, default_timezone: str = "UTC",
                          conn: psycopg.Connection | None = None, now: datetime | None = None,
                          known_at: datetime | None = None, as_of: datetime | None = None) -> CompliancePack:
    """The pack into `out_dir`/<pack_name>/: one CSV per section, manifest.csv, and the PDF. `conn`: read through
    this connection (e.g. inside a transaction of the caller's) instead of a new one. `known_at`, `as_of`: see
    gather; the CSVs of a pack as known at K depend on K, not on when it is produced (re-perform it and compare the
    manifest's sha256)."""
    from pipelines.services.reports.compliance_pdf import render_pack  # fpdf is only needed here

    options = {"timezone": timezone, "default_timezone": default_timezone, "now": now, "known_at": known_at,
               "as_of": as_of}
    if conn is None:
        with wh.connect() as own:
            data = gather(wh, own, tenant_id, quarter, **options)  # type: ignore[arg-type]
    else:
        data = gather(wh, conn, tenant_id, quarter, **options)  # type: ignore[arg-type]
    zone = ZoneInfo(data.zone)
    directory = Path(out_dir) / pack_name(tenant_id, data.quarter, known_at, as_of)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for section in data.sections:
        content = section_csv(section, zone)
        name = f"{section.key}.csv"
        (directory / name).write_bytes(content)
        entries.append(ManifestEntry(section.key, name, len(section.rows), hashlib.sha256(content).hexdigest()))
    manifest = manifest_csv(entries)
    manifest_path = directory / "manifest.csv"
    manifest_path.write_bytes(manifest)
    digest = hashlib.sha256(manifest).hexdigest()
    data = replace(data, manifest=tuple(entries), manifest_file=manifest_path.name, manifest_sha256=digest)
    pdf, pages = render_pack(data)
    pdf_path = directory / f"{directory.name}.pdf"
    pdf_path.write_bytes(pdf)
    return CompliancePack(directory, pdf_path, manifest_path, digest, data, pages)
