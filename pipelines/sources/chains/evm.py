"""EVM wallets: history from an Etherscan-style explorer (v2 API, one endpoint for every chain id), balances
from JSON-RPC (eth_getBalance, eth_call balanceOf). Gas is a fee; tokens not in the contract registry
(dbt_project/seeds/evm_contracts.csv) are flagged downstream as unverified/spam and never valued.

No Dagster, no SQL: functions return rows for raw.evm_transfers / raw.evm_balances and the new cursor.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipelines.sources.chains.abi import checksum_address, decode_words, encode_call, scaled
from pipelines.sources.chains.http import ChainSourceError, JsonHttp
from pipelines.sources.exchanges.canonical import clean_json, clean_text, record_hash, to_decimal

CHAIN_IDS = {"ethereum": 1, "arbitrum": 42161, "optimism": 10, "base": 8453, "polygon": 137}
NATIVE = {"ethereum": "ETH", "arbitrum": "ETH", "optimism": "ETH", "base": "ETH", "polygon": "POL"}
REGISTRY = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds" / "evm_contracts.csv"
OFFSET = 1000  # rows per explorer page; Etherscan caps page × offset at 10,000
WINDOW = 10_000


@dataclass(frozen=True)
class Contract:
    chain: str
    address: str
    symbol: str
    decimals: int | None
    role: str  # token | receipt | debt | lp | pool | gateway | router
    protocol: str | None
    underlying: str | None


@lru_cache(maxsize=1)
def registry() -> tuple[Contract, ...]:
    with REGISTRY.open(newline="") as handle:
        return tuple(Contract(r["chain"], checksum_address(r["address"]), r["symbol"],
                              int(r["decimals"]) if r["decimals"] else None, r["role"], r["protocol"] or None,
                              r["underlying"] or None) for r in csv.DictReader(handle))


def contracts(chain: str, role: str | None = None, protocol: str | None = None) -> list[Contract]:
    return [c for c in registry() if c.chain == chain and (role is None or c.role == role)
            and (protocol is None or c.protocol == protocol)]


class Explorer(JsonHttp):
    """Etherscan v2 (`/v2/api?chainid=…`); `api_key` goes in the query and never into logs or errors."""

    api_key: str | None = None

    def rows(self, chain: str, action: str, address: str, start_block: int) -> list[dict[str, Any]]:
        """Every row from `start_block` (inclusive), ascending. Past the 10,000-row window it restarts from
        the last block read (rows of that block come twice; the loader's key drops the repeats)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {"chainid": CHAIN_IDS[chain], "module": "account", "action": action,
                                      "address": address, "startblock": start_block, "endblock": 99_999_999_999,
                                      "page": page, "offset": OFFSET, "sort": "asc"}
            if self.api_key:
                params["apikey"] = self.api_key
            answer = self.request("GET", "", params=params)
            result = answer.get("result") if isinstance(answer, dict) else None
            if answer.get("status") != "1":
                if isinstance(result, list) or "No transactions found" in str(answer.get("message")):
                    return out
                raise ChainSourceError(f"explorer {action} on {chain}: {str(result)[:200]}")
            out.extend(result)
            if len(result) < OFFSET:
                return out
            if (page + 1) * OFFSET > WINDOW:
                start_block, page = int(result[-1]["blockNumber"]), 1
            else:
                page += 1


class Rpc(JsonHttp):
    def batch(self, calls: list[tuple[str, list[Any]]], *, allow_errors: bool = False) -> list[Any]:
        """One JSON-RPC batch; results in call order; an error answer raises with its message (or, with
        `allow_errors`, comes back as None: one token contract that reverts must not hide the others)."""
        if not calls:
            return []
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = self.request("POST", "", body=body)
        if not isinstance(answers, list):
            answers = [answers]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        out = []
        for i, (method, _params) in enumerate(calls):
            answer = by_id.get(i)
            if answer is None or "error" in answer:
                if allow_errors and answer is not None:
                    out.append(None)
                    continue
                raise ChainSourceError(f"JSON-RPC {method}: {(answer or {}).get('error', 'no answer')}")
            out.append(answer["result"])
        return out

    def call(self, to: str, data: str) -> str:
        return self.batch([("eth_call", [{"to": to, "data": data}, "latest"])])[0]


def _dt(seconds: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(seconds), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _token_amount(units: Any, decimals: Any) -> Decimal | None:
    """Integer units scaled by the token's decimals; None (→ quarantine) when either is not an integer or the
    amount does not fit numeric(38,18). Scaled before the range check: 10^24 units of an 18-decimal token is
    a million tokens, not an overflow."""
    try:
        value = Decimal(int(str(units)))
        places = int(str(decimals))
    except (TypeError, ValueError):
        return None
    if not 0 <= places <= 36:
        return None
    return to_decimal(value.scaleb(-places))


def _direction(address: str, sender: str, receiver: str) -> str:
    a = address.lower()
    if sender.lower() == a and receiver.lower() == a:
        return "self"
    return "out" if sender.lower() == a else "in"


def _row(chain: str, tx: dict[str, Any], kind: str, record_id: str, *, asset: str | None, contract: str | None,
         token_name: str | None, amount: Decimal | None, direction: str, fee: bool = False) -> dict[str, Any]:
    payload = clean_json(tx)
    return {"source": "etherscan", "source_record_id": record_id, "chain": chain,
            "txid": clean_text(tx.get("hash")), "log_index": None if kind != "token" else tx.get("logIndex"),
            "kind": kind, "occurred_at": _dt(tx.get("timeStamp")), "block_number": int(tx.get("blockNumber", 0)),
            "direction": direction, "asset": clean_text(asset), "token_contract": contract,
            "token_name": clean_text(token_name), "amount": amount,
            "from_address": clean_text(tx.get("from")), "to_address": clean_text(tx.get("to")),
            "method": clean_text(tx.get("functionName") or tx.get("methodId")) if not fee else "gas",
            "payload": payload, "record_hash": record_hash({"kind": kind, "tx": payload})}


def transfer_rows(chain: str, address: str, txlist: list[dict[str, Any]],
                  tokentx: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Canonical movements of one address: native value in/out, gas paid (when the address sent the
    transaction; a failed transaction moves no value but still pays gas), token transfers in/out."""
    rows: list[dict[str, Any]] = []
    native = NATIVE[chain]
    for tx in txlist:
        value = to_decimal(tx.get("value"))
        failed = str(tx.get("isError", "0")) == "1"
        direction = _direction(address, str(tx.get("from", "")), str(tx.get("to", "")))
        if value and not failed and direction != "self":
            rows.append(_row(chain, tx, "native", f"{tx.get('hash')}:native", asset=native, contract=None,
                             token_name=None, amount=value.scaleb(-18), direction=direction))
        if str(tx.get("from", "")).lower() == address.lower():
            gas_used, gas_price = to_decimal(tx.get("gasUsed")), to_decimal(tx.get("gasPrice"))
            fee = (gas_used * gas_price).scaleb(-18) if gas_used is not None and gas_price is not None else None
            rows.append(_row(chain, tx, "gas", f"{tx.get('hash')}:gas", asset=native, contract=None,
                             token_name=None, amount=fee, direction="out", fee=True))
    for ordinal, tx in enumerate(tokentx):
        amount = _token_amount(tx.get("value"), tx.get("tokenDecimal"))
        log = tx.get("logIndex")
        record_id = f"{tx.get('hash')}:log:{log}" if log not in (None, "") else \
            f"{tx.get('hash')}:token:{tx.get('contractAddress')}:{tx.get('from')}:{tx.get('to')}:{tx.get('value')}:{ordinal}"
        try:
            contract = checksum_address(str(tx.get("contractAddress", "")))
        except ValueError:
            contract = None
        rows.append(_row(chain, tx, "token", record_id, asset=tx.get("tokenSymbol"), contract=contract,
                         token_name=tx.get("tokenName"), amount=amount,
                         direction=_direction(address, str(tx.get("from", "")), str(tx.get("to", "")))))
    return rows


@dataclass
class EvmSync:
    transfers: list[dict[str, Any]] = field(default_factory=list)
    balances: list[dict[str, Any]] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)


def sync_history(chain: str, address: str, explorer: Explorer, cursor: dict[str, Any]) -> EvmSync:
    """Normal transactions and token transfers since the cursor's blocks (inclusive: a block half-read when the
    last sync ran is read again; the raw table's key keeps each movement once)."""
    start_tx, start_tok = int(cursor.get("txlist", 0)), int(cursor.get("tokentx", 0))
    txlist = explorer.rows(chain, "txlist", address, start_tx)
    tokentx = explorer.rows(chain, "tokentx", address, start_tok)
    return EvmSync(transfers=transfer_rows(chain, address, txlist, tokentx), cursor={
        "txlist": max([start_tx, *(int(t["blockNumber"]) for t in txlist)]),
        "tokentx": max([start_tok, *(int(t["blockNumber"]) for t in tokentx)])})


def sync_balances(chain: str, address: str, rpc: Rpc, tokens: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The native balance and every token's balanceOf at the chain head, in one JSON-RPC batch.
    `tokens`: (symbol, contract) pairs — the registry's plus every token the address ever received."""
    calls: list[tuple[str, list[Any]]] = [("eth_blockNumber", []), ("eth_getBalance", [address, "latest"])]
    calls += [("eth_call", [{"to": contract, "data": encode_call("balanceOf(address)", address)}, "latest"])
              for _symbol, contract in tokens]
    calls += [("eth_call", [{"to": contract, "data": encode_call("decimals()")}, "latest"]) for _s, contract in tokens]
    results = rpc.batch(calls, allow_errors=True)
    if results[0] is None or results[1] is None:
        raise ChainSourceError(f"JSON-RPC on {chain}: eth_blockNumber/eth_getBalance failed")
    block = int(results[0], 16)
    rows = []
    entries: list[tuple[str, str | None, Decimal]] = [(NATIVE[chain], None, scaled(int(results[1], 16), 18))]
    for i, (symbol, contract) in enumerate(tokens):
        if results[2 + i] is None or results[2 + len(tokens) + i] is None:
            continue  # not an ERC-20 we can read (self-destructed, proxy without decimals): no balance row
        units = decode_words(results[2 + i])[0]
        decimals = decode_words(results[2 + len(tokens) + i])[0]
        entries.append((symbol, contract, scaled(units, decimals)))
    for symbol, contract, amount in entries:
        payload = {"chain": chain, "block": block, "asset": symbol, "contract": contract, "balance": str(amount)}
        rows.append({"source": "rpc", "source_record_id": f"{contract or 'native'}@{block}", "asset": symbol,
                     "free": amount, "used": Decimal(0), "total": amount, "chain": chain,
                     "token_contract": contract, "block_number": block, "payload": payload,
                     "record_hash": record_hash(payload)})
    return rows
