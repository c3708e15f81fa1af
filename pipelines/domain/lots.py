"""Tax lots: which acquisition each disposal consumed, at what cost — exact, explainable, per book.

Pure (no I/O, no clock). Amounts are Decimals, computed exactly (Precision.context). A lot's cost and a
disposal's proceeds are split across slices by cumulative shares (_cumulative_share): each slice is within one
grid unit of its exact share, and the slices add up to the whole, so quantity, cost and proceeds are conserved
exactly.

Events per book (an account, or the whole tenant when books are universal) and asset:
    acquire       quantity, cost (fees included when they go into the basis): a buy, income at fair value
    dispose       quantity, proceeds (fees deducted when they reduce proceeds): a sell, a payment
    transfer_out  quantity sent to another book of the tenant; the lots move there with their original
                  acquisition dates and full cost (a network fee kept by the chain reduces the quantity that
                  arrives, not the cost: the basis travels whole)
    transfer_in   the matching arrival (same transfer_id): where the lots go and how many arrive
    withdraw      coins that leave the tenant's books without a sale (a withdrawal nothing explains): lots go
                  out in method order like a disposal, but at no proceeds — the caller reports them as removals
                  at cost, not as gains or losses
Methods: FIFO, LIFO, HIFO (highest unit cost first), SPECIFIC (lots chosen per disposal; what the choice does
not cover falls back to the default method, with a warning) and AVERAGE (one pool per book and asset). The
method may change from one tax year to the next. A disposal without enough lots is reported in `missing`
with its uncovered quantity and proceeds — never given a zero cost.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from enum import StrEnum

ZERO = Decimal(0)
# Every amount operation of the engines runs in a context wide enough to be exact (Precision.context): at least
# 100 digits, which hold the product of two numeric(38, x) amounts (76 digits) and any sum of them, so nothing is
# rounded but what _share floors on purpose. The default context keeps 28 digits: 468,210.6094632027 ×
# 4,343,428.76245037 (30 digits) was rounded up before the division, and a share came out one grid unit above
# the exact floor (tests/unit/test_lot_engine.py).
EXACT = Context(prec=100, rounding=ROUND_FLOOR)
# The rules' edition: part of every unit's inputs hash (services/lots.py), so results stored by an engine whose
# rules gave other figures for the same events are computed again. Raise it with any such change. 2: exact
# floors in a sized context, exact HIFO ranks, cumulative shares (issue 15).
RULES_EDITION = 2
LONG_TERM = timedelta(days=365)  # held more than one year → long term (US rule: the day after the anniversary)


class Method(StrEnum):
    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"
    SPECIFIC = "specific"
    AVERAGE = "average"


@dataclass(frozen=True)
class LotEvent:
    event_id: str
    book: str
    asset: str
    at: datetime
    kind: str  # acquire | dispose | transfer_out | transfer_in | withdraw
    quantity: Decimal  # > 0
    value: Decimal = ZERO  # cost (acquire) or proceeds (dispose), in the tenant's base currency
    transfer_id: str | None = None
    source: str = ""  # trade | income | fee | payment ...: carried to the outputs for reports


@dataclass
class Lot:
    lot_id: str
    book: str
    asset: str
    acquired_at: datetime
    quantity: Decimal  # remaining
    cost: Decimal  # remaining
    source: str = ""
    seq: int = 0
    # What the lot's shares are cumulative over (see _cumulative_share): its quantity and cost as it was acquired
    # or arrived, or, for an average pool, as it stood after its last addition. Set when it joins a book.
    basis: tuple[Decimal, Decimal] = field(default=(ZERO, ZERO), compare=False, repr=False)

    @property
    def unit_cost(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else ZERO


@dataclass(frozen=True)
class DisposalSlice:
    disposal_id: str
    lot_id: str
    book: str
    asset: str
    quantity: Decimal
    proceeds: Decimal
    cost: Decimal
    acquired_at: datetime | None  # None for an average-cost pool with no single date
    disposed_at: datetime
    method: Method

    @property
    def gain(self) -> Decimal:
        return self.proceeds - self.cost

    @property
    def term(self) -> str | None:
        if self.acquired_at is None:
            return None
        return "long" if self.disposed_at - self.acquired_at > LONG_TERM else "short"


@dataclass(frozen=True)
class MissingBasis:
    disposal_id: str
    book: str
    asset: str
    quantity: Decimal  # not covered by any lot
    proceeds: Decimal  # the share of proceeds of that quantity
    at: datetime


@dataclass
class LotResult:
    slices: list[DisposalSlice] = field(default_factory=list)
    open_lots: list[Lot] = field(default_factory=list)
    missing: list[MissingBasis] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    transfers: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # (transfer_id, taken, arrived)
    engine: str = "reference"  # or "fast" (lots_fast): same results, said for the run's metadata


KIND_ORDER = {"acquire": 0, "transfer_in": 1, "transfer_out": 2, "dispose": 3, "withdraw": 3}


@dataclass(frozen=True)
class Precision:
    """Where shares are rounded (down, cumulatively, so the slices add up to the whole): money to
    the finer of cents and the inputs' own decimals, quantities to the finer of 1e-8 and the inputs'. The
    fast engine computes with integers on exactly these grids, so both engines agree to the last digit."""

    money: Decimal = Decimal("0.01")
    quantity: Decimal = Decimal("1e-8")
    digits: int = 38  # the widest amount, in digits on its grid (numeric(38, x): at most 38)

    @classmethod
    def of(cls, events: Sequence[LotEvent]) -> Precision:
        def places(values: Iterable[Decimal], floor: int) -> int:
            return max([floor, *(_places(v) for v in values if v)])
        money, quantity = places((e.value for e in events), 2), places((e.quantity for e in events), 8)
        widest = max([0, *(e.value.adjusted() + 1 + money for e in events if e.value),
                      *(e.quantity.adjusted() + 1 + quantity for e in events if e.quantity)])
        return cls(Decimal(1).scaleb(-money), Decimal(1).scaleb(-quantity), widest)

    @property
    def context(self) -> Context:
        """Where the engines compute: every product of two amounts and every sum exact (2 × digits, and 20 more
        for sums of up to 10^20 amounts); and a quotient of two amounts (HIFO's unit cost) exact in its order: two
        different ones differ by more than 10^−(2 × digits) of their size, more than its rounding moves it."""
        return Context(prec=max(EXACT.prec, 2 * self.digits + 20), rounding=ROUND_FLOOR)


def _places(amount: Decimal) -> int:
    """Decimals `amount` has once its trailing zeros are dropped (normalize() rounds to its context's digits: an
    amount wider than EXACT's is read digit by digit)."""
    digits = amount.as_tuple().digits
    if len(digits) <= EXACT.prec:
        return max(-int(EXACT.normalize(amount).as_tuple().exponent), 0)
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(-(int(amount.as_tuple().exponent) + zeros), 0)


def plain(amount: Decimal) -> str:
    """An amount as people write it in a message: 0.0001, 2, 1500 (not 0.00010000 or 1.5E+3)."""
    return format(amount.normalize(), "f") if amount else "0"


def _cumulative_share(total: Decimal, whole: Decimal, done: Decimal, part: Decimal, left: Decimal,
                      quantum: Decimal) -> Decimal:
    """The share of `total` (a lot's cost, a disposal's proceeds, what a transfer delivers) that `part` of `whole`
    gets, when `done` of it is already taken and `left` of the total is not yet given out: floor(total × (done +
    part) / whole) − what earlier parts got (total − left; the floors telescope). Each part is then within one
    grid unit of its exact value total × part / whole, however many parts come before it — a share of what is
    *left* rounded each time would let the error build up (cents after a few dozen partial sales)."""
    return _share(total, done + part, whole, quantum) - (total - left)


def _share(total: Decimal, part: Decimal, whole: Decimal, quantum: Decimal) -> Decimal:
    """total × part / whole rounded down to `quantum` (the whole when part is the whole): the exact floor, as an
    integer division of the exact product (no quotient rounded to the context's digits first)."""
    if part == whole:
        return total
    units, rest = divmod(total * part, whole * quantum)  # exact in Precision.context
    if rest < 0:  # divmod truncates towards zero; a negative share (a net loss as proceeds) floors away from it
        units -= 1
    return units * quantum


class _Book:
    """The open lots of one book and asset, ordered for the method in force."""

    def __init__(self, method: Method, default: Method, precision: Precision) -> None:
        self.precision = precision
        self.lots: dict[str, Lot] = {}
        self.heap: list[tuple[object, ...]] = []
        self.method = method
        self.default = default

    def _key(self, lot: Lot) -> tuple[object, ...]:
        method = self.default if self.method == Method.SPECIFIC else self.method
        ts = lot.acquired_at.timestamp()
        if method == Method.LIFO:
            return (-ts, -lot.seq)
        if method == Method.HIFO:  # the unit cost, in an order as exact as the fractions' (Precision.context)
            return (lot.cost.copy_negate() / lot.quantity, ts, lot.seq)
        return (ts, lot.seq)  # FIFO (and the order an average pool keeps)

    def add(self, lot: Lot) -> None:
        if self.method == Method.AVERAGE and self.lots:
            pool = next(iter(self.lots.values()))
            pool.quantity += lot.quantity
            pool.cost += lot.cost
            pool.basis = (pool.quantity, pool.cost)
            pool.acquired_at = min(pool.acquired_at, lot.acquired_at)
            return
        if not lot.basis[0]:
            lot.basis = (lot.quantity, lot.cost)
        self.lots[lot.lot_id] = lot
        heapq.heappush(self.heap, (*self._key(lot), lot.lot_id))

    def switch(self, method: Method, book: str, asset: str) -> None:
        if method == self.method:
            return
        live = [lot for lot in self.lots.values() if lot.quantity > 0]
        self.method, self.lots, self.heap = method, {}, []
        if method == Method.AVERAGE and live:
            first = min(live, key=lambda lot: lot.seq)  # the pool keeps the name of its oldest lot
            pooled = Lot(first.lot_id, book, asset, min(lot.acquired_at for lot in live),
                         sum((lot.quantity for lot in live), ZERO), sum((lot.cost for lot in live), ZERO),
                         first.source, first.seq)
            live = [pooled]
        for lot in live:
            self.add(lot)

    def next_lot(self) -> Lot | None:
        while self.heap:
            lot = self.lots.get(str(self.heap[0][-1]))
            if lot is not None and lot.quantity > 0:
                return lot
            heapq.heappop(self.heap)  # exhausted (or taken by a specific identification): lazy deletion
        return None

    def take(self, lot: Lot, quantity: Decimal) -> tuple[Decimal, Decimal]:
        """Remove `quantity` from `lot`; returns (quantity taken, cost taken)."""
        taken = min(quantity, lot.quantity)
        whole, total = lot.basis
        cost = _cumulative_share(total, whole, whole - lot.quantity, taken, lot.cost, self.precision.money)
        lot.quantity -= taken
        lot.cost -= cost
        if lot.quantity == 0:
            self.lots.pop(lot.lot_id, None)
        return taken, cost


def compute_lots(events: Iterable[LotEvent], method: Method | Callable[[int], Method] = Method.FIFO, *,
                 default: Method = Method.FIFO,
                 selections: Mapping[str, Sequence[tuple[str, Decimal]]] | None = None) -> LotResult:
    """Run every event in time order (at equal times: acquisitions and arrivals before departures and
    disposals). `method` is one method, or a function of the tax year; `default` is SPECIFIC's fallback and
    the order transfers take lots in under SPECIFIC; `selections` maps a disposal's event_id to the lots
    (lot_id = the acquiring event's id) and quantities chosen for it."""
    ordered = sorted(events, key=lambda e: (e.at, KIND_ORDER[e.kind], e.event_id))
    precision = Precision.of(ordered)
    with localcontext(precision.context):
        return _compute(ordered, precision, method, default, selections)


def _compute(ordered: list[LotEvent], precision: Precision, method: Method | Callable[[int], Method],
             default: Method, selections: Mapping[str, Sequence[tuple[str, Decimal]]] | None) -> LotResult:
    method_for = method if callable(method) else (lambda _year, m=method: m)
    selections = selections or {}
    arrivals = {e.transfer_id: e for e in ordered if e.kind == "transfer_in" and e.transfer_id}
    departures = {e.transfer_id for e in ordered if e.kind == "transfer_out" and e.transfer_id}
    books: dict[tuple[str, str], _Book] = {}
    result = LotResult()
    seq = itertools.count()

    def book_of(book: str, asset: str, year: int) -> _Book:
        current = method_for(year)
        state = books.get((book, asset))
        if state is None:
            state = books[(book, asset)] = _Book(current, default, precision)
        else:
            state.switch(current, book, asset)
        return state

    for event in ordered:
        if event.quantity <= 0:
            result.warnings.append(f"{event.event_id}: quantity {plain(event.quantity)} is not positive; skipped")
            continue
        state = book_of(event.book, event.asset, event.at.year)
        if event.kind == "acquire":
            state.add(Lot(event.event_id, event.book, event.asset, event.at, event.quantity, event.value,
                          event.source, next(seq)))
        elif event.kind == "dispose":
            _dispose(event, state, selections.get(event.event_id), result)
        elif event.kind == "withdraw":
            _dispose(LotEvent(event.event_id, event.book, event.asset, event.at, "dispose", event.quantity, ZERO,
                              source=event.source), state, None, result)
        elif event.kind == "transfer_out":
            arrival = arrivals.get(event.transfer_id)
            if arrival is None:
                result.warnings.append(f"{event.event_id}: transfer {event.transfer_id} has no arrival; "
                                       "treated as a disposal without proceeds")
                _dispose(LotEvent(event.event_id, event.book, event.asset, event.at, "dispose", event.quantity,
                                  ZERO, source="transfer"), state, None, result)
                continue
            _transfer(event, arrival, state, book_of(arrival.book, arrival.asset, event.at.year), seq, result)
        elif event.kind == "transfer_in" and event.transfer_id not in departures:
            # An arrival nothing departed for: booked at the value the caller gives (its fair value on receipt),
            # and said so — never silently at zero.
            result.warnings.append(f"{event.event_id}: arrival without a departure; acquired at {plain(event.value)}")
            state.add(Lot(event.event_id, event.book, event.asset, event.at, event.quantity, event.value,
                          "orphan_transfer", next(seq)))
    for (_book, _asset), state in sorted(books.items()):
        result.open_lots.extend(sorted((lot for lot in state.lots.values() if lot.quantity > 0),
                                       key=lambda lot: (lot.acquired_at, lot.seq)))
    return result


def _dispose(event: LotEvent, state: _Book, chosen: Sequence[tuple[str, Decimal]] | None,
             result: LotResult) -> None:
    remaining, proceeds_left = event.quantity, event.value
    method = state.method

    def record(lot: Lot, quantity: Decimal, cost: Decimal) -> None:
        nonlocal remaining, proceeds_left
        proceeds = _cumulative_share(event.value, event.quantity, event.quantity - remaining, quantity, proceeds_left,
                                     state.precision.money)
        remaining -= quantity
        proceeds_left -= proceeds
        result.slices.append(DisposalSlice(
            event.event_id, lot.lot_id, event.book, event.asset, quantity, proceeds, cost,
            None if method == Method.AVERAGE else lot.acquired_at, event.at, method))

    if method == Method.SPECIFIC:
        for lot_id, wanted in chosen or ():
            lot = state.lots.get(lot_id)
            if lot is None or lot.quantity <= 0 or wanted <= 0:
                result.warnings.append(f"{event.event_id}: selected lot {lot_id} is not open in "
                                       f"{event.book}/{event.asset}; falling back to {state.default}")
                continue
            quantity, cost = state.take(lot, min(wanted, remaining))
            record(lot, quantity, cost)
            if remaining == 0:
                break
        if remaining > 0:
            result.warnings.append(f"{event.event_id}: {plain(remaining)} {event.asset} not covered by the selected "
                                   f"lots; {state.default} for the rest")
    while remaining > 0:
        lot = state.next_lot()
        if lot is None:
            result.missing.append(MissingBasis(event.event_id, event.book, event.asset, remaining, proceeds_left,
                                               event.at))
            return
        quantity, cost = state.take(lot, remaining)
        record(lot, quantity, cost)


def _transfer(out: LotEvent, arrival: LotEvent, source: _Book, target: _Book, seq: Iterator[int],
              result: LotResult) -> None:
    """Move lots of `out.quantity` from one book to another; `arrival.quantity` (≤ sent) arrives, each lot
    scaled down in proportion, its cost kept whole."""
    received = min(arrival.quantity, out.quantity)
    remaining, arriving_left = out.quantity, received
    taken_total = arrived_total = ZERO
    carried: list[Lot] = []
    while remaining > 0:
        lot = source.next_lot()
        if lot is None:
            result.missing.append(MissingBasis(out.event_id, out.book, out.asset, remaining, ZERO, out.at))
            result.warnings.append(f"{out.event_id}: {plain(remaining)} {out.asset} sent without lots to carry")
            break
        quantity, cost = source.take(lot, remaining)
        arriving = _cumulative_share(received, out.quantity, out.quantity - remaining, quantity, arriving_left,
                                     source.precision.quantity)
        remaining -= quantity
        arriving_left -= arriving
        taken_total += quantity
        arrived_total += arriving
        if arriving > 0:
            carried.append(Lot(f"{lot.lot_id}>{out.transfer_id}", arrival.book, arrival.asset, lot.acquired_at,
                               arriving, cost, lot.source, next(seq)))
        elif cost:  # nothing of this lot arrived (all fee): its cost leaves as a loss, not into thin air
            result.slices.append(DisposalSlice(out.event_id, lot.lot_id, out.book, out.asset, quantity, ZERO, cost,
                                               None if source.method == Method.AVERAGE else lot.acquired_at, out.at,
                                               source.method))
            taken_total -= quantity
    for lot in carried:  # only once every lot has left: a transfer within one book must not take its own arrivals
        target.add(lot)
    result.transfers.append((out.transfer_id or out.event_id, taken_total, arrived_total))
