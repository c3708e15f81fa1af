"""The fast lot engine gives the reference engine's results to the last digit, on the hand-worked history and
on random histories (with transfers between books, missing basis, fees), for every method."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.lots import LotEvent, LotResult, Method, Precision, compute_lots
from pipelines.domain.lots_fast import _compare_unit_costs, _mul_div, compute_lots_fast
from tests.unit.test_lot_engine import HISTORY, NEAR_UNIT_COSTS, SIX_PIECES, histories

METHODS = (Method.FIFO, Method.LIFO, Method.HIFO, Method.AVERAGE, Method.SPECIFIC)


def comparable(result: LotResult) -> tuple[object, ...]:
    return (result.slices,
            [(lot.lot_id, lot.book, lot.asset, lot.acquired_at, lot.quantity, lot.cost) for lot in result.open_lots],
            result.missing, result.transfers)


@pytest.mark.parametrize("method", METHODS)
def test_hand_worked_history(method: Method) -> None:
    assert comparable(compute_lots_fast(HISTORY, method)) == comparable(compute_lots(HISTORY, method))
    assert comparable(compute_lots_fast(SIX_PIECES, method)) == comparable(compute_lots(SIX_PIECES, method))


@settings(max_examples=200, deadline=None)
@given(histories())
def test_random_histories_agree_to_the_last_digit(events: list[LotEvent]) -> None:
    for method in METHODS:
        assert comparable(compute_lots_fast(events, method)) == comparable(compute_lots(events, method)), method


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_random_specific_identifications_agree_warnings_included(events: list[LotEvent], data: st.DataObject) -> None:
    """Chosen lots that are open, emptied, in the other book, not yet acquired or unknown; too much or too little."""
    lot_ids = [e.event_id for e in events if e.kind == "acquire"] + ["nope"]
    selections = {e.event_id: data.draw(st.lists(st.tuples(st.sampled_from(lot_ids), st.decimals(
        min_value=Decimal("-0.1"), max_value=Decimal(3), places=4)), max_size=3))
        for e in events if e.kind == "dispose"}
    for default in (Method.FIFO, Method.HIFO):
        fast = compute_lots_fast(events, Method.SPECIFIC, default=default, selections=selections)
        reference = compute_lots(events, Method.SPECIFIC, default=default, selections=selections)
        assert comparable(fast) == comparable(reference)
        assert fast.warnings == reference.warnings


def test_a_share_beyond_28_digits_agrees_to_the_last_digit() -> None:
    """The issue's case (worked in test_lot_engine.py): both engines give the exact floor, …891."""
    start = HISTORY[0].at
    events = [LotEvent("L1", "A", "TOK", start, "acquire", Decimal("10000000.00000000"), Decimal("468210.6094632027")),
              LotEvent("S1", "A", "TOK", start.replace(month=2), "dispose", Decimal("4343428.76245037"),
                       Decimal("250000"))]
    for method in METHODS:
        fast, reference = compute_lots_fast(events, method), compute_lots(events, method)
        assert fast.engine == "fast"
        assert comparable(fast) == comparable(reference), method
        assert fast.slices[0].cost == Decimal("203363.9428026891")


@pytest.mark.parametrize(("older", "newer"), NEAR_UNIT_COSTS)
def test_hifo_ranks_near_unit_costs_as_the_reference(older: tuple[Decimal, Decimal],
                                                     newer: tuple[Decimal, Decimal]) -> None:
    """Unit costs equal as float64 (or in 28 digits) but not exactly: the fast engine takes the dearer lot, as the
    reference does (test_lot_engine.py works out which), also as the specific method's fallback, and for a lot
    that a transfer carried into the book."""
    start = HISTORY[0].at
    (q_old, c_old), (q_new, c_new) = older, newer
    events = [LotEvent("old", "A", "TOK", start, "acquire", q_old, c_old),
              LotEvent("new", "B", "TOK", start.replace(year=2025), "acquire", q_new, c_new),
              LotEvent("o", "B", "TOK", start.replace(year=2025, month=2), "transfer_out", q_new, transfer_id="t"),
              LotEvent("i", "A", "TOK", start.replace(year=2025, month=2), "transfer_in", q_new, transfer_id="t"),
              LotEvent("S1", "A", "TOK", start.replace(year=2025, month=3), "dispose", Decimal(10), Decimal(9))]
    for method, default in ((Method.HIFO, Method.FIFO), (Method.SPECIFIC, Method.HIFO)):
        fast = compute_lots_fast(events, method, default=default)
        reference = compute_lots(events, method, default=default)
        assert fast.engine == "fast"
        assert comparable(fast) == comparable(reference), method
        assert [s.lot_id for s in fast.slices] == ["new>t"]


def test_equal_and_microsecond_apart_times_rank_as_the_reference() -> None:
    """FIFO/LIFO (and HIFO at equal unit costs) rank by time, then by acquisition order: lots bought at the same
    instant, and one a microsecond later, come out in the same order from both engines — the order of the times,
    then of the events (sorted by id at equal times)."""
    start = HISTORY[0].at
    later = start.replace(microsecond=1)
    events = [LotEvent("b", "A", "BTC", start, "acquire", Decimal(1), Decimal(100)),
              LotEvent("a", "A", "BTC", start, "acquire", Decimal(1), Decimal(100)),
              LotEvent("c", "A", "BTC", later, "acquire", Decimal(1), Decimal(100)),
              *(LotEvent(f"s{k}", "A", "BTC", start + timedelta(days=1 + k), "dispose", Decimal(1), Decimal(150))
                for k in range(3))]
    expected = {Method.FIFO: ["a", "b", "c"], Method.LIFO: ["c", "b", "a"], Method.HIFO: ["a", "b", "c"]}
    for method, order in expected.items():
        fast, reference = compute_lots_fast(events, method), compute_lots(events, method)
        assert comparable(fast) == comparable(reference), method
        assert [s.lot_id for s in fast.slices] == order, method


def test_exact_unit_cost_comparison() -> None:
    """The kernel's cross-multiplied comparison against Python's integers, near 2^63 and across signs."""
    big = 2**63 - 1
    for a, b, c, d in ((big, big - 1, big - 1, big - 2), (30267678620673558, 6235516707, 34481119990252698,
                       7103537819), (5, 2, 10, 4), (-3, 2, 1, 5), (-7, 3, -5, 2), (0, 1, 0, 9), (1, big, 0, 1)):
        assert _compare_unit_costs(a, b, c, d) == (a * d > c * b) - (a * d < c * b), (a, b, c, d)


def test_128_bit_share() -> None:
    big = 2**62 + 12345
    for a, b, c in ((big, big - 7, big), (10**18, 3 * 10**17, 10**18 + 1), (7, 3, 2),
                    (2**63 - 1, 2**63 - 2, 2**63 - 1)):
        assert _mul_div(a, b, c) == a * b // c


def test_what_it_does_not_cover_falls_back_to_the_reference() -> None:
    wei = [LotEvent("a", "A", "ETH", HISTORY[0].at, "acquire", Decimal("1.000000000000000001"), Decimal(10)),
           LotEvent("d", "A", "ETH", HISTORY[1].at, "dispose", Decimal("0.5"), Decimal(7))]
    assert comparable(compute_lots_fast(wei, Method.FIFO)) == comparable(compute_lots(wei, Method.FIFO))
    chosen = {"S1": [("L3", Decimal("0.5")), ("L1", Decimal(1))]}
    assert comparable(compute_lots_fast(HISTORY, Method.SPECIFIC, selections=chosen)) == comparable(
        compute_lots(HISTORY, Method.SPECIFIC, selections=chosen))


def test_lots_carried_back_and_forth_outgrow_the_first_room_and_still_agree() -> None:
    """30 lots moved between two books 12 times: 360 carried lots, more than the kernel's first room (n + 4 per
    transfer), so it runs again with more — same result as the reference."""
    start = HISTORY[0].at
    events = [LotEvent(f"a{k}", "A", "BTC", start.replace(minute=k), "acquire", Decimal(1), Decimal(100 + k))
              for k in range(30)]
    for hop in range(12):
        src, dst = ("A", "B") if hop % 2 == 0 else ("B", "A")
        when = start.replace(hour=1 + hop)
        events += [LotEvent(f"o{hop}", src, "BTC", when, "transfer_out", Decimal(30), transfer_id=f"t{hop}"),
                   LotEvent(f"i{hop}", dst, "BTC", when, "transfer_in", Decimal("29.99"), transfer_id=f"t{hop}")]
    events.append(LotEvent("s", "A", "BTC", start.replace(hour=20), "dispose", Decimal(10), Decimal(5000)))
    for method in METHODS:
        fast, reference = compute_lots_fast(events, method), compute_lots(events, method)
        assert comparable(fast) == comparable(reference), method
        assert fast.engine == "fast"


@settings(max_examples=100, deadline=None)
@given(histories())
def test_one_universal_book_agrees(events: list[LotEvent]) -> None:
    """Every event in one book: transfers move lots within it (the universal-book case)."""
    universal = [LotEvent(e.event_id, "*", e.asset, e.at, e.kind, e.quantity, e.value, e.transfer_id, e.source)
                 for e in events]
    for method in METHODS:
        assert comparable(compute_lots_fast(universal, method)) == comparable(compute_lots(universal, method)), method


def test_a_transfer_that_delivers_nothing_of_a_pooled_lot_agrees() -> None:
    """Found by hypothesis: under average cost the cost-only slice of a transfer has no single acquisition date
    in both engines (the reference engine used to give the pool's date there)."""
    start = HISTORY[0].at
    events = [LotEvent("e2", "A", "BTC", start, "acquire", Decimal("0.0001"), Decimal("0.01")),
              LotEvent("o0", "A", "BTC", start.replace(day=12), "transfer_out", Decimal("30.9333"), transfer_id="t0"),
              LotEvent("i0", "B", "BTC", start.replace(day=12), "transfer_in", Decimal("0.0007"), transfer_id="t0")]
    for method in METHODS:
        assert comparable(compute_lots_fast(events, method)) == comparable(compute_lots(events, method)), method


# ── each slice within one grid unit of its exact value ─────────────────────────────────────────────────────────
@st.composite
def partial_sales(draw: st.DrawFn) -> list[LotEvent]:
    """Big lots at awkward costs, sold, withdrawn and moved (without a fee) between two books in many small pieces:
    a lot is taken from dozens of times, where rounding each piece's share of what is *left* drifted by cents."""
    start = HISTORY[0].at
    events: list[LotEvent] = []
    for k in range(draw(st.integers(min_value=2, max_value=60))):
        when, book = start + timedelta(hours=k), draw(st.sampled_from("AB"))
        kind = "acquire" if k == 0 else draw(st.sampled_from(["acquire", "dispose", "dispose", "dispose", "dispose",
                                                               "withdraw", "transfer"]))
        if kind == "acquire":
            events.append(LotEvent(f"e{k}", book, "BTC", when, kind,
                                   draw(st.decimals(min_value=1, max_value=500, places=8)),
                                   draw(st.decimals(min_value=Decimal("0.01"), max_value=10**7, places=2))))
            continue
        qty = draw(st.decimals(min_value=Decimal("1e-8"), max_value=40, places=8))
        if kind == "transfer":
            other = "B" if book == "A" else "A"
            events += [LotEvent(f"o{k}", book, "BTC", when, "transfer_out", qty, transfer_id=f"t{k}"),
                       LotEvent(f"i{k}", other, "BTC", when, "transfer_in", qty, transfer_id=f"t{k}")]
        else:
            events.append(LotEvent(f"e{k}", book, "BTC", when, kind, qty,
                                   Decimal(0) if kind == "withdraw" else
                                   draw(st.decimals(min_value=0, max_value=10**6, places=2))))
    return events


def lot_bases(result: LotResult) -> dict[str, tuple[Fraction, Fraction]]:
    """Each lot's (quantity, cost) as it was acquired or arrived: its slices, what is still open and what
    transfers carried on from it (a carried lot 'L1>t3' came out of 'L1'; no fee, so it arrived whole)."""
    totals: dict[str, list[Fraction]] = {}
    for lot_id, q, c in [(s.lot_id, s.quantity, s.cost) for s in result.slices] + [
            (lot.lot_id, lot.quantity, lot.cost) for lot in result.open_lots]:
        entry = totals.setdefault(lot_id, [Fraction(0), Fraction(0)])
        entry[0] += Fraction(q)
        entry[1] += Fraction(c)
    for depth in range(max((name.count(">") for name in totals), default=0), 0, -1):  # deepest carried lots first
        for lot_id in [name for name in totals if name.count(">") == depth]:
            parent = totals.setdefault(lot_id.rsplit(">", 1)[0], [Fraction(0), Fraction(0)])
            parent[0] += totals[lot_id][0]
            parent[1] += totals[lot_id][1]
    return {lot_id: (q, c) for lot_id, (q, c) in totals.items()}


@settings(max_examples=150, deadline=None)
@given(partial_sales())
def test_every_slice_is_within_one_grid_unit_of_its_exact_share(events: list[LotEvent]) -> None:
    """The exact share, with Fractions: a slice's cost is its lot's cost × its quantity / the lot's quantity (an
    acquisition as the event gives it; a carried lot as it arrived), its proceeds the disposal's proceeds × its
    quantity / the disposal's quantity. Each slice is within one grid unit of it, the engines agree to the last
    digit, and every lot's and disposal's slices add up to it exactly."""
    money = Precision.of(events).money
    by_id = {e.event_id: e for e in events}
    acquired = sum((Fraction(e.value) for e in events if e.kind == "acquire"), Fraction(0))
    for method in (Method.FIFO, Method.LIFO, Method.HIFO, Method.SPECIFIC, Method.AVERAGE):
        fast, reference = compute_lots_fast(events, method), compute_lots(events, method)
        assert comparable(fast) == comparable(reference), method
        assert sum((Fraction(s.cost) for s in reference.slices), Fraction(0)) + sum(
            (Fraction(lot.cost) for lot in reference.open_lots), Fraction(0)) == acquired
        proceeds: dict[str, Fraction] = {m.disposal_id: Fraction(m.proceeds) for m in reference.missing}
        for s in reference.slices:
            disposal = by_id[s.disposal_id]
            exact = Fraction(disposal.value) * Fraction(s.quantity) / Fraction(disposal.quantity)
            assert abs(Fraction(s.proceeds) - exact) < Fraction(money), (method, s)
            proceeds[s.disposal_id] = proceeds.get(s.disposal_id, Fraction(0)) + Fraction(s.proceeds)
        assert all(total == by_id[d].value for d, total in proceeds.items())
        if method == Method.AVERAGE:  # a pool's basis moves with every addition: no single exact share to check
            continue
        bases = lot_bases(reference)
        for s in reference.slices:
            if ">" not in s.lot_id:  # an acquisition: its basis is the event, and its pieces add up to it
                assert bases[s.lot_id] == (Fraction(by_id[s.lot_id].quantity), Fraction(by_id[s.lot_id].value))
            quantity, cost = bases[s.lot_id]
            assert abs(Fraction(s.cost) - cost * Fraction(s.quantity) / quantity) < Fraction(money), (method, s)
