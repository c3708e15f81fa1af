"""`coinbook report tax`: a tenant's tax year from the lot marts — Form 8949 (CSV + PDF, one line per lot slice)
and, beside it, what could not go on the form (missing_cost_basis) and the year's income."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.services.reports.form8949 import Form8949Line, describe, write_form_8949
from warehouse.connection import Warehouse

# Realized slices with a known basis and known proceeds. One line per lot slice: each has its own acquisition
# date and term, and the reference ties it back to the disposal and the lot (marts.disposals).
LINES_SQL = """
select asset, quantity, cast(acquired_at as date), cast(disposed_at as date), proceeds, cost, term,
       disposal_event_id || '/' || slice_no || ' lot ' || lot_id, account_id
from marts.disposals
where tenant_id = %s and tax_year = %s and treatment = 'realized' and gain is not null
order by disposed_at, disposal_event_id, slice_no
"""

MISSING_SQL = """
select event_id, account_id, asset, kind, source, occurred_at, quantity, proceeds, reason, detail, lot_event_id
from marts.missing_cost_basis
where tenant_id = %s and extract(year from occurred_at) = %s
order by occurred_at, event_id
"""

INCOME_SQL = """
select count(*), coalesce(sum(value_usd), 0), count(*) filter (where value_usd is null)
from marts.income where tenant_id = %s and tax_year = %s
"""


@dataclass(frozen=True)
class TaxReport:
    csv_path: Path
    pdf_path: Path
    missing_path: Path
    lines: int
    proceeds: Decimal
    cost: Decimal
    short_term: Decimal
    long_term: Decimal
    missing: int
    income_events: int
    income_usd: Decimal


def write_tax_report(wh: Warehouse, tenant_id: str, tax_year: int, out_dir: Path) -> TaxReport:
    with wh.connect() as conn:
        known = conn.execute("select name from ops.tenants where tenant_id = %s", (tenant_id,)).fetchone()
        if known is None:
            raise LookupError(f"no tenant {tenant_id!r} (see `coinbook accounts list`)")
        if conn.execute("select to_regclass('marts.disposals') is null").fetchone()[0]:
            raise LookupError("the lot marts are not built yet: run `coinbook run` first")
        rows = conn.execute(LINES_SQL, (tenant_id, tax_year)).fetchall()
        missing = conn.execute(MISSING_SQL, (tenant_id, tax_year)).fetchall()
        income_events, income_usd, _unpriced = conn.execute(INCOME_SQL, (tenant_id, tax_year)).fetchone()
    lines = [Form8949Line(describe(Decimal(qty), asset), acquired, sold, Decimal(proceeds), Decimal(cost),
                          term=term, reference=f"{account}: {ref}")
             for asset, qty, acquired, sold, proceeds, cost, term, ref, account in rows]
    csv_path, pdf_path = write_form_8949(lines, out_dir, taxpayer=f"{known[0]} ({tenant_id})", tax_year=tax_year,
                                         basename=f"form8949_{tenant_id}_{tax_year}")
    missing_path = out_dir / f"missing_cost_basis_{tenant_id}_{tax_year}.csv"
    with missing_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "account_id", "asset", "kind", "source", "occurred_at", "quantity", "proceeds",
                         "reason", "detail", "lot_event_id"])
        writer.writerows(missing)
    short = sum((Decimal(r[4]) - Decimal(r[5]) for r in rows if r[6] == "short"), Decimal(0))
    long_ = sum((Decimal(r[4]) - Decimal(r[5]) for r in rows if r[6] == "long"), Decimal(0))
    return TaxReport(csv_path, pdf_path, missing_path, len(lines), sum((line.proceeds for line in lines), Decimal(0)),
                     sum((line.cost for line in lines), Decimal(0)), short, long_, len(missing), int(income_events),
                     Decimal(income_usd))
