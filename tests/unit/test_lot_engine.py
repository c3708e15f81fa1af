"""The lot engine (pipelines/domain/lots.py): hand-worked examples for every method, and properties that hold
for any history (hypothesis): quantity, cost and proceeds are conserved; every method disposes of the same
quantity; specific identification choosing the oldest lots reproduces FIFO."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.lots import LotEvent, LotResult, Method, compute_lots

D = Decimal


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def acquire(eid: str, when: str, qty: str, cost: str, book: str = "A", source: str = "trade") -> LotEvent:
    return LotEvent(eid, book, "BTC", at(when), "acquire", D(qty), D(cost), source=source)


def dispose(eid: str, when: str, qty: str, proceeds: str, book: str = "A") -> LotEvent:
    return LotEvent(eid, book, "BTC", at(when), "dispose", D(qty), D(proceeds))


# Buys at different prices with their fees in the cost, a staking reward at fair value, a partial sale whose
# fee reduces the proceeds (90,000 − 90).
HISTORY = [
    acquire("L1", "2024-01-10", "1", "30030"),       # 1 BTC at 30,000 + 30 fee     → 30,030 / BTC
    acquire("L2", "2024-03-01", "2", "100100"),      # 2 BTC at 50,000 + 100 fee    → 50,050 / BTC
    acquire("L3", "2024-06-01", "0.5", "20000", source="income"),  # staking reward  → 40,000 / BTC
    dispose("S1", "2025-02-01", "1.5", "89910"),
]


def slices(result: LotResult) -> list[tuple[str, Decimal, Decimal, Decimal, str | None]]:
    return [(s.lot_id, s.quantity, s.cost, s.proceeds, s.term) for s in result.slices]


def test_fifo_takes_the_oldest_lots() -> None:
    result = compute_lots(HISTORY, Method.FIFO)
    assert slices(result) == [("L1", D(1), D(30030), D(59940), "long"),          # held 388 days
                              ("L2", D("0.5"), D(25025), D(29970), "short")]     # held 337 days
    assert [s.gain for s in result.slices] == [D(29910), D(4945)]
    assert [(lot.lot_id, lot.quantity, lot.cost) for lot in result.open_lots] == [
        ("L2", D("1.5"), D(75075)), ("L3", D("0.5"), D(20000))]


def test_lifo_takes_the_newest_lots() -> None:
    result = compute_lots(HISTORY, Method.LIFO)
    assert slices(result) == [("L3", D("0.5"), D(20000), D(29970), "short"),
                              ("L2", D(1), D(50050), D(59940), "short")]


def test_hifo_takes_the_dearest_lots() -> None:
    result = compute_lots(HISTORY, Method.HIFO)
    assert slices(result) == [("L2", D("1.5"), D(75075), D(89910), "short")]
    assert result.slices[0].gain == D(14835)


def test_average_cost_pools_the_book() -> None:
    result = compute_lots(HISTORY, Method.AVERAGE)
    (only,) = result.slices
    assert only.quantity == D("1.5") and only.proceeds == D(89910)
    assert only.cost == D("64341.42")  # 150,130 × 1.5 / 3.5, rounded down to the cent
    assert only.term is None  # a pool has no single acquisition date
    (pool,) = result.open_lots
    assert pool.quantity == D(2) and pool.cost + only.cost == D(150130)  # cost conserved to the last digit


def test_specific_identification_and_its_fallback() -> None:
    chosen = compute_lots(HISTORY, Method.SPECIFIC, selections={"S1": [("L3", D("0.5")), ("L1", D(1))]})
    assert slices(chosen) == [("L3", D("0.5"), D(20000), D(29970), "short"),
                              ("L1", D(1), D(30030), D(59940), "long")]
    assert chosen.warnings == []
    partly = compute_lots(HISTORY, Method.SPECIFIC, default=Method.FIFO,
                          selections={"S1": [("L3", D("0.5")), ("nope", D(1))]})
    assert slices(partly)[0][0] == "L3" and [s[0] for s in slices(partly)[1:]] == ["L1"]
    assert any("nope" in w for w in partly.warnings) and any("not covered" in w for w in partly.warnings)


def test_a_transfer_carries_lots_with_their_dates_and_whole_cost() -> None:
    events = [
        acquire("L1", "2024-01-10", "1", "30030"),
        LotEvent("T1-out", "A", "BTC", at("2024-09-01"), "transfer_out", D("0.6"), transfer_id="T1"),
        LotEvent("T1-in", "B", "BTC", at("2024-09-01T00:40:00"), "transfer_in", D("0.5998"), transfer_id="T1"),
        dispose("S2", "2025-03-01", "0.5998", "50000", book="B"),
    ]
    result = compute_lots(events, Method.FIFO)
    (sold,) = result.slices
    assert (sold.book, sold.lot_id, sold.quantity) == ("B", "L1>T1", D("0.5998"))
    assert sold.cost == D(18018)  # 0.6 of 30,030: the 0.0002 network fee took coins, not basis
    assert sold.acquired_at == at("2024-01-10") and sold.term == "long"  # the original date travelled
    (left,) = result.open_lots
    assert (left.book, left.quantity, left.cost) == ("A", D("0.4"), D(12012))


def test_a_disposal_without_lots_is_missing_basis_not_zero_cost() -> None:
    result = compute_lots([acquire("L1", "2024-01-01", "1", "100"), dispose("S1", "2024-02-01", "1.5", "300")])
    assert slices(result) == [("L1", D(1), D(100), D(200), "short")]
    (missing,) = result.missing
    assert (missing.quantity, missing.proceeds) == (D("0.5"), D(100))


def test_the_method_can_change_with_the_tax_year() -> None:
    events = [acquire("L1", "2023-01-01", "1", "100"), acquire("L2", "2023-06-01", "1", "300"),
              dispose("S1", "2023-12-01", "0.5", "200"), dispose("S2", "2024-12-01", "0.5", "200")]
    result = compute_lots(events, lambda year: Method.FIFO if year <= 2023 else Method.LIFO)
    assert [(s.disposal_id, s.lot_id) for s in result.slices] == [("S1", "L1"), ("S2", "L2")]


def exact_floor(value: Fraction, places: int) -> Decimal:
    """The independent reference: `value` rounded down to 10^−places, computed on Fractions."""
    return Decimal(math.floor(value * 10**places)).scaleb(-places)


def test_a_share_is_the_exact_floor_beyond_28_digits() -> None:
    """10,000,000 tokens bought for 468,210.6094632027 (money on the 1e-10 grid), 4,343,428.76245037 sold:
    468,210.6094632027 × 4,343,428.76245037 / 10,000,000 = 203,363.9428026891 999…9 (a 30-digit product), so
    the cost is …891. Python's default 28-digit context rounded the product up first and gave …892."""
    events = [LotEvent("L1", "A", "TOK", at("2024-01-01"), "acquire", D("10000000.00000000"), D("468210.6094632027")),
              LotEvent("S1", "A", "TOK", at("2024-02-01"), "dispose", D("4343428.76245037"), D("250000"))]
    exact = Fraction("468210.6094632027") * Fraction("4343428.76245037") / 10_000_000
    assert exact_floor(exact, 10) == D("203363.9428026891")
    (sold,) = compute_lots(events, Method.FIFO).slices
    assert sold.cost == D("203363.9428026891")


def test_numeric_38_amounts_are_exact() -> None:
    """numeric(38, 18) quantities and a 30-digit cost: the shares are the exact floors, and what is left open
    is the exact remainder (the default context would have rounded both the product and the subtraction)."""
    qty, cost = D("12345678901234567890.123456789012345678"), D("987654321098765432109876543.21")
    sold = D("1234567890123456789.012345678901234567")
    events = [LotEvent("L1", "A", "TOK", at("2024-01-01"), "acquire", qty, cost),
              LotEvent("S1", "A", "TOK", at("2024-02-01"), "dispose", sold, D("1"))]
    result = compute_lots(events, Method.FIFO)
    (piece,) = result.slices
    assert piece.cost == exact_floor(Fraction(cost) * Fraction(sold) / Fraction(qty), 2)
    (left,) = result.open_lots
    assert left.quantity == D("11111111011111111101.111111110111111111")
    assert Fraction(left.cost) + Fraction(piece.cost) == Fraction(cost)  # (Decimal's own + would round to 28)


# Two pairs of lots whose unit costs are nearly equal: the pair, equal as float64 (48,540.77062562437)
# though the second is dearer in the 17th digit; and a pair equal in 28 digits, apart in the 37th. In each the
# dearer lot is the newer: ranked by a rounded quotient they tie, and the tie goes to the older lot.
NEAR_UNIT_COSTS = [
    ((D("62.35516707"), D("3026767.8620673558")), (D("71.03537819"), D("3448111.9990252698"))),
    ((D("9999999999.99999998"), D("9999999999999999.97")), (D("9999999999.99999999"), D("9999999999999999.98"))),
]


@pytest.mark.parametrize(("older", "newer"), NEAR_UNIT_COSTS)
def test_hifo_ranks_unit_costs_exactly(older: tuple[Decimal, Decimal], newer: tuple[Decimal, Decimal]) -> None:
    """HIFO takes the dearer lot first, the exact unit costs compared as fractions (the independent reference
    here): the newer lot, so the sale is short-term; the older one would have made it long-term."""
    (q_old, c_old), (q_new, c_new) = older, newer
    assert Fraction(c_new) / Fraction(q_new) > Fraction(c_old) / Fraction(q_old)
    assert float(c_new / q_new) == float(c_old / q_old) or c_new / q_new == c_old / q_old  # the near tie
    events = [LotEvent("old", "A", "TOK", at("2023-01-01"), "acquire", q_old, c_old),
              LotEvent("new", "A", "TOK", at("2024-06-01"), "acquire", q_new, c_new),
              LotEvent("S1", "A", "TOK", at("2024-07-01"), "dispose", D("10"), D("500000"))]
    (sold,) = compute_lots(events, Method.HIFO).slices
    assert (sold.lot_id, sold.term) == ("new", "short")


# One lot of 9.76 BTC for 2,701.75, sold in six pieces; the last takes what is left.
SIX_PIECES = [acquire("L1", "2024-01-01", "9.76", "2701.75"),
              *(dispose(f"S{k}", f"2024-02-0{k}", qty, "100") for k, qty in
                enumerate(["2.27", "1.00", "0.51", "0.46", "0.64", "4.88"], start=1))]


def test_each_piece_of_a_lot_is_within_a_cent_of_its_exact_cost() -> None:
    """Exact cost of a piece: 2,701.75 × its quantity / 9.76 (Fractions). Rounding each piece's share of what was
    left (the old rule) gave the first five pieces 0.39–0.86 ¢ too little each, and the last piece took all of it:
    3.5 ¢ too much. Shares of the cumulative quantity keep every piece within one cent; the total stays exact."""
    result = compute_lots(SIX_PIECES, Method.FIFO)
    assert len(result.slices) == 6 and result.open_lots == []
    for piece in result.slices:
        exact = Fraction("2701.75") * Fraction(piece.quantity) / Fraction("9.76")
        assert abs(Fraction(piece.cost) - exact) < Fraction("0.01"), (piece.disposal_id, piece.cost, float(exact))
    assert sum((piece.cost for piece in result.slices), D(0)) == D("2701.75")


def test_amounts_wider_than_any_fixed_context_stay_exact() -> None:
    """60-digit amounts (no SQL column holds them, a Python caller may pass them): unit costs (N − 1) / N and
    (N − 2) / (N − 1) with N = 10^60 differ in the 121st digit, so a 100-digit quotient would tie them; the engine
    widens its context to the data and takes the dearer (newer) lot, at the exact floor of its share."""
    n = 10**60  # Python integers: Decimal's own n − 1 would round to 28 digits
    events = [LotEvent("old", "A", "TOK", at("2023-01-01"), "acquire", D(n - 1), D(n - 2)),
              LotEvent("new", "A", "TOK", at("2024-06-01"), "acquire", D(n), D(n - 1)),
              LotEvent("S1", "A", "TOK", at("2024-07-01"), "dispose", D(3), D(1))]
    assert Fraction(n - 1, n) > Fraction(n - 2, n - 1)
    (sold,) = compute_lots(events, Method.HIFO).slices
    assert (sold.lot_id, sold.cost) == ("new", exact_floor(Fraction(n - 1, n) * 3, 2))


# ── properties ──────────────────────────────────────────────────────────────────────────────────────────────
amounts = st.decimals(min_value=D("0.0001"), max_value=D(50), places=4)
values = st.decimals(min_value=D(0), max_value=D(100000), places=2)


@st.composite
def histories(draw: st.DrawFn) -> list[LotEvent]:
    start = datetime(2022, 1, 1, tzinfo=UTC)
    events: list[LotEvent] = []
    for n in range(draw(st.integers(min_value=1, max_value=40))):
        when = start + timedelta(days=draw(st.integers(min_value=0, max_value=1500)), seconds=n)
        book = draw(st.sampled_from(["A", "B"]))
        kind = draw(st.sampled_from(["acquire", "acquire", "dispose", "transfer", "withdraw"]))
        qty = draw(amounts)
        if kind == "transfer":
            other = "B" if book == "A" else "A"
            fee = draw(st.decimals(min_value=D(0), max_value=qty, places=4))
            events.append(LotEvent(f"o{n}", book, "BTC", when, "transfer_out", qty, transfer_id=f"t{n}"))
            events.append(LotEvent(f"i{n}", other, "BTC", when + timedelta(minutes=5), "transfer_in", qty - fee,
                                   transfer_id=f"t{n}") if qty - fee > 0 else
                          LotEvent(f"i{n}", other, "BTC", when + timedelta(minutes=5), "transfer_in", qty,
                                   transfer_id=f"t{n}"))
        else:
            events.append(LotEvent(f"e{n}", book, "BTC", when, kind, qty, D(0) if kind == "withdraw" else draw(values)))
    return events


def _totals(result: LotResult) -> tuple[Decimal, Decimal]:
    """(quantity the disposals and withdrawals took, their proceeds). Transfers ("o…") are not disposals: the
    slices a transfer books for lots of which nothing arrived depend on which lots the method sent."""
    disposed = sum((s.quantity for s in result.slices if not s.disposal_id.startswith("o")), D(0)) + sum(
        (m.quantity for m in result.missing if not m.disposal_id.startswith("o")), D(0))
    return disposed, sum((s.proceeds for s in result.slices), D(0)) + sum((m.proceeds for m in result.missing), D(0))


@settings(max_examples=150, deadline=None)
@given(histories())
def test_conservation_and_agreement_across_methods(events: list[LotEvent]) -> None:
    acquired_cost = sum((e.value for e in events if e.kind == "acquire"), D(0))
    disposals = [e for e in events if e.kind == "dispose"]
    disposed_by_method = set()
    for method in (Method.FIFO, Method.LIFO, Method.HIFO, Method.AVERAGE, Method.SPECIFIC):
        result = compute_lots(events, method)
        # cost: everything acquired is either still open or went out with a disposal (transfers keep it whole)
        assert sum((s.cost for s in result.slices), D(0)) + sum((lot.cost for lot in result.open_lots), D(0)) == \
            acquired_cost, method
        # proceeds: every disposal's proceeds are in its slices or its missing-basis remainder
        disposed, proceeds = _totals(result)
        assert proceeds == sum((e.value for e in disposals), D(0)), method
        assert all(s.gain == s.proceeds - s.cost for s in result.slices)
        assert all(lot.quantity > 0 and lot.cost >= 0 for lot in result.open_lots)
        disposed_by_method.add(disposed)
    assert len(disposed_by_method) == 1  # every method disposes of the same total quantity
    # quantity: acquired = disposed + still open + what transfer fees took on the way (taken − arrived)
    fifo = compute_lots(events, Method.FIFO)
    kept_by_fees = sum((taken - arrived for _t, taken, arrived in fifo.transfers), D(0))
    acquired = sum((e.quantity for e in events if e.kind == "acquire"), D(0))
    assert acquired == sum((s.quantity for s in fifo.slices), D(0)) + sum(
        (lot.quantity for lot in fifo.open_lots), D(0)) + kept_by_fees


@settings(max_examples=100, deadline=None)
@given(histories())
def test_specific_identification_of_the_oldest_lots_is_fifo(events: list[LotEvent]) -> None:
    only_a = [e for e in events if e.kind in ("acquire", "dispose") and e.book == "A"]
    fifo = compute_lots(only_a, Method.FIFO)
    selections: dict[str, list[tuple[str, Decimal]]] = {}
    for s in fifo.slices:
        selections.setdefault(s.disposal_id, []).append((s.lot_id, s.quantity))
    chosen = compute_lots(only_a, Method.SPECIFIC, default=Method.LIFO, selections=selections)
    assert slices(chosen) == slices(fifo)
    assert [(m.disposal_id, m.quantity) for m in chosen.missing] == [(m.disposal_id, m.quantity) for m in fifo.missing]


@pytest.mark.parametrize("method", list(Method))
def test_results_are_identical_under_rerun(method: Method) -> None:
    assert compute_lots(HISTORY, method) == compute_lots(list(reversed(HISTORY)), method)


def test_a_withdrawal_removes_lots_at_cost_without_proceeds() -> None:
    """Coins that leave the books unexplained take their lots (in method order) but realise nothing:
    1 BTC of L1 (30,030) and 0.5 of L2 (2 BTC for 100,100 → 25,025), 1.5 BTC of L2 left at 75,075."""
    out = compute_lots([*HISTORY[:2], LotEvent("W1", "A", "BTC", at("2024-04-01"), "withdraw", D("1.5"), D(999))],
                       Method.FIFO)
    assert slices(out) == [("L1", D(1), D(30030), D(0), "short"), ("L2", D("0.5"), D("25025.00"), D(0), "short")]
    assert [(lot.lot_id, lot.quantity, lot.cost) for lot in out.open_lots] == [("L2", D("1.5"), D("75075.00"))]


@pytest.mark.parametrize("method", list(Method))
def test_a_transfer_within_one_book_keeps_the_lots_and_takes_only_the_fee(method: Method) -> None:
    """One universal book: a move between two of its accounts leaves the lots where they are (each moved once,
    never taken again on the way), the network fee takes quantity but no cost."""
    events = [*HISTORY[:3],
              LotEvent("o", "A", "BTC", at("2024-07-01"), "transfer_out", D("3.5"), transfer_id="t"),
              LotEvent("i", "A", "BTC", at("2024-07-01"), "transfer_in", D("3.4993"), transfer_id="t")]
    out = compute_lots(events, method)
    assert out.slices == [] and out.missing == []
    assert sum((lot.quantity for lot in out.open_lots), D(0)) == D("3.4993")
    assert sum((lot.cost for lot in out.open_lots), D(0)) == D(150130)
    assert all(lot.lot_id.count(">") <= 1 for lot in out.open_lots)
