"""DeFi positions read straight from the contracts (eth_call), for one address:

- Aave v3: supplied = aToken.balanceOf (interest accrues into the balance), borrowed = variableDebtToken
  .balanceOf (negative quantity), and the account's health factor from Pool.getUserAccountData.
- Uniswap v2: the address's pool share (LP balanceOf / totalSupply) × getReserves → underlying amounts.
- Lido: stETH.balanceOf (rebasing: the balance is the staked ETH plus rewards).
Which contracts to read comes from the registry (dbt_project/seeds/evm_contracts.csv). Pure over the RPC.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pipelines.sources.chains.abi import decode_address, decode_words, encode_call, scaled
from pipelines.sources.chains.evm import Rpc, contracts
from pipelines.sources.exchanges.canonical import record_hash

HEALTH_FACTOR_INFINITE = 2**256 - 1
UNDERLYING_OF_TOKEN = {"WETH": "ETH"}


def _position(protocol: str, position_type: str, asset: str, quantity: Decimal, block: int, chain: str,
              pool: str, health_factor: Decimal | None, raw: dict[str, Any]) -> dict[str, Any]:
    payload = {"chain": chain, "block": block, "protocol": protocol, "position": position_type, "asset": asset,
               "pool": pool, "quantity": str(quantity), "raw": raw}
    return {"source": protocol, "source_record_id": f"{protocol}:{position_type}:{pool}:{asset}@{block}",
            "protocol": protocol, "position_type": position_type, "asset": asset, "quantity": quantity,
            "health_factor": health_factor, "pool": pool, "chain": chain, "block_number": block,
            "payload": payload, "record_hash": record_hash(payload)}


def read_positions(chain: str, address: str, rpc: Rpc, protocols: list[str]) -> list[dict[str, Any]]:
    block = int(rpc.batch([("eth_blockNumber", [])])[0], 16)
    rows: list[dict[str, Any]] = []
    if "aave-v3" in protocols:
        pool = next((c for c in contracts(chain, "pool", "aave-v3")), None)
        health: Decimal | None = None
        raw: dict[str, Any] = {}
        if pool is not None:
            words = decode_words(rpc.call(pool.address, encode_call("getUserAccountData(address)", address)))
            raw = {"totalCollateralBase": words[0], "totalDebtBase": words[1], "healthFactor": words[5]}
            health = None if words[5] >= HEALTH_FACTOR_INFINITE else scaled(words[5], 18)
        for token in contracts(chain, "receipt", "aave-v3") + contracts(chain, "debt", "aave-v3"):
            units = decode_words(rpc.call(token.address, encode_call("balanceOf(address)", address)))[0]
            if units == 0:
                continue
            amount = scaled(units, token.decimals or 18)
            sign = -1 if token.role == "debt" else 1
            rows.append(_position("aave-v3", "borrowed" if token.role == "debt" else "supplied",
                                  token.underlying or token.symbol, sign * amount, block, chain, pool.address
                                  if pool else token.address, health, {**raw, "token": token.symbol, "units": units}))
    if "uniswap-v2" in protocols:
        for pair in contracts(chain, "lp", "uniswap-v2"):
            results = rpc.batch([
                ("eth_call", [{"to": pair.address, "data": encode_call(sig, address) if "address" in sig
                               else encode_call(sig)}, "latest"])
                for sig in ("balanceOf(address)", "totalSupply()", "getReserves()", "token0()", "token1()")])
            share, supply = decode_words(results[0])[0], decode_words(results[1])[0]
            if share == 0 or supply == 0:
                continue
            reserves = decode_words(results[2])
            for reserve, token_word in ((reserves[0], results[3]), (reserves[1], results[4])):
                token_address = decode_address(decode_words(token_word)[0])
                token = next((c for c in contracts(chain) if c.address == token_address), None)
                if token is None or token.decimals is None:
                    continue  # an unlisted token in a pool is not valued (same rule as spam)
                underlying = scaled(reserve, token.decimals) * Decimal(share) / Decimal(supply)
                rows.append(_position("uniswap-v2", "liquidity", token.underlying or token.symbol,
                                      underlying.quantize(Decimal("1e-18")), block, chain, pair.address, None,
                                      {"lp_balance": share, "lp_supply": supply, "reserve": reserve}))
    if "lido" in protocols:
        for token in contracts(chain, "receipt", "lido"):
            units = decode_words(rpc.call(token.address, encode_call("balanceOf(address)", address)))[0]
            if units:
                rows.append(_position("lido", "staked", token.underlying or token.symbol,
                                      scaled(units, token.decimals or 18), block, chain, token.address, None,
                                      {"units": units}))
    return rows
