"""`coinbook report tax`: a tenant's tax year from the lot marts — Form 8949 (CSV + PDF, one line per lot slice,
with the slices whose cost basis is unknown listed apart after Part II) and, beside it, missing_cost_basis (what
to fix, with the reason) and the year's income.

The tax year, and the dates printed on the form, are taken in the tenant's time zone (ops.tenants.tax_timezone,
else COINBOOK_TAX_TIMEZONE, default UTC): a sale at 23:30 on 31 December in New York is 04:30 UTC on 1 January,
and belongs to the New York tenant's old year. The marts' own `tax_year` and dates are UTC, so the report selects
by a window of timestamps instead (`tax_year_window`).

Every slice of marts.disposals in the window is counted exactly once (`shape_year`): a line of the form (realized,
gain known), a line not on the form (realized, cost basis or proceeds unknown), or an unexplained withdrawal
(treatment 'removed': not a sale, so on no line; it is classified in transfer_review). Quantity a disposal took
beyond every lot its book held has no slice: it comes from missing_cost_basis (reason no_lots) as a line not on
the form too.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import psycopg

from pipelines.services.compliance import kyc_flag
from pipelines.services.reports.form8949 import (
    Form8949Line,
    UnknownBasis,
    UnknownBasisLine,
    describe,
    unknown_basis,
    write_form_8949,
)
from warehouse.connection import Warehouse

# The columns of `Slice`, in its order: every slice of the window, whatever its treatment (see shape_year).
SLICES_SQL = """
select asset, quantity, acquired_at, disposed_at, proceeds, cost, term, treatment, basis_known, method,
       disposal_event_id, slice_no, lot_id, account_id
from marts.disposals
where tenant_id = %s and disposed_at >= %s and disposed_at < %s
order by disposed_at, disposal_event_id, slice_no
"""

# Disposed-of quantity no lot covered: no slice in marts.disposals, so listed from here (columns of `Uncovered`).
UNCOVERED_SQL = """
select asset, quantity, occurred_at, proceeds, event_id, account_id
from marts.missing_cost_basis
where tenant_id = %s and reason = 'no_lots' and kind = 'dispose' and occurred_at >= %s and occurred_at < %s
order by occurred_at, event_id
"""

MISSING_COLUMNS = ["event_id", "account_id", "asset", "kind", "source", "occurred_at", "quantity", "proceeds",
                   "reason", "detail", "lot_event_id"]
MISSING_SQL = f"""
select {", ".join(MISSING_COLUMNS)}
from marts.missing_cost_basis
where tenant_id = %s and occurred_at >= %s and occurred_at < %s
order by occurred_at, event_id
"""

INCOME_SQL = """
select count(*), coalesce(sum(value_usd), 0), count(*) filter (where value_usd is null)
from marts.income where tenant_id = %s and occurred_at >= %s and occurred_at < %s
"""

# The tenant's zone. to_jsonb reads the column whether or not V015 has been applied to this database yet (the
# report needs no migration of its own: without the column, the setting decides).
TENANT_SQL = "select name, to_jsonb(t) ->> 'tax_timezone' from ops.tenants as t where tenant_id = %s"



def tenant_zone(conn: psycopg.Connection[Any], tenant_id: str, timezone: str | None = None,
                default_timezone: str = "UTC") -> tuple[str, ZoneInfo]:
    """The tenant's name and the zone its reports are in — `timezone` when given, else the tenant's
    (ops.tenants.tax_timezone), else `default_timezone` (COINBOOK_TAX_TIMEZONE). Every report resolves it here.
    LookupError for an unknown tenant or zone."""
    known = conn.execute(TENANT_SQL, (tenant_id,)).fetchone()
    if known is None:
        raise LookupError(f"no tenant {tenant_id!r} (see `coinbook accounts list`)")
    name, own = known
    return name, tax_zone(timezone or own or default_timezone)


# ------------------------------------------------------------------------------------------------ dates (pure)


def tax_zone(name: str) -> ZoneInfo:
    """The IANA zone `name` ("America/New_York", "UTC"; any case, as PostgreSQL accepts it); LookupError saying
    so when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        same = [zone for zone in available_timezones() if zone.lower() == name.lower()]
        if len(same) == 1:
            return ZoneInfo(same[0])
        raise LookupError(f"unknown time zone {name!r}: use an IANA name such as 'America/New_York' or 'UTC'") from None


def tax_year_window(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of tax year `year` in `zone`: midnight on 1 January there, to midnight a year later."""
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar date of `moment` in `zone` (what the form prints). A naive datetime is refused: its zone
    would be a guess."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: a timestamp needs its zone")
    return moment.astimezone(zone).date()


def tax_year_of(moment: datetime, zone: ZoneInfo) -> int:
    return local_date(moment, zone).year


def holding_term(acquired: date, sold: date) -> str:
    """"long" when sold after the first anniversary of the acquisition date, else "short" (the IRS's "more than
    one year"). The anniversary of 29 February is 28 February, as in the marts (`date + interval '1 year'`)."""
    try:
        anniversary = acquired.replace(year=acquired.year + 1)
    except ValueError:  # 29 February
        anniversary = acquired.replace(year=acquired.year + 1, day=28)
    return "long" if sold > anniversary else "short"


# ------------------------------------------------------------------------------------------ the year (pure)


@dataclass(frozen=True)
class Slice:
    """A row of marts.disposals (the columns of SLICES_SQL)."""

    asset: str
    quantity: Decimal
    acquired_at: datetime | None
    disposed_at: datetime
    proceeds: Decimal | None
    cost: Decimal | None
    term: str | None
    treatment: str  # realized | removed
    basis_known: bool
    method: str
    disposal_event_id: str
    slice_no: int
    lot_id: str
    account_id: str

    @property
    def reference(self) -> str:
        return f"{self.account_id}: {self.disposal_event_id}/{self.slice_no} lot {self.lot_id}"


@dataclass(frozen=True)
class Uncovered:
    """Quantity a disposal took beyond every lot of its book (marts.missing_cost_basis, reason no_lots)."""

    asset: str
    quantity: Decimal
    occurred_at: datetime
    proceeds: Decimal | None
    event_id: str
    account_id: str


@dataclass(frozen=True)
class TaxYear:
    lines: tuple[Form8949Line, ...]  # on the form
    unknown: tuple[UnknownBasisLine, ...]  # not on the form: cost basis or proceeds unknown
    removed: int  # slices of unexplained withdrawals: not sales, on no line


def _unknown_reason(piece: Slice, zone: ZoneInfo) -> str:
    """Short enough for the PDF's column; the README's troubleshooting says what to do for each."""
    if piece.basis_known:
        return "no price on the day of sale"
    if piece.method == "average":
        return "unknown basis in the average pool"
    # the lot's date is when the coins came in from outside, not when they were bought: the deposit to look up
    return f"unknown basis: deposit of {local_date(piece.acquired_at, zone):%m/%d/%Y}" if piece.acquired_at \
        else "unknown basis"


def _form_line(piece: Slice, proceeds: Decimal, cost: Decimal, zone: ZoneInfo) -> Form8949Line:
    sold = local_date(piece.disposed_at, zone)
    acquired = local_date(piece.acquired_at, zone) if piece.acquired_at else None
    term = holding_term(acquired, sold) if acquired else piece.term
    return Form8949Line(describe(piece.quantity, piece.asset), acquired, sold, proceeds, cost, term=term or "",
                        reference=piece.reference)


def _unknown_line(piece: Slice, zone: ZoneInfo) -> UnknownBasisLine:
    sold = local_date(piece.disposed_at, zone)
    # an unknown basis has no acquisition date either: the lot's date is only when the coins came in
    acquired = local_date(piece.acquired_at, zone) if piece.acquired_at and piece.basis_known else None
    return UnknownBasisLine(describe(piece.quantity, piece.asset), acquired, sold, piece.proceeds,
                            _unknown_reason(piece, zone), cost=piece.cost if piece.basis_known else None,
                            term=holding_term(acquired, sold) if acquired else "", disposal=piece.disposal_event_id,
                            reference=piece.reference)


def _uncovered_line(rest: Uncovered, zone: ZoneInfo) -> UnknownBasisLine:
    return UnknownBasisLine(describe(rest.quantity, rest.asset), None, local_date(rest.occurred_at, zone),
                            rest.proceeds, "no lots: purchase history missing",
                            disposal=rest.event_id, reference=f"{rest.account_id}: {rest.event_id} beyond every lot")


def shape_year(slices: Sequence[Slice], uncovered: Sequence[Uncovered], zone: ZoneInfo) -> TaxYear:
    """The year's slices sorted into form lines, lines not on the form, and unexplained withdrawals; dates in
    `zone`. Each slice lands in exactly one of the three."""
    lines: list[Form8949Line] = []
    unknown: list[tuple[datetime, UnknownBasisLine]] = []
    removed = 0
    for piece in slices:
        if piece.treatment == "removed":
            removed += 1
        elif piece.proceeds is not None and piece.cost is not None:
            lines.append(_form_line(piece, piece.proceeds, piece.cost, zone))
        else:
            unknown.append((piece.disposed_at, _unknown_line(piece, zone)))
    unknown += [(rest.occurred_at, _uncovered_line(rest, zone)) for rest in uncovered]
    unknown.sort(key=lambda pair: pair[0])  # stable: slices keep their order within a disposal
    return TaxYear(tuple(lines), tuple(line for _, line in unknown), removed)


# ---------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class TaxReport:
    csv_path: Path
    pdf_path: Path
    missing_path: Path
    timezone: str  # the zone the year and the dates were taken in
    lines: int  # on the form
    proceeds: Decimal
    cost: Decimal
    short_term: Decimal
    long_term: Decimal
    unknown: UnknownBasis  # not on the form: listed apart in it, counted in no total
    removed: int  # slices of unexplained withdrawals in the year: not sales, on no line
    missing: int  # rows of missing_cost_basis_*.csv (one per reason: what to fix)
    income_events: int
    income_usd: Decimal
    kyc_flag: str | None = None  # the tenant has no valid KYC record: on every page of the PDF and in the CLI


def write_tax_report(wh: Warehouse, tenant_id: str, tax_year: int, out_dir: Path, *, timezone: str | None = None,
                     default_timezone: str = "UTC") -> TaxReport:
    """Form 8949 of `tenant_id` for `tax_year` into `out_dir`. The zone: `timezone` when given, else the tenant's
    (ops.tenants.tax_timezone), else `default_timezone` (COINBOOK_TAX_TIMEZONE). LookupError for an unknown tenant
    or zone, or marts not built yet."""
    with wh.connect() as conn:
        name, zone = tenant_zone(conn, tenant_id, timezone, default_timezone)
        zone_name = zone.key
        if conn.execute("select to_regclass('marts.disposals') is null").fetchone()[0]:
            raise LookupError("the lot marts are not built yet: run `coinbook run` first")
        window = (tenant_id, *tax_year_window(tax_year, zone))
        slices = [Slice(*row) for row in conn.execute(SLICES_SQL, window).fetchall()]
        uncovered = [Uncovered(*row) for row in conn.execute(UNCOVERED_SQL, window).fetchall()]
        missing = conn.execute(MISSING_SQL, window).fetchall()
        income_events, income_usd, _unpriced = conn.execute(INCOME_SQL, window).fetchone()
    year = shape_year(slices, uncovered, zone)
    flag = kyc_flag(wh, tenant_id)
    csv_path, pdf_path = write_form_8949(year.lines, out_dir, taxpayer=f"{name} ({tenant_id})", tax_year=tax_year,
                                         basename=f"form8949_{tenant_id}_{tax_year}", unknown=year.unknown,
                                         flag=flag)
    missing_path = out_dir / f"missing_cost_basis_{tenant_id}_{tax_year}.csv"
    with missing_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MISSING_COLUMNS)
        writer.writerows(missing)
    gains = {term: sum((line.gain for line in year.lines if line.term == term), Decimal(0))
             for term in ("short", "long")}
    return TaxReport(csv_path, pdf_path, missing_path, zone_name, len(year.lines),
                     sum((line.proceeds for line in year.lines), Decimal(0)),
                     sum((line.cost for line in year.lines), Decimal(0)), gains["short"], gains["long"],
                     unknown_basis(year.unknown), year.removed, len(missing), int(income_events), Decimal(income_usd),
                     flag)
