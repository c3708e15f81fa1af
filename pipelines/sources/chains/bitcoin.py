"""Bitcoin wallets through an Esplora REST API: address discovery, transactions, balances, and the wallet's
view of each transaction (UTXO-aware: change back to the wallet's own addresses is not a disposal).

No Dagster, no SQL: `sync_wallet` returns rows for raw.btc_transactions / raw.btc_balances and the new cursor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pipelines.sources.chains.hd import DerivedAddress, InvalidKey, address_script_type, discover, parse_extended_key
from pipelines.sources.chains.http import JsonHttp
from pipelines.sources.exchanges.canonical import clean_json, record_hash

SOURCE = "esplora"
SAT = Decimal("0.00000001")
PAGE = 25  # Esplora's confirmed transactions per page
REORG_DEPTH = 6  # re-read the last few blocks: a transaction in a block that was replaced moves


@dataclass(frozen=True)
class BtcWalletSpec:
    """ops.accounts.settings of a Bitcoin wallet: {"xpub": "zpub…", "script_type": "p2wpkh", "gap_limit": 20}
    and/or {"addresses": ["bc1…", …]}."""

    xpub: str | None = None
    script_type: str | None = None
    addresses: tuple[str, ...] = ()
    gap_limit: int = 20

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> BtcWalletSpec:
        addresses = tuple(str(a).strip() for a in settings.get("addresses") or [])
        spec = cls(settings.get("xpub"), settings.get("script_type"), addresses, int(settings.get("gap_limit", 20)))
        if not spec.xpub and not spec.addresses:
            raise InvalidKey("a Bitcoin wallet needs settings.xpub or settings.addresses")
        if spec.xpub:
            parse_extended_key(spec.xpub, spec.script_type)  # fail early, with the reason
        for address in addresses:
            address_script_type(address)
        return spec


class Esplora(JsonHttp):
    def tip_height(self) -> int:
        return int(self.request("GET", "/blocks/tip/height", text=True))

    def address_stats(self, address: str) -> dict[str, Any]:
        return self.request("GET", f"/address/{address}")

    def confirmed_txs(self, address: str, since_height: int = 0) -> list[dict[str, Any]]:
        """Confirmed transactions of an address, newest first, down to `since_height` (inclusive)."""
        out: list[dict[str, Any]] = []
        page = self.request("GET", f"/address/{address}/txs")
        while True:
            confirmed = [t for t in page if t.get("status", {}).get("confirmed")]
            out.extend(t for t in confirmed if t["status"]["block_height"] >= since_height)
            if len(confirmed) < PAGE or (confirmed and confirmed[-1]["status"]["block_height"] < since_height):
                return out
            page = self.request("GET", f"/address/{address}/txs/chain/{confirmed[-1]['txid']}")


def _tx_count(stats: dict[str, Any]) -> int:
    return int(stats.get("chain_stats", {}).get("tx_count", 0)) + int(stats.get("mempool_stats", {}).get("tx_count", 0))


@dataclass
class WalletSync:
    addresses: list[DerivedAddress] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)  # rows for raw.btc_transactions
    balance: dict[str, Any] | None = None  # a row for raw.btc_balances
    cursor: dict[str, Any] = field(default_factory=dict)


def watched_addresses(spec: BtcWalletSpec, esplora: Esplora, stats: dict[str, dict[str, Any]]) -> list[DerivedAddress]:
    """Every address the wallet owns: gap-limit discovery on the extended key (BIP44), plus plain addresses."""
    found: list[DerivedAddress] = []
    if spec.xpub:
        account = parse_extended_key(spec.xpub, spec.script_type)

        def is_used(batch: list[str]) -> list[bool]:
            for address in batch:
                stats[address] = esplora.address_stats(address)
            return [_tx_count(stats[a]) > 0 for a in batch]

        found.extend(discover(account, is_used, gap_limit=spec.gap_limit, batch=spec.gap_limit))
    for address in spec.addresses:
        if address not in {a.address for a in found}:
            stats[address] = esplora.address_stats(address)
            found.append(DerivedAddress(address, 0, 0, "", address_script_type(address)[1]))
    return found


def wallet_view(tx: dict[str, Any], own: set[str]) -> dict[str, Any]:
    """What a transaction did to the wallet that owns `own`.

    received = own outputs; sent = own inputs. The network fee is the wallet's when it funded every input (a
    transaction partly funded by others — a coinjoin, a payjoin — leaves the fee with whoever built it, so it is
    not booked here). What went to others = sent − received − fee: change is netted out, never a disposal.
    direction: 'in' (others paid the wallet), 'out' (the wallet paid others), 'self' (consolidation: fee only).
    """
    inputs = [(v.get("prevout") or {}) for v in tx.get("vin", [])]
    received = sum(int(o.get("value", 0)) for o in tx.get("vout", []) if o.get("scriptpubkey_address") in own)
    sent = sum(int(p.get("value", 0)) for p in inputs if p.get("scriptpubkey_address") in own)
    all_own = bool(inputs) and all(p.get("scriptpubkey_address") in own for p in inputs)
    fee = int(tx.get("fee", 0)) if sent and all_own else 0
    to_others = sent - received - fee
    if sent == 0 or to_others < 0:
        direction, amount = "in", received - sent
        counterparties = sorted({p.get("scriptpubkey_address") or "" for p in inputs} - own - {""})
    elif to_others == 0:
        direction, amount, counterparties = "self", 0, []
    else:
        direction, amount = "out", to_others
        counterparties = sorted({o.get("scriptpubkey_address") or "" for o in tx.get("vout", [])} - own - {""})
    return {"direction": direction, "amount": Decimal(amount) * SAT, "fee_amount": Decimal(fee) * SAT,
            "received": Decimal(received) * SAT, "sent": Decimal(sent) * SAT,
            "own_addresses": sorted({p.get("scriptpubkey_address") for p in inputs} & own
                                    | {o.get("scriptpubkey_address") for o in tx.get("vout", [])} & own),
            "counterparties": counterparties}


def transaction_row(tx: dict[str, Any], own: set[str]) -> dict[str, Any]:
    status = tx.get("status", {})
    block_time = status.get("block_time")
    return {"source": SOURCE, "source_record_id": str(tx["txid"]), "txid": str(tx["txid"]),
            "occurred_at": datetime.fromtimestamp(int(block_time), UTC) if block_time else None,
            "block_height": status.get("block_height"), **wallet_view(tx, own),
            "payload": clean_json(tx), "record_hash": record_hash(tx)}


def sync_wallet(spec: BtcWalletSpec, esplora: Esplora, cursor: dict[str, Any]) -> WalletSync:
    """Discover addresses, read the transactions of every address whose history changed since `cursor`
    ({"addresses": {address: {"tx_count": n, "height": h}}}), and the balance at the tip."""
    stats: dict[str, dict[str, Any]] = {}
    addresses = watched_addresses(spec, esplora, stats)
    own = {a.address for a in addresses}
    known = dict(cursor.get("addresses", {}))
    tip = esplora.tip_height()
    txs: dict[str, dict[str, Any]] = {}
    for address in addresses:
        count = _tx_count(stats[address.address])
        previous = known.get(address.address, {})
        if count == 0 or count == previous.get("tx_count"):
            continue
        since = max(0, int(previous.get("height", 0)) - REORG_DEPTH) if previous else 0
        for tx in esplora.confirmed_txs(address.address, since):
            txs[tx["txid"]] = tx
        known[address.address] = {"tx_count": count, "height": tip}
    funded = sum(int(s["chain_stats"]["funded_txo_sum"]) for s in stats.values())
    spent = sum(int(s["chain_stats"]["spent_txo_sum"]) for s in stats.values())
    total = Decimal(funded - spent) * SAT
    balance_payload = {"tip_height": tip, "addresses": len(addresses), "funded_txo_sum": funded,
                       "spent_txo_sum": spent}
    return WalletSync(
        addresses=addresses,
        transactions=[transaction_row(tx, own) for tx in txs.values()],
        balance={"source": SOURCE, "source_record_id": f"BTC@{tip}:{funded}:{spent}", "asset": "BTC",
                 "free": total, "used": Decimal(0), "total": total, "observed_at": None,
                 "payload": balance_payload, "record_hash": record_hash(balance_payload)},
        cursor={"addresses": known, "tip": tip},
    )


def as_rows(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r.get(c) for c in columns) for r in rows]
