"""The pure part of the as-of reports (pipelines/domain/asof.py): instants, a table as recorded at K, lot events
restated as they were at K, and the report's bytes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pipelines.domain.asof import (
    Basis,
    HistoryRow,
    KnownEvent,
    as_recorded,
    end_of_day,
    events_as_known,
    parse_instant,
    render_csv,
)
from pipelines.domain.lots import LotEvent

NY = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_date_is_the_end_of_that_day_in_the_tenants_zone() -> None:
    assert end_of_day(date(2026, 3, 31), NY).astimezone(UTC) == datetime(2026, 4, 1, 3, 59, 59, 999999, tzinfo=UTC)
    assert parse_instant("2026-03-31", NY) == end_of_day(date(2026, 3, 31), NY)
    assert parse_instant("2026-04-05T12:00:00Z", NY) == at("2026-04-05 12:00:00")
    assert parse_instant("2026-04-05T08:00:00", NY) == at("2026-04-05 12:00:00")  # no offset: the tenant's zone


def test_a_table_as_recorded_is_each_keys_latest_version_by_then_and_a_delete_removes_it() -> None:
    h = [HistoryRow("e1", at("2026-04-01 10:00"), 1, "insert", {"cost": 10}),
         HistoryRow("e2", at("2026-04-01 11:00"), 2, "insert", {"cost": 5}),
         HistoryRow("e1", at("2026-04-03 10:00"), 3, "update", {"cost": 12}),
         HistoryRow("e2", at("2026-04-04 10:00"), 4, "delete", {"cost": 5})]
    assert as_recorded(h, at("2026-03-31 00:00")) == {}
    assert as_recorded(h, at("2026-04-02 00:00")) == {"e1": {"cost": 10}, "e2": {"cost": 5}}
    assert as_recorded(h, at("2026-04-03 10:00")) == {"e1": {"cost": 12}, "e2": {"cost": 5}}  # K itself included
    assert as_recorded(reversed(h), at("2026-04-05 00:00")) == {"e1": {"cost": 12}}


def known(event_id: str, kind: str, *, transfer: str | None = None, source: str = "trade",
          account: str = "a1") -> KnownEvent:
    return KnownEvent(LotEvent(event_id, account, "BTC", at("2026-01-01 00:00"), kind, Decimal(1), Decimal(0),
                               transfer, source), account, "p1", None, False, False, None)


def test_lot_events_as_known_restate_what_k_did_not_know() -> None:
    events = [known("out1", "transfer_out", transfer="m1", source="internal_transfer"),
              known("in2", "transfer_in", transfer="m2", source="internal_transfer", account="a2"),
              known("dep", "acquire", source="external_inflow"),
              known("o3", "transfer_out", transfer="m3", source="internal_transfer"),
              known("i3", "transfer_in", transfer="m3", source="internal_transfer", account="a2")]
    basis = {"in2": Basis(Decimal("100.005"), None), "dep": Basis(Decimal("7"), at("2024-01-01 00:00"))}
    out = {e.event.event_id: e for e in events_as_known(events, basis, universal_book=False)}
    # the in-leg of m1 was not known yet: its out-leg was a withdrawal then
    assert (out["out1"].event.kind, out["out1"].event.transfer_id) == ("withdraw", None)
    # the out-leg of m2 was not known: a deposit from outside, at the basis recorded then (to the cent)
    assert (out["in2"].event.kind, out["in2"].event.value, out["in2"].basis_unknown) == ("acquire", Decimal("100.01"),
                                                                                         False)
    assert (out["dep"].event.value, out["dep"].basis_acquired_at) == (Decimal(7), at("2024-01-01 00:00"))
    assert out["o3"].event.kind == "transfer_out" and out["i3"].event.kind == "transfer_in"
    assert out["i3"].event.book == "a2"
    # no basis recorded at K: unknown, never zero cost; a match made by an override K did not know: undone
    again = {e.event.event_id: e for e in events_as_known(events, {}, universal_book=True,
                                                          unmatched=frozenset({"m3"}))}
    assert again["dep"].basis_unknown and again["o3"].event.kind == "withdraw"
    assert again["i3"].event.kind == "acquire" and {e.event.book for e in again.values()} == {"*"}


def test_the_report_bytes_depend_on_the_rows_only_and_name_their_hash() -> None:
    a = render_csv(["as_of: x"], ["asset", "quantity", "at"],
                   [("BTC", Decimal("0.600000000000000000"), at("2026-01-01 00:00")), ("USD", Decimal("-5E+3"), None)])
    b = render_csv(["as_of: x"], ["asset", "quantity", "at"],
                   [("BTC", Decimal("0.6"), at("2026-01-01 00:00")), ("USD", Decimal(-5000), None)])
    assert a.content == b.content and a.rows == 2
    assert a.content.decode().splitlines()[-2:] == ["BTC,0.6,2026-01-01T00:00:00.000000Z", "USD,-5000,"]
    assert f"# rows_sha256: {a.rows_sha256}" in a.content.decode()
