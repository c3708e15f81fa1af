"""The client order id as each venue carries it (pipelines.domain.execution): Bitfinex's `cid` is an integer of at most
45 bits, derived from Coinbook's id the same way every time; the other venues take the id as it is."""

from __future__ import annotations

from pipelines.domain.execution import client_order_params, venue_client_order_id
from pipelines.domain.rebalancing import client_order_id


def test_bitfinex_gets_a_stable_integer_cid_within_45_bits() -> None:
    ids = [client_order_id(f"rb-{n}", i) for n in range(200) for i in range(3)]
    cids = [int(venue_client_order_id("bitfinex", c)) for c in ids]
    assert all(0 <= cid < 2 ** 45 for cid in cids)
    assert len(set(cids)) == len(ids)  # distinct for distinct orders
    assert [int(venue_client_order_id("bitfinex", c)) for c in ids] == cids  # the same on every send
    assert client_order_params("bitfinex", ids[0]) == {"cid": cids[0]}


def test_the_other_venues_take_the_id_as_it_is_under_their_own_field() -> None:
    ours = client_order_id("rb-1", 0)
    assert {v: venue_client_order_id(v, ours) for v in ("binance", "kraken", "coinbase", "htx")} == dict.fromkeys(
        ("binance", "kraken", "coinbase", "htx"), ours)
    assert client_order_params("coinbase", ours) == {"client_order_id": ours}  # ccxt's coinbase ignores clientOrderId
    assert client_order_params("htx", ours) == client_order_params("binance", ours) == {"clientOrderId": ours}
