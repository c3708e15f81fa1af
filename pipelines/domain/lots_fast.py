"""The lot engine for millions of events: the same rules and results as pipelines/domain/lots.py, computed with
integers on the reference engine's rounding grids (Precision) in one compiled pass (numba).

Quantities and values become int64 multiples of the run's quantum; a share of a lot's cost or of a disposal's
proceeds is cumulative, floor(total × taken so far / whole) less what earlier slices got, computed exactly in
128 bits; HIFO compares unit costs exactly where their floats are near — the reference engine's rules, so both
agree to the last digit (tests/unit/test_lot_engine_fast.py).

Falls back to the reference engine (and says why) for what it does not cover: specific identification with
selections, a method that changes between tax years, or amounts that do not fit 63 bits on the grid.

Why one module of ~600 lines: the encoder (events → integer columns), the compiled kernel and the decoder share one
integer representation and one set of invariants; apart, each would need the others to be read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
from numba import njit

from pipelines.domain.lots import (
    KIND_ORDER,
    DisposalSlice,
    Lot,
    LotEvent,
    LotResult,
    Method,
    MissingBasis,
    Precision,
    compute_lots,
    plain,
)

INT63 = 2**63 - 1
METHOD_CODE = {Method.FIFO: 0, Method.LIFO: 1, Method.HIFO: 2, Method.AVERAGE: 3, Method.SPECIFIC: 0}


@njit(cache=True, inline="always")
def _mul128(a: int, b: int):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """a × b for 0 ≤ a, b < 2^63, exactly: (high, low) uint64 halves."""
    mask = np.uint64(0xFFFFFFFF)
    ua, ub = np.uint64(a), np.uint64(b)
    a_lo, a_hi, b_lo, b_hi = ua & mask, ua >> np.uint64(32), ub & mask, ub >> np.uint64(32)
    lo_lo = a_lo * b_lo
    mid1 = a_hi * b_lo
    mid2 = a_lo * b_hi
    hi = a_hi * b_hi
    carry = ((lo_lo >> np.uint64(32)) + (mid1 & mask) + (mid2 & mask)) >> np.uint64(32)
    lo = lo_lo + (mid1 << np.uint64(32)) + (mid2 << np.uint64(32))
    hi = hi + (mid1 >> np.uint64(32)) + (mid2 >> np.uint64(32)) + carry
    return hi, lo


@njit(cache=True)
def _mul_div(a: int, b: int, c: int) -> int:  # pragma: no cover - compiled
    """floor(a × b / c) for 0 ≤ a, b and 0 < c, with a 128-bit intermediate (the result fits: b ≤ c)."""
    if a == 0 or b == 0:
        return 0
    if a < 3037000499 and b < 3037000499:  # a × b < 2^63
        return (a * b) // c
    hi, lo = _mul128(a, b)  # then shift-subtract long division by c
    uc = np.uint64(c)
    quotient = np.uint64(0)
    remainder = np.uint64(0)
    for i in range(127, -1, -1):
        bit = (hi >> np.uint64(i - 64)) & np.uint64(1) if i >= 64 else (lo >> np.uint64(i)) & np.uint64(1)
        overflow = remainder >> np.uint64(63)
        remainder = (remainder << np.uint64(1)) | bit
        if overflow or remainder >= uc:
            remainder -= uc
            if i < 64:
                quotient |= np.uint64(1) << np.uint64(i)
    return np.int64(quotient)


@njit(cache=True)
def _compare_unit_costs(cost_a: int, qty_a: int, cost_b: int, qty_b: int) -> int:  # pragma: no cover - compiled
    """The sign of cost_a / qty_a − cost_b / qty_b (quantities > 0), exactly: cross-multiplied in 128 bits."""
    if (cost_a < 0) != (cost_b < 0):
        return -1 if cost_a < 0 else 1
    if cost_a < 0:  # both negative: the larger magnitude is the smaller unit cost
        return _compare_unit_costs(-cost_b, qty_b, -cost_a, qty_a)
    a_hi, a_lo = _mul128(cost_a, qty_b)
    b_hi, b_lo = _mul128(cost_b, qty_a)
    if a_hi != b_hi:
        return 1 if a_hi > b_hi else -1
    if a_lo != b_lo:
        return 1 if a_lo > b_lo else -1
    return 0


# float64 unit costs further apart than this (relative) are in their exact order: cost and quantity each lose at
# most 2^-53 of themselves becoming floats and the division as much again. Closer ones are compared exactly.
NEAR = 2.0**-48


@njit(cache=True, inline="always")
def _before(k1: np.ndarray, k2: np.ndarray, k3: np.ndarray, basis: np.ndarray, hifo: bool, a: int,
            b: int) -> bool:  # pragma: no cover
    """Lot a comes out of the heap before lot b: (k1, k2, k3) lexicographically, as the reference's keys. Under
    HIFO k1 is −(unit cost) as a float; where two are near, the lots' (quantity, cost) as they joined the book
    (their basis, which a HIFO lot keeps: no pool) decide exactly."""
    if k1[a] != k1[b] and (not hifo or abs(k1[a] - k1[b]) > NEAR * max(abs(k1[a]), abs(k1[b]))):
        return k1[a] < k1[b]
    if hifo:  # unit costs near or equal as floats: the dearer lot first, if they differ at all
        dearer = _compare_unit_costs(basis[a, 1], basis[a, 0], basis[b, 1], basis[b, 0])
        if dearer != 0:
            return dearer > 0
    if k2[a] != k2[b]:
        return k2[a] < k2[b]
    return k3[a] < k3[b]


@njit(cache=True, inline="always")
def _set_key(k1: np.ndarray, k2: np.ndarray, k3: np.ndarray, lot: int, method: int, when: float, seq: int,
             cost: int, quantity: int) -> None:  # pragma: no cover
    """The reference engine's heap keys: FIFO (ts, seq), LIFO (−ts, −seq), HIFO (−unit cost, ts, seq), the exact
    unit cost being the lot's basis (see _before). Times are float seconds in both engines: distinct
    microseconds stay distinct and in order up to the year 2242."""
    if method == 1:
        k1[lot], k2[lot], k3[lot] = -when, 0.0, -seq
    elif method == 2:
        k1[lot], k2[lot], k3[lot] = -(cost / quantity), when, seq
    else:
        k1[lot], k2[lot], k3[lot] = when, 0.0, seq


@njit(cache=True, inline="always")
def _heap_push(data: np.ndarray, start: np.ndarray, size: np.ndarray, cap: np.ndarray, end: int, g: int, lot: int,
               k1: np.ndarray, k2: np.ndarray, k3: np.ndarray, basis: np.ndarray,
               hifo: bool) -> int:  # pragma: no cover
    """Push `lot` on group g's heap. All heaps share one flat array; a full heap moves to its free end with
    twice the room (amortised O(1)). Returns the new free end, or −1 when the array has no room left (the
    caller reruns with more: arrays are never reallocated inside the kernel, which keeps numba from
    reference-counting them on every iteration — that cost more than the matching itself)."""
    if size[g] == cap[g]:
        room = max(4, cap[g] * 2)
        if end + room > data.shape[0]:
            return -1
        data[end:end + size[g]] = data[start[g]:start[g] + size[g]]
        start[g], cap[g] = end, room
        end += room
    base, c = start[g], size[g]
    data[base + c] = lot
    size[g] += 1
    while c > 0:
        parent = (c - 1) // 2
        if not _before(k1, k2, k3, basis, hifo, data[base + c], data[base + parent]):
            break
        data[base + c], data[base + parent] = data[base + parent], data[base + c]
        c = parent
    return end


@njit(cache=True, inline="always")
def _heap_pop(data: np.ndarray, start: np.ndarray, size: np.ndarray, g: int, k1: np.ndarray, k2: np.ndarray,
              k3: np.ndarray, basis: np.ndarray, hifo: bool) -> None:  # pragma: no cover
    """Remove the root of group g's heap."""
    base = start[g]
    size[g] -= 1
    count = size[g]
    if count == 0:
        return
    data[base] = data[base + count]
    c = 0
    while True:
        left = 2 * c + 1
        best = c
        if left < count and _before(k1, k2, k3, basis, hifo, data[base + left], data[base + best]):
            best = left
        if left + 1 < count and _before(k1, k2, k3, basis, hifo, data[base + left + 1], data[base + best]):
            best = left + 1
        if best == c:
            return
        data[base + c], data[base + best] = data[base + best], data[base + c]
        c = best


@njit(cache=True, inline="always")
def _add_lot(lot: int, g: int, quantity: int, cost: int, method: int, pool: np.ndarray, lot_qty: np.ndarray,
             lot_cost: np.ndarray, basis: np.ndarray, lot_when: np.ndarray, lot_seq: np.ndarray, ts: np.ndarray,
             k1: np.ndarray, k2: np.ndarray, k3: np.ndarray, heap: np.ndarray, start: np.ndarray, size: np.ndarray,
             cap: np.ndarray, end: int) -> int:  # pragma: no cover - compiled
    """A lot joins group g's book (an acquisition, or a lot a transfer carried there): into the average pool,
    else onto the heap with its key. Its basis (what later shares are cumulative over, see _take) is what it
    brings, or for the pool what it holds after the addition. Returns the heap's free end (−1: no room, see
    _heap_push)."""
    if method == 3 and pool[g] >= 0:
        pooled = pool[g]
        lot_qty[pooled] += quantity
        lot_cost[pooled] += cost
        basis[pooled, 0], basis[pooled, 1] = lot_qty[pooled], lot_cost[pooled]
        if ts[lot_when[lot]] < ts[lot_when[pooled]]:  # the pool is as old as its oldest lot
            lot_when[pooled] = lot_when[lot]
        return end
    lot_qty[lot], lot_cost[lot] = quantity, cost
    basis[lot, 0], basis[lot, 1] = quantity, cost
    if method == 3:
        pool[g] = lot
    _set_key(k1, k2, k3, lot, method, ts[lot_when[lot]], lot_seq[lot], cost, quantity)
    return _heap_push(heap, start, size, cap, end, g, lot, k1, k2, k3, basis, method == 2)


@njit(cache=True, inline="always")
def _rooms(group: np.ndarray, kind: np.ndarray, dest: np.ndarray, n_groups: int):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Heap room per group (its acquisitions and arrivals), the events that take lots, the transfers."""
    cap = np.zeros(n_groups, np.int64)
    n_out, n_transfers = 0, 0
    for i in range(group.shape[0]):
        if kind[i] == 0:
            cap[group[i]] += 1
        elif kind[i] == 1 or kind[i] == 2:
            n_out += 1
            if kind[i] == 2:
                n_transfers += 1
                cap[dest[i]] += 2
    return cap, n_out, n_transfers


@njit(cache=True, inline="always")
def _take(lot: int, want: int, total: int, remaining: int, other_total: int, other_left: int, lot_qty: np.ndarray,
          lot_cost: np.ndarray, basis: np.ndarray):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Take `want` (at most what the lot holds) from a lot for an event of `total` with `remaining` to cover: the
    slice's quantity, its share of the lot's cost and of what the event shares out (`other_total`: proceeds, or
    what arrives); the lot shrinks. Shares are cumulative (lots.py _cumulative_share): floor(cost × taken so far
    with this slice / quantity) less what earlier slices took, over the lot's basis and the event's totals — each
    slice within one grid unit of its exact value, the last one taking the remainder, both conserved exactly."""
    take = want if want < lot_qty[lot] else lot_qty[lot]
    cost = lot_cost[lot] if take == lot_qty[lot] else (
        _mul_div(basis[lot, 1], basis[lot, 0] - lot_qty[lot] + take, basis[lot, 0]) - (basis[lot, 1] - lot_cost[lot]))
    share = other_left if take == remaining else (
        _mul_div(other_total, total - remaining + take, total) - (other_total - other_left))
    lot_qty[lot] -= take
    lot_cost[lot] -= cost
    return take, cost, share


@njit(cache=True, inline="always")
def _take_selected(i: int, g: int, total: int, remaining: int, other_total: int, other_left: int,
                   sel_start: np.ndarray, sel_end: np.ndarray, sel_lot: np.ndarray, sel_qty: np.ndarray,
                   lot_group: np.ndarray, lot_qty: np.ndarray, lot_cost: np.ndarray, basis: np.ndarray,
                   slices: np.ndarray, n_slices: int, warns: np.ndarray, n_warns: int):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Specific identification: the lots chosen for disposal i first (a choice that is not open in the group is
    warned about, code 1; what they do not cover, code 2, goes to the method's order). Returns (remaining,
    proceeds left, slices, warnings)."""
    for j in range(sel_start[i], sel_end[i]):
        lot = sel_lot[j]
        if lot < 0 or lot_group[lot] != g or lot_qty[lot] <= 0 or sel_qty[j] <= 0:
            warns[n_warns, 0], warns[n_warns, 1], warns[n_warns, 2] = i, 1, j
            n_warns += 1
            continue
        take, cost, share = _take(lot, min(sel_qty[j], remaining), total, remaining, other_total, other_left,
                                  lot_qty, lot_cost, basis)
        remaining -= take
        other_left -= share
        slices[n_slices, 0], slices[n_slices, 1], slices[n_slices, 2] = i, lot, take
        slices[n_slices, 3], slices[n_slices, 4] = cost, share
        n_slices += 1
        if remaining == 0:
            break
    if remaining > 0:
        warns[n_warns, 0], warns[n_warns, 1], warns[n_warns, 2] = i, 2, remaining
        n_warns += 1
    return remaining, other_left, n_slices, n_warns


@njit(cache=True, inline="always")
def _open_lots(heap: np.ndarray, start: np.ndarray, size: np.ndarray, lot_qty: np.ndarray,
               n_lots: int) -> np.ndarray:  # pragma: no cover
    """Every lot still holding something, group by group in heap order."""
    n_open = 0
    open_lot = np.empty(n_lots, np.int64)
    for g in range(start.shape[0]):
        for j in range(size[g]):
            if lot_qty[heap[start[g] + j]] > 0:
                open_lot[n_open] = heap[start[g] + j]
                n_open += 1
    return open_lot[:n_open]


# One compiled loop over the events, longer than the project's ~60 lines: its state — a dozen counters and the
# per-lot arrays — lives in locals, which numba keeps in registers; split further, each piece would need the
# counters boxed in arrays and twenty arguments. The pieces that stand alone are above (_rooms, _take_selected,
# _open_lots, the heap); the reference engine (lots.py) is the readable statement of the same rules.
@njit(cache=True)
def _match(group: np.ndarray, kind: np.ndarray, qty: np.ndarray, value: np.ndarray, ts: np.ndarray,
           dest: np.ndarray, arrive: np.ndarray, sel_start: np.ndarray, sel_end: np.ndarray, sel_lot: np.ndarray,
           sel_qty: np.ndarray, method: int, specific: bool, n_groups: int, spare: int):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One pass over the events (sorted). Lots are created by acquisitions (lot id = their event index) and by
    transfers (new ids from n). Per-lot state lives in numpy arrays; each group keeps a binary heap of lot ids
    ordered by the reference engine's keys (_set_key); a lot emptied by a specific identification leaves its
    heap lazily. Every output has a room known in advance except what carried lots need (`spare` × transfers):
    when that runs out the kernel stops with status 1 and is run again with more.
    Returns (status, outputs in FIELDS order)."""
    n, n_sel = qty.shape[0], sel_qty.shape[0]
    cap, n_out, n_transfers = _rooms(group, kind, dest, n_groups)
    room = n + spare * n_transfers + 16
    lot_qty, lot_cost = np.zeros(room, np.int64), np.zeros(room, np.int64)
    basis = np.zeros((room, 2), np.int64)  # (quantity, cost) the lot's shares are cumulative over
    lot_parent, lot_group = np.arange(room).astype(np.int64), np.zeros(room, np.int64)
    lot_seq, lot_via, lot_when = np.zeros(room, np.int64), np.full(room, -1, np.int64), np.arange(room).astype(np.int64)
    k1, k2, k3 = np.zeros(room, np.float64), np.zeros(room, np.float64), np.zeros(room, np.int64)
    lot_group[:n] = group
    n_lots = n
    start = np.zeros(n_groups, np.int64)
    end = np.int64(0)
    for g in range(n_groups):
        start[g] = end
        end += cap[g]
    heap = np.empty(end + spare * n_transfers + 16, np.int64)
    size = np.zeros(n_groups, np.int64)
    pool = np.full(n_groups, -1, np.int64)  # AVERAGE: the group's pooled lot
    # each slice ends its event or empties a lot; each event is missing once at most; warnings: one per
    # selection and one per disposal
    slices, n_slices = np.zeros((n_out + room, 5), np.int64), 0  # event, lot, qty, cost, proceeds
    missing, n_missing = np.zeros((n_out, 3), np.int64), 0  # event, qty, proceeds
    moves, n_moves = np.zeros((n_transfers, 3), np.int64), 0  # event, taken, arrived
    warns, n_warns = np.zeros((n_sel + n_out, 3), np.int64), 0  # event, code (1 not open, 2 not covered), ref
    seq = np.int64(0)
    status = 0
    for i in range(n):
        g = group[i]
        if qty[i] <= 0 or kind[i] == 3:
            continue
        add_lot, add_group, add_qty, add_cost = -1, -1, np.int64(0), np.int64(0)
        if kind[i] == 0:  # acquire (an arrival nothing departed for comes here too, at its given value)
            add_lot, add_group, add_qty, add_cost = i, g, qty[i], value[i]
            lot_seq[i] = seq
            seq += 1
        else:  # dispose (1), or transfer_out (2) to group dest[i] with arrive[i] arriving
            transfer = kind[i] == 2
            remaining = qty[i]
            other_total = arrive[i] if transfer else value[i]  # what arrives, or the proceeds, to share out
            other_left = other_total
            taken_total, arrived_total = np.int64(0), np.int64(0)
            if specific and not transfer:
                remaining, other_left, n_slices, n_warns = _take_selected(
                    i, g, qty[i], remaining, other_total, other_left, sel_start, sel_end, sel_lot, sel_qty, lot_group,
                    lot_qty, lot_cost, basis, slices, n_slices, warns, n_warns)
            first_child = n_lots
            while remaining > 0:
                while size[g] > 0 and lot_qty[heap[start[g]]] == 0:  # emptied by a specific identification
                    _heap_pop(heap, start, size, g, k1, k2, k3, basis, method == 2)
                if size[g] == 0:
                    break
                lot = heap[start[g]]
                take, cost, share = _take(lot, remaining, qty[i], remaining, other_total, other_left, lot_qty, lot_cost,
                                          basis)
                remaining -= take
                other_left -= share
                if lot_qty[lot] == 0:  # the root is exhausted
                    _heap_pop(heap, start, size, g, k1, k2, k3, basis, method == 2)
                    if method == 3:
                        pool[g] = -1
                if not transfer or (share == 0 and cost > 0):
                    # a disposal's slice; or nothing of this lot arrived: its cost leaves as a loss, no proceeds
                    if n_slices == slices.shape[0]:
                        status = 1
                        break
                    slices[n_slices, 0], slices[n_slices, 1], slices[n_slices, 2] = i, lot, take
                    slices[n_slices, 3], slices[n_slices, 4] = cost, share
                    n_slices += 1
                    continue
                taken_total += take
                arrived_total += share
                if share == 0:
                    continue
                if n_lots == room:
                    status = 1
                    break
                child = n_lots
                n_lots += 1
                lot_parent[child], lot_group[child], lot_via[child] = lot, dest[i], i
                lot_when[child], lot_seq[child] = lot_when[lot], seq
                lot_qty[child], lot_cost[child] = share, cost  # what it brings, held until the transfer is done
                seq += 1
            # the carried lots join their new book as acquisitions do, keeping their dates — only once every lot
            # has left: a transfer within one book (a universal book) must not take its own arrivals again
            for child in range(first_child, n_lots):
                if status:
                    break
                share, cost = lot_qty[child], lot_cost[child]
                lot_qty[child], lot_cost[child] = 0, 0
                end = _add_lot(child, dest[i], share, cost, method, pool, lot_qty, lot_cost, basis, lot_when, lot_seq,
                               ts, k1, k2, k3, heap, start, size, cap, end)
                if end < 0:
                    status = 1
            if status:
                break
            if remaining > 0:
                missing[n_missing, 0], missing[n_missing, 1] = i, remaining
                missing[n_missing, 2] = 0 if transfer else other_left
                n_missing += 1
            if transfer:
                moves[n_moves, 0], moves[n_moves, 1], moves[n_moves, 2] = i, taken_total, arrived_total
                n_moves += 1
        if add_lot >= 0:  # an acquisition
            end = _add_lot(add_lot, add_group, add_qty, add_cost, method, pool, lot_qty, lot_cost, basis, lot_when,
                           lot_seq, ts, k1, k2, k3, heap, start, size, cap, end)
            if end < 0:
                status = 1
                break
    return status, (slices[:n_slices], missing[:n_missing], moves[:n_moves], warns[:n_warns],
                    _open_lots(heap, start, size, lot_qty, n_lots),
                    lot_qty[:n_lots], lot_cost[:n_lots], lot_parent[:n_lots], lot_group[:n_lots], lot_via[:n_lots],
                    lot_when[:n_lots], lot_seq[:n_lots])


FIELDS = ("slices", "missing", "transfers", "warnings", "open_lot", "lot_qty", "lot_cost", "lot_parent", "lot_group",
          "lot_via", "lot_when", "lot_seq")
NO_SELECTIONS = (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


@njit(cache=True)
def _components(group: np.ndarray, kind: np.ndarray, dest: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the id of its component: groups joined by a transfer share one (union-find)."""
    parent = np.arange(n_groups).astype(np.int64)

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(group.shape[0]):
        if kind[i] == 2 and dest[i] >= 0:
            a, b = root(group[i]), root(dest[i])
            if a != b:
                parent[max(a, b)] = min(a, b)
    for g in range(n_groups):
        parent[g] = root(g)
    return parent


def match_lots(group: np.ndarray, kind: np.ndarray, qty: np.ndarray, value: np.ndarray, ts: np.ndarray,
               dest: np.ndarray, arrive: np.ndarray, method: Method, n_groups: int, *, default: Method = Method.FIFO,
               selections: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The engine on columns (what compute_lots_fast and the benchmark use): events sorted by time, quantities
    and values as int64 multiples of the run's Precision; kind 0 acquire, 1 dispose, 2 transfer_out (to group
    dest, arrive arriving), 3 a matched arrival (no-op). Under SPECIFIC, `selections` = (ptr, lot, qty): the
    lots chosen for event i are lot[ptr[i]:ptr[i+1]] (acquiring event indexes, −1 unknown) with their quantities;
    the rest is taken in `default` order.
    Returns int64 arrays (FIELDS): slices rows (event, lot, qty, cost, proceeds), missing rows (event, qty,
    proceeds), transfers rows (event, taken, arrived), warnings rows (event, code 1 selected lot not open /
    2 not covered by the selection, selection index or uncovered qty), open lots; lot ids < n are the acquiring
    events, larger ids lots carried by a transfer (lot_parent, lot_via = the departure event), lot_when the
    event whose date the lot keeps. Rows come in event order, as the reference engine gives them.

    Why the permutation: books that no transfer connects never share a lot, so the kernel runs one component
    (a book and asset, or books joined by transfers) after another, each in time order. With a million events
    over 50,000 books that keeps each book's lots together in memory — the time-ordered pass spent most of its
    time waiting for cache misses. Rows are put back in event order afterwards."""
    n = len(qty)
    specific = method == Method.SPECIFIC
    kind = kind.astype(np.int8)
    ptr, lots, quantities = selections if selections is not None else NO_SELECTIONS
    if len(ptr) < n + 1:  # no selections for the later events
        ptr = np.concatenate([ptr, np.full(n + 1 - len(ptr), ptr[-1] if len(ptr) else 0, np.int64)])
    component = _components(group, kind, dest, n_groups)[group] if n else np.zeros(0, np.int64)
    perm = np.argsort(component, kind="stable")
    inverse = np.empty(n, np.int64)
    inverse[perm] = np.arange(n)
    chosen = np.where(lots >= 0, inverse[np.clip(lots, 0, max(n - 1, 0))], -1) if n else lots
    spare = 4  # room for lots carried by transfers: 4 per transfer, more if a run needs it
    while True:
        status, columns = _match(group[perm], kind[perm], qty[perm], value[perm], ts[perm], dest[perm],
                                 arrive[perm], ptr[:-1][perm], ptr[1:][perm], chosen, quantities,
                                 METHOD_CODE[default if specific else method], specific, n_groups, spare)
        if status == 0:
            break
        spare *= 4
    out = dict(zip(FIELDS, columns, strict=True))

    def lot_ids(ids: np.ndarray) -> np.ndarray:  # kernel lot ids → ours (acquisitions are their event index)
        return np.where(ids < n, perm[np.minimum(ids, max(n - 1, 0))], ids)

    for name in ("slices", "missing", "transfers", "warnings"):
        rows = out[name]
        rows[:, 0] = perm[rows[:, 0]]
        if name == "slices":
            rows[:, 1] = lot_ids(rows[:, 1])
        out[name] = rows[np.argsort(rows[:, 0], kind="stable")]
    for name in ("lot_qty", "lot_cost", "lot_parent", "lot_group", "lot_via", "lot_when", "lot_seq"):
        values = out[name]
        if name == "lot_parent":
            values = lot_ids(values)
        elif name in ("lot_via", "lot_when"):
            values = np.where(values >= 0, perm[np.clip(values, 0, max(n - 1, 0))], values)
        reordered = values.copy()
        reordered[perm] = values[:n]
        out[name] = reordered
    out["open_lot"] = lot_ids(out["open_lot"])
    return out


@dataclass
class _Encoded:
    """The events as the kernel's integer columns, and what decoding its output needs."""

    ordered: list[LotEvent]
    money: Decimal
    quantity: Decimal
    groups: dict[tuple[str, str], int]
    arrivals: dict[str, LotEvent]
    columns: dict[str, np.ndarray]
    selections: tuple[np.ndarray, np.ndarray, np.ndarray]
    chosen_ids: list[str]
    early: list[tuple[int, str]]  # warnings the reference engine gives as it reaches the event


class _NeedsReference(Exception):
    """A value beyond 63 bits or finer than the scale: the reference engine computes this unit."""


def compute_lots_fast(events: Sequence[LotEvent], method: Method | Callable[[int], Method] = Method.FIFO, *,
                      default: Method = Method.FIFO,
                      selections: Mapping[str, Sequence[tuple[str, Decimal]]] | None = None) -> LotResult:
    """compute_lots, fast. Same arguments, same result."""
    ordered = sorted(events, key=lambda e: (e.at, KIND_ORDER[e.kind], e.event_id))
    if not ordered:
        return LotResult(engine="fast")
    if callable(method):
        years = {method(e.at.year) for e in ordered}
        if len(years) > 1:
            return compute_lots(ordered, method, default=default, selections=selections)
        method = years.pop()
    selections = selections or {}
    if method == Method.SPECIFIC and any(">" in lot for chosen in selections.values() for lot, _ in chosen):
        return compute_lots(ordered, method, default=default, selections=selections)  # a carried lot chosen
    try:
        precision = Precision.of(ordered)
        with localcontext(precision.context):  # amounts to grid units exactly, whatever their digits
            encoded = _encode(ordered, method, selections, precision)
    except _NeedsReference:
        return compute_lots(ordered, method, default=default, selections=selections)
    c = encoded.columns
    out = match_lots(c["group"], c["kind"], c["qty"], c["value"], c["ts"], c["dest"], c["arrive"], method,
                     len(encoded.groups), default=default, selections=encoded.selections)
    return _decode(encoded, out, method, default)


def _encode(ordered: list[LotEvent], method: Method, selections: Mapping[str, Sequence[tuple[str, Decimal]]],
            precision: Precision) -> _Encoded:
    money, quantity = precision.money, precision.quantity
    groups: dict[tuple[str, str], int] = {}
    arrivals = {e.transfer_id: e for e in ordered if e.kind == "transfer_in" and e.transfer_id}
    departures = {e.transfer_id for e in ordered if e.kind == "transfer_out" and e.transfer_id}
    index = {e.event_id: i for i, e in enumerate(ordered)}
    n = len(ordered)
    group, kind = np.empty(n, np.int64), np.empty(n, np.int8)
    qty, value = np.zeros(n, np.int64), np.zeros(n, np.int64)
    dest, arrive, ts = np.full(n, -1, np.int64), np.zeros(n, np.int64), np.empty(n, np.float64)
    sel_ptr = np.zeros(n + 1, np.int64)
    sel_lot: list[int] = []
    sel_qty: list[int] = []
    chosen_ids: list[str] = []
    early: list[tuple[int, str]] = []
    for i, e in enumerate(ordered):
        group[i] = groups.setdefault((e.book, e.asset), len(groups))
        ts[i] = e.at.timestamp()
        q, v = e.quantity / quantity, e.value / money
        if q != q.to_integral_value() or v != v.to_integral_value() or abs(q) > INT63 or abs(v) > INT63:
            raise _NeedsReference
        qty[i], value[i] = int(q), int(v)
        if e.quantity <= 0:
            early.append((i, f"{e.event_id}: quantity {plain(e.quantity)} is not positive; skipped"))
        if e.kind == "acquire":
            kind[i] = 0
        elif e.kind == "dispose":
            kind[i] = 1
            for lot_id, wanted in selections.get(e.event_id, ()) if method == Method.SPECIFIC else ():
                w = wanted / quantity
                if w != w.to_integral_value() or abs(w) > INT63:
                    raise _NeedsReference
                sel_lot.append(index.get(lot_id, -1))
                sel_qty.append(int(w))
                chosen_ids.append(lot_id)
        elif e.kind == "withdraw":  # out at no proceeds, no lots chosen
            kind[i], value[i] = 1, 0
        elif e.kind == "transfer_out":
            arrival = arrivals.get(e.transfer_id)
            if arrival is None:  # no arrival: a disposal without proceeds, as the reference engine books it
                if e.quantity > 0:
                    early.append((i, f"{e.event_id}: transfer {e.transfer_id} has no arrival; "
                                     "treated as a disposal without proceeds"))
                kind[i], value[i] = 1, 0
            else:
                kind[i] = 2
                dest[i] = groups.setdefault((arrival.book, arrival.asset), len(groups))
                arrive[i] = int(min(arrival.quantity, e.quantity) / quantity)
        elif e.transfer_id in departures:
            kind[i], qty[i] = 3, 0  # a matched arrival: its departure moved the lots
        else:
            if e.quantity > 0:
                early.append((i, f"{e.event_id}: arrival without a departure; acquired at {plain(e.value)}"))
            kind[i] = 0
        sel_ptr[i + 1] = len(sel_lot)
    columns = {"group": group, "kind": kind, "qty": qty, "value": value, "ts": ts, "dest": dest, "arrive": arrive}
    return _Encoded(ordered, money, quantity, groups, arrivals, columns,
                    (sel_ptr, np.array(sel_lot, np.int64), np.array(sel_qty, np.int64)), chosen_ids, early)


def _decode(enc: _Encoded, out: dict[str, Any], method: Method, default: Method) -> LotResult:
    """The kernel's integer output as the reference engine's result: names, Decimals, warnings in event order."""
    ordered, money, quantity, n = enc.ordered, enc.money, enc.quantity, len(enc.ordered)
    lot_src, lot_via, lot_when = out["lot_parent"], out["lot_via"], out["lot_when"]
    names: dict[int, str] = {}

    def lot_root(lot: int) -> int:  # the event that acquired the lot (a carried lot's first ancestor)
        while lot >= n:
            lot = int(lot_src[lot])
        return lot

    def lot_name(lot: int) -> str:  # 'L1', or 'L1>T1' for the part of L1 that transfer T1 carried
        if lot not in names:
            names[lot] = ordered[lot].event_id if lot < n else \
                f"{lot_name(lot_src[lot])}>{ordered[lot_via[lot]].transfer_id}"
        return names[lot]

    notes = list(enc.early)
    for event, code, ref in out["warnings"]:
        e = ordered[event]
        if code == 1:
            text = (f"{e.event_id}: selected lot {enc.chosen_ids[ref]} is not open in {e.book}/{e.asset}; "
                    f"falling back to {default}")
        else:
            uncovered = plain(Decimal(int(ref)) * quantity)
            text = f"{e.event_id}: {uncovered} {e.asset} not covered by the selected lots; {default} for the rest"
        notes.append((int(event), text))
    result = LotResult(engine="fast")
    for event, lot, q, cost, proceeds in out["slices"]:
        e = ordered[event]
        result.slices.append(DisposalSlice(
            e.event_id, lot_name(lot), e.book, e.asset, Decimal(int(q)) * quantity, Decimal(int(proceeds)) * money,
            Decimal(int(cost)) * money, None if method == Method.AVERAGE else ordered[lot_when[lot]].at, e.at,
            method))
    for event, q, proceeds in out["missing"]:
        e = ordered[event]
        result.missing.append(MissingBasis(e.event_id, e.book, e.asset, Decimal(int(q)) * quantity,
                                           Decimal(int(proceeds)) * money, e.at))
        if e.kind == "transfer_out" and e.transfer_id in enc.arrivals:
            notes.append((int(event), f"{e.event_id}: {plain(Decimal(int(q)) * quantity)} {e.asset} sent without "
                                      "lots to carry"))
    result.warnings = [text for _, text in sorted(notes, key=lambda note: note[0])]
    for event, taken, arrived in out["transfers"]:
        e = ordered[event]
        result.transfers.append((e.transfer_id or e.event_id, Decimal(int(taken)) * quantity,
                                 Decimal(int(arrived)) * quantity))
    group_key = {v: k for k, v in enc.groups.items()}
    lots = []
    for lot in out["open_lot"]:
        book, asset = group_key[out["lot_group"][lot]]
        lots.append(Lot(lot_name(lot), book, asset, ordered[lot_when[lot]].at,
                        Decimal(int(out["lot_qty"][lot])) * quantity, Decimal(int(out["lot_cost"][lot])) * money,
                        ordered[lot_root(lot)].source, int(out["lot_seq"][lot])))
    result.open_lots = sorted(lots, key=lambda lot: (lot.book, lot.asset, lot.acquired_at, lot.seq))
    return result
