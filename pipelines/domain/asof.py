"""As-of reports, the pure part (issue 16 §4): what was known, when. Two times: the valid time T (what happened up to
T) and the knowledge time K (what the warehouse had been told by K: raw rows ingested, human changes recorded). No
I/O here; pipelines/services/reports/asof.py reads the warehouse and calls these.

- `end_of_day`, `parse_instant`: a date means the end of that day in the tenant's tax zone (its last microsecond,
  PostgreSQL's resolution, so `<= instant` takes the whole day).
- `as_recorded`: a human-change table as it stood at K, from its append-only history (V025).
- `events_as_known`: the lot events the current models give, restated as they were at K — cost basis recorded at
  K, book scope at K, and a transfer whose other leg was not yet known booked as what it was then (a withdrawal out,
  a deposit from outside in).
- `disposal_rows`: the engine's slices in marts.disposals' columns, with its rules (unknown basis, average pools).
- `render_csv`: the report as bytes, its header naming as_of, known_at and the sha256 of its rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.domain.lots import DisposalSlice, LotEvent

LAST_MICROSECOND = time(23, 59, 59, 999999)


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The last instant of `day` in `zone` (23:59:59.999999 there)."""
    return datetime.combine(day, LAST_MICROSECOND, tzinfo=zone)


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """'YYYY-MM-DD' → the end of that day in `zone`; an ISO timestamp → that instant (without an offset: in `zone`).
    ValueError for anything else."""
    text = text.strip()
    if len(text) == 10:
        return end_of_day(date.fromisoformat(text), zone)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@dataclass(frozen=True)
class HistoryRow:
    """A row of ops.<table>_history (V025)."""

    record_key: str
    recorded_at: datetime
    history_id: int
    op: str  # existing | insert | update | delete
    row: Mapping[str, Any]


def as_recorded(history: Iterable[HistoryRow], known_at: datetime) -> dict[str, Mapping[str, Any]]:
    """The table as it stood at `known_at`: per key, the latest version recorded at or before it, unless that
    version is a delete."""
    latest: dict[str, HistoryRow] = {}
    for h in history:
        if h.recorded_at > known_at:
            continue
        seen = latest.get(h.record_key)
        if seen is None or (h.recorded_at, h.history_id) > (seen.recorded_at, seen.history_id):
            latest[h.record_key] = h
    return {key: h.row for key, h in sorted(latest.items()) if h.op != "delete"}


@dataclass(frozen=True)
class KnownEvent:
    """A lot event with what marts.disposals needs beside the engine's input."""

    event: LotEvent
    account_id: str
    portfolio_id: str | None
    counter_asset: str | None
    basis_unknown: bool
    proceeds_unknown: bool
    basis_acquired_at: datetime | None


@dataclass(frozen=True)
class Basis:
    cost: Decimal
    acquired_at: datetime | None


def cents(amount: Decimal) -> Decimal:
    """As int_lot_events rounds values: round(value, 2), half away from zero (PostgreSQL's numeric round)."""
    return amount.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def _from_outside(e: KnownEvent, basis: Mapping[str, Basis]) -> KnownEvent:
    """A deposit from outside: acquired at the cost basis recorded for it, else of unknown basis."""
    b = basis.get(e.event.event_id)
    event = replace(e.event, kind="acquire", transfer_id=None, source="external_inflow",
                    value=cents(b.cost) if b else Decimal(0))
    return replace(e, event=event, basis_unknown=b is None, basis_acquired_at=b.acquired_at if b else None)


# the sources of int_lot_events' rows that read ops.cost_basis (its other_events)
JOINED_TO_BASIS = frozenset({"income", "internal_transfer", "external_outflow"})


def events_as_known(events: Sequence[KnownEvent], basis: Mapping[str, Basis], universal_book: bool,
                    unmatched: frozenset[str] = frozenset()) -> list[KnownEvent]:
    """`events` (already limited to what was known) as they stood at K. `basis`: ops.cost_basis as recorded at K, by
    entry id; `universal_book`: the book scope at K; `unmatched`: transfer ids whose match K did not know (an
    override recorded later). A transfer leg whose other leg is missing (not yet ingested at K) or unmatched is
    what the ledger called it without the match: out → withdrawal (lots leave at cost), in → deposit from outside."""
    outs = {e.event.transfer_id for e in events if e.event.kind == "transfer_out"}
    ins = {e.event.transfer_id for e in events if e.event.kind == "transfer_in"}
    known: list[KnownEvent] = []
    for e in events:
        ev = e.event
        if ev.kind == "transfer_out" and (ev.transfer_id not in ins or ev.transfer_id in unmatched):
            e = replace(e, event=replace(ev, kind="withdraw", transfer_id=None, source="external_outflow"))
        elif (ev.kind == "transfer_in" and (ev.transfer_id not in outs or ev.transfer_id in unmatched)) or (
                ev.kind == "acquire" and ev.source == "external_inflow"):
            e = _from_outside(e, basis)
        elif ev.source in JOINED_TO_BASIS:
            # int_lot_events joins ops.cost_basis to these entries too: their acquisition date as recorded at K
            b = basis.get(ev.event_id)
            e = replace(e, basis_acquired_at=b.acquired_at if b else None)
        book = "*" if universal_book else e.account_id
        known.append(replace(e, event=replace(e.event, book=book)))
    return known


DISPOSAL_COLUMNS = (
    "tenant_id", "portfolio_id", "account_id", "book", "asset", "disposal_event_id", "slice_no", "lot_id",
    "lot_event_id", "lot_source", "disposal_kind", "disposal_source", "counter_asset", "treatment", "quantity",
    "proceeds", "cost", "gain", "cost_booked", "proceeds_booked", "basis_known", "acquired_at", "disposed_at",
    "holding_days", "term", "tax_year", "method")


def _anniversary(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February + 1 year is 28 February, as PostgreSQL's date + interval '1 year'
        return day.replace(year=day.year + 1, day=28)


def disposal_rows(tenant: str, slices: Sequence[DisposalSlice], events: Sequence[KnownEvent]) -> list[tuple[Any, ...]]:
    """The engine's slices as marts.disposals rows (its columns, its rules; dates in UTC as the mart's)."""
    by_id = {e.event.event_id: e for e in events}
    numbering: dict[str, int] = {}
    rows = []
    for s in slices:
        n = numbering[s.disposal_id] = numbering.get(s.disposal_id, 0) + 1
        d = by_id[s.disposal_id]
        lot_event_id = s.lot_id.split(">")[0]
        a = by_id.get(lot_event_id)
        basis_unknown = a.basis_unknown if a is not None else True
        pool_incomplete = s.method.value == "average" and any(
            u.basis_unknown and u.event.book == s.book and u.event.asset == d.event.asset
            and u.event.at <= s.disposed_at for u in events)
        removed = d.event.kind == "withdraw"
        no_cost = basis_unknown or pool_incomplete
        acquired = a.basis_acquired_at if a is not None and a.basis_acquired_at else s.acquired_at
        utc_acquired = acquired.astimezone(ZoneInfo("UTC")).date() if acquired else None
        utc_disposed = s.disposed_at.astimezone(ZoneInfo("UTC")).date()
        rows.append((
            tenant, d.portfolio_id, d.account_id, s.book, d.event.asset, s.disposal_id, n, s.lot_id, lot_event_id,
            a.event.source if a is not None else None, d.event.kind, d.event.source, d.counter_asset,
            "removed" if removed else "realized", s.quantity,
            None if removed or d.proceeds_unknown else s.proceeds,
            None if no_cost else s.cost,
            None if removed or d.proceeds_unknown or no_cost else s.proceeds - s.cost,
            s.cost, s.proceeds, not no_cost, acquired, s.disposed_at,
            (utc_disposed - utc_acquired).days if utc_acquired else None,
            None if utc_acquired is None else ("long" if utc_disposed > _anniversary(utc_acquired) else "short"),
            utc_disposed.year, s.method.value))
    return rows


def cell(value: Any) -> str:
    """One canonical text per value, so the same figures give the same bytes: decimals without trailing zeros,
    instants in UTC ISO 8601 with microseconds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


@dataclass(frozen=True)
class Rendered:
    content: bytes
    rows_sha256: str
    rows: int


def render_csv(header_lines: Sequence[str], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Rendered:
    """`# `-prefixed header lines (what the report is: tenant, as_of, known_at, zone), then a line with the sha256 of
    the CSV that follows it (column line and rows), then that CSV. Nothing in it depends on when it was written."""
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        count += 1
    data = body.getvalue().encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    head = "".join(f"# {line}\n" for line in [*header_lines, f"rows: {count}", f"rows_sha256: {digest}"])
    return Rendered(head.encode("utf-8") + data, digest, count)
