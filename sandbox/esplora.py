"""Esplora REST (the API of blockstream.info and mempool.space), for the sandbox's Bitcoin network.

    GET /esplora/api/blocks/tip/height
    GET /esplora/api/address/:address                         chain_stats / mempool_stats
    GET /esplora/api/address/:address/txs                     newest first, 25 confirmed per page
    GET /esplora/api/address/:address/txs/chain/:last_txid    the next 25 after last_txid
    GET /esplora/api/address/:address/utxo
    GET /esplora/api/tx/:txid
Amounts are integers in satoshis, as Esplora serves them. The chain's tip is the world's end.
"""

from __future__ import annotations

from typing import Any

from pipelines.sources.chains.hd import InvalidKey, address_script_type
from sandbox.binance import Request
from sandbox.chains import BtcTx, btc_height
from sandbox.world import World

PAGE = 25


def _script_type(address: str) -> str:
    try:
        kind = address_script_type(address)[1]
    except InvalidKey:
        return "unknown"
    return {"p2wpkh": "v0_p2wpkh", "p2sh": "p2sh", "p2pkh": "p2pkh", "p2tr": "v1_p2tr"}.get(kind, kind)


def tx_json(world: World, tx: BtcTx) -> dict[str, Any]:
    tip = btc_height(world.chains.end_ms, world.chains.start_ms)
    return {
        "txid": tx.txid, "version": 2, "locktime": 0,
        "vin": [{"txid": prev, "vout": n, "is_coinbase": False, "sequence": 4294967293, "scriptsig": "",
                 "witness": ["3044" + "00" * 70, "02" + "11" * 32],
                 "prevout": {"scriptpubkey": "", "scriptpubkey_address": address,
                             "scriptpubkey_type": _script_type(address), "value": sats}}
                for prev, n, address, sats in tx.vin],
        "vout": [{"scriptpubkey": "", "scriptpubkey_address": address, "scriptpubkey_type": _script_type(address),
                  "value": sats} for address, sats in tx.vout],
        "size": 222, "weight": 561, "fee": tx.fee,
        "status": {"confirmed": tx.height <= tip, "block_height": tx.height,
                   "block_hash": f"{tx.height:064x}", "block_time": tx.time_ms // 1000},
    }


def address_stats(world: World, address: str) -> dict[str, Any]:
    funded = [(t, v) for t in world.chains.btc_txs for a, v in t.vout if a == address]
    spent = [(t, v[3]) for t in world.chains.btc_txs for v in t.vin if v[2] == address]
    txs = world.chains.btc_address_txs(address)
    return {"address": address,
            "chain_stats": {"funded_txo_count": len(funded), "funded_txo_sum": sum(v for _, v in funded),
                            "spent_txo_count": len(spent), "spent_txo_sum": sum(v for _, v in spent),
                            "tx_count": len(txs)},
            "mempool_stats": {"funded_txo_count": 0, "funded_txo_sum": 0, "spent_txo_count": 0,
                              "spent_txo_sum": 0, "tx_count": 0}}


def dispatch(world: World, request: Request, *, malformed: bool) -> tuple[int, Any] | tuple[int, Any, dict[str, str]]:
    text = {"Content-Type": "text/plain"}
    parts = [p for p in request.path.split("/") if p]
    if parts[:1] != ["api"]:
        return 404, b"Not Found", text
    parts = parts[1:]
    if parts == ["blocks", "tip", "height"]:
        return 200, str(btc_height(world.chains.end_ms, world.chains.start_ms)).encode(), text
    if len(parts) >= 2 and parts[0] == "address":
        address = parts[1]
        try:
            address_script_type(address)
        except InvalidKey:
            return 400, b"Invalid Bitcoin address", text
        if len(parts) == 2:
            return 200, address_stats(world, address)
        txs = world.chains.btc_address_txs(address)
        if parts[2:] == ["txs"]:
            return 200, [tx_json(world, t) for t in txs[:PAGE]]
        if len(parts) == 5 and parts[2:4] == ["txs", "chain"]:
            ids = [t.txid for t in txs]
            if parts[4] not in ids:
                return 200, []
            start = ids.index(parts[4]) + 1
            return 200, [tx_json(world, t) for t in txs[start:start + PAGE]]
        if parts[2:] == ["utxo"]:
            spent = {(v[0], v[1]) for t in world.chains.btc_txs for v in t.vin}
            return 200, [{"txid": t.txid, "vout": n, "value": v,
                          "status": {"confirmed": True, "block_height": t.height, "block_time": t.time_ms // 1000}}
                         for t in txs for n, (a, v) in enumerate(t.vout) if a == address and (t.txid, n) not in spent]
    if len(parts) == 2 and parts[0] == "tx":
        tx = next((t for t in world.chains.btc_txs if t.txid == parts[1]), None)
        return (200, tx_json(world, tx)) if tx else (404, b"Transaction not found", text)
    return 404, b"Not Found", text
