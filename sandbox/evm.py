"""EVM chains for the sandbox: an Etherscan-style explorer API (v2, one endpoint for every chain id) and JSON-RPC.

    GET  /etherscan/v2/api?chainid=1&module=account&action=txlist|tokentx&address=…&startblock=…&endblock=…
                           &page=…&offset=…&sort=asc|desc          (page × offset ≤ 10,000, as on Etherscan)
    POST /rpc/<chain>      eth_chainId, eth_blockNumber, eth_getBalance, eth_call (ERC-20 balanceOf/decimals/
                           symbol/totalSupply, Aave v3 getUserAccountData, Uniswap v2 getReserves/token0/token1,
                           Lido sharesOf), single requests and batches
The chain's head is the world's end; balances follow the rebasing tokens' growth to that moment.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pipelines.sources.chains.abi import decode_words, selector
from sandbox.binance import Request
from sandbox.chains import AAVE_LIQUIDATION_THRESHOLD, CHAIN_IDS, CONTRACTS, EvmTx, block_of
from sandbox.world import World

MAX_WINDOW = 10_000
SELECTORS = {selector(s): s for s in ("balanceOf(address)", "decimals()", "symbol()", "totalSupply()",
                                      "getUserAccountData(address)", "getReserves()", "token0()", "token1()",
                                      "sharesOf(address)", "getPooledEthByShares(uint256)")}


def _head(world: World, chain: str) -> int:
    return block_of(chain, world.chains.end_ms, world.chains.start_ms)


def _tx_json(world: World, tx: EvmTx) -> dict[str, Any]:
    return {"blockNumber": str(tx.block), "timeStamp": str(tx.time_ms // 1000), "hash": tx.hash, "nonce": "0",
            "blockHash": f"0x{tx.block:064x}", "transactionIndex": "7", "from": tx.sender.lower(),
            "to": tx.to.lower(), "value": str(tx.value_wei), "gas": str(tx.gas_used * 3 // 2),
            "gasPrice": str(tx.gas_price), "isError": "0", "txreceipt_status": "1",
            "input": (selector(tx.method) + "00" * 64) if tx.method else "0x", "contractAddress": "",
            "cumulativeGasUsed": str(tx.gas_used * 9), "gasUsed": str(tx.gas_used),
            "confirmations": str(_head(world, tx.chain) - tx.block + 1),
            "methodId": selector(tx.method) if tx.method else "0x", "functionName": tx.method}


def _token_json(world: World, tx: EvmTx, token: dict[str, Any]) -> dict[str, Any]:
    meta = CONTRACTS[tx.chain][token["symbol"]]
    return {"blockNumber": str(tx.block), "timeStamp": str(tx.time_ms // 1000), "hash": tx.hash, "nonce": "0",
            "blockHash": f"0x{tx.block:064x}", "from": token["from"].lower(),
            "contractAddress": meta["address"].lower(), "to": token["to"].lower(), "value": str(token["units"]),
            "tokenName": meta["name"], "tokenSymbol": token["symbol"], "tokenDecimal": str(meta["decimals"]),
            "transactionIndex": "7", "logIndex": str(token["log_index"]), "gas": str(tx.gas_used * 3 // 2),
            "gasPrice": str(tx.gas_price), "gasUsed": str(tx.gas_used), "cumulativeGasUsed": str(tx.gas_used * 9),
            "input": "deprecated", "confirmations": str(_head(world, tx.chain) - tx.block + 1)}


def explorer(world: World, params: dict[str, str]) -> dict[str, Any]:
    chain = next((c for c, i in CHAIN_IDS.items() if str(i) == params.get("chainid")), None)
    if chain is None:
        return {"status": "0", "message": "NOTOK", "result": "Missing or unsupported chainid parameter"}
    if params.get("module") != "account" or params.get("action") not in ("txlist", "tokentx"):
        return {"status": "0", "message": "NOTOK", "result": "Error! Missing Or invalid Module name"}
    address = params.get("address", "").lower()
    if len(address) != 42 or not address.startswith("0x"):
        return {"status": "0", "message": "NOTOK", "result": "Error! Invalid address format"}
    try:
        start, end = int(params.get("startblock", 0)), int(params.get("endblock", 99_999_999_999))
        page, offset = int(params.get("page", 1)), int(params.get("offset", 10_000))
    except ValueError:
        return {"status": "0", "message": "NOTOK", "result": "Error! Invalid parameter"}
    if page < 1 or offset < 1 or page * offset > MAX_WINDOW:
        return {"status": "0", "message": "NOTOK",
                "result": "Result window is too large, PageNo x Offset size must be less than or equal to 10000"}
    rows: list[dict[str, Any]] = []
    for tx in world.chains.evm_txs:
        if tx.chain != chain or not start <= tx.block <= end:
            continue
        if params["action"] == "txlist":
            if address in (tx.sender.lower(), tx.to.lower()):
                rows.append(_tx_json(world, tx))
        else:
            rows.extend(_token_json(world, tx, t) for t in tx.tokens if address in (t["from"].lower(), t["to"].lower()))
    rows.sort(key=lambda r: (int(r["blockNumber"]), int(r.get("logIndex", 0))), reverse=params.get("sort") == "desc")
    chosen = rows[(page - 1) * offset: page * offset]
    if not chosen:
        return {"status": "0", "message": "No transactions found", "result": []}
    return {"status": "1", "message": "OK", "result": chosen}


def _word(value: int) -> str:
    return f"{value:064x}"


def _call(world: World, chain: str, to: str, data: str) -> str:
    chains, at = world.chains, world.chains.end_ms
    contracts = {m["address"].lower(): name for name, m in CONTRACTS[chain].items()}
    name = contracts.get(to.lower())
    signature = SELECTORS.get(data[:10])
    if name is None or signature is None:
        raise ValueError("execution reverted")
    args = decode_words("0x" + data[10:]) if len(data) > 10 else []
    meta = CONTRACTS[chain][name]
    if signature == "balanceOf(address)" and "decimals" in meta:
        return "0x" + _word(max(0, chains.evm_balance(chain, f"0x{args[0]:040x}", name, at)))
    if signature == "decimals()" and "decimals" in meta:
        return "0x" + _word(meta["decimals"])
    if signature == "totalSupply()" and name == "UNI-V2":
        return "0x" + _word(int(chains.lp_supply * 10**18))
    if signature == "getReserves()" and name == "UNI-V2":
        weth, usdt = chains.lp_reserves(at)
        # token0 = WETH (0xC02a… < 0xdAC1…), token1 = USDT; the third word is the last block's timestamp
        return "0x" + _word(weth) + _word(usdt) + _word(at // 1000)
    if signature in ("token0()", "token1()") and name == "UNI-V2":
        token = CONTRACTS[chain]["WETH" if signature == "token0()" else "USDT"]["address"]
        return "0x" + token.lower().removeprefix("0x").rjust(64, "0")
    if signature == "getUserAccountData(address)" and name == "aavePool":
        holder = f"0x{args[0]:040x}"
        eth_usd = Decimal(repr(world.prices.coin_usd("ETH", world.prices.hour_of(at))))
        supplied = Decimal(chains.evm_balance(chain, holder, "aEthWETH", at)).scaleb(-18)
        debt = Decimal(chains.evm_balance(chain, holder, "variableDebtEthUSDT", at)).scaleb(-6)
        collateral_base = int(supplied * eth_usd * 10**8)  # Aave's base currency: USD with 8 decimals
        debt_base = int(debt * 10**8)
        ltv = Decimal("0.805")
        available = max(0, int(collateral_base * ltv) - debt_base)
        health = (2**256 - 1) if debt_base == 0 else int(Decimal(collateral_base) * AAVE_LIQUIDATION_THRESHOLD
                                                         / Decimal(debt_base) * 10**18)
        return "0x" + "".join(_word(v) for v in (collateral_base, debt_base, available,
                                                 int(AAVE_LIQUIDATION_THRESHOLD * 10**4), int(ltv * 10**4), health))
    if signature == "sharesOf(address)" and name == "stETH":
        return "0x" + _word(max(0, chains.evm_balance(chain, f"0x{args[0]:040x}", "stETH", chains.start_ms * 10)))
    raise ValueError("execution reverted")


def _rpc_one(world: World, chain: str, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict) or "method" not in call:
        return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
    ident, method, params = call.get("id"), call["method"], call.get("params") or []
    try:
        if method == "eth_chainId":
            result: Any = hex(CHAIN_IDS[chain])
        elif method == "eth_blockNumber":
            result = hex(_head(world, chain))
        elif method == "eth_getBalance":
            result = hex(max(0, world.chains.evm_balance(chain, params[0], None, world.chains.end_ms)))
        elif method == "eth_call":
            result = _call(world, chain, params[0].get("to", ""), params[0].get("data") or params[0].get("input", ""))
        else:
            return {"jsonrpc": "2.0", "id": ident,
                    "error": {"code": -32601, "message": f"the method {method} does not exist/is not available"}}
    except ValueError as exc:
        return {"jsonrpc": "2.0", "id": ident, "error": {"code": 3, "message": str(exc)}}
    except (IndexError, KeyError, TypeError, AttributeError):
        return {"jsonrpc": "2.0", "id": ident, "error": {"code": -32602, "message": "invalid argument"}}
    return {"jsonrpc": "2.0", "id": ident, "result": result}


def dispatch(world: World, request: Request, *, malformed: bool) -> tuple[int, Any]:
    parts = [p for p in request.path.split("/") if p]
    if request.method == "GET" and parts == ["v2", "api"]:
        return 200, explorer(world, request.params)
    if request.method == "POST" and len(parts) == 1 and parts[0] in CHAIN_IDS:
        try:
            body = json.loads(request.raw_body or "null")
        except json.JSONDecodeError:
            return 200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
        if isinstance(body, list):
            return 200, [_rpc_one(world, parts[0], c) for c in body]
        return 200, _rpc_one(world, parts[0], body)
    return 404, {"error": "not found"}
