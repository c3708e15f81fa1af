"""On-chain sources as assets, one run per account partition (like the exchanges):

    raw_btc_transactions, raw_btc_balances   Bitcoin wallets (xpub/ypub/zpub or plain addresses) via Esplora
    raw_evm_transfers, raw_evm_balances      EVM wallets via an Etherscan-style explorer + JSON-RPC
    raw_defi_positions                       Aave v3 / Uniswap v2 / Lido positions via eth_call
A few lines each around services/wallets.py.
"""

from collections.abc import Iterator

import dagster as dg

from pipelines.defs.common import WarehouseResource, account_partitions, sync_metadata
from pipelines.defs.wallets.resources import ChainResource
from pipelines.services.accounts import account
from pipelines.services.wallets import sync_bitcoin, sync_defi, sync_evm


def _spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(name, group_name="ingest", kinds={"python", "postgres"}, description=description)


@dg.multi_asset(
    specs=[_spec("raw_btc_transactions", "Bitcoin wallet transactions, the wallet's view (UTXO-aware)."),
           _spec("raw_btc_balances", "Bitcoin wallet balances at the chain tip (sum over owned addresses).")],
    partitions_def=account_partitions("bitcoin"), can_subset=False,
)
def bitcoin(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
            chains: ChainResource) -> Iterator[dg.MaterializeResult]:
    wh = warehouse.get()
    call, new_balances = sync_bitcoin(wh, chains.get(), account(wh, context.partition_key), context.run_id)
    yield dg.MaterializeResult(asset_key="raw_btc_transactions",
                               metadata=sync_metadata({**call.summary(), "inserted": call.inserted - new_balances}))
    yield dg.MaterializeResult(asset_key="raw_btc_balances", metadata={"inserted": new_balances})


@dg.multi_asset(
    specs=[_spec("raw_evm_transfers", "EVM wallet movements: native value, gas, token transfers."),
           _spec("raw_evm_balances", "EVM wallet balances from JSON-RPC (eth_getBalance, balanceOf).")],
    partitions_def=account_partitions("evm"), can_subset=False,
)
def evm(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
        chains: ChainResource) -> Iterator[dg.MaterializeResult]:
    wh = warehouse.get()
    call, new_balances = sync_evm(wh, chains.get(), account(wh, context.partition_key), context.run_id)
    yield dg.MaterializeResult(asset_key="raw_evm_transfers",
                               metadata=sync_metadata({**call.summary(), "inserted": call.inserted - new_balances}))
    yield dg.MaterializeResult(asset_key="raw_evm_balances", metadata={"inserted": new_balances})


@dg.asset(name="raw_defi_positions", partitions_def=account_partitions("defi"), group_name="ingest",
          kinds={"python", "postgres"},
          description="DeFi positions (Aave v3 supplied/borrowed + health factor, Uniswap v2 pool share, Lido stETH) "
                      "read from the contracts.")
def defi(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
         chains: ChainResource) -> dg.MaterializeResult:
    wh = warehouse.get()
    call = sync_defi(wh, chains.get(), account(wh, context.partition_key), context.run_id)
    return dg.MaterializeResult(metadata=sync_metadata(call.summary()))


WALLET_ASSETS = {"bitcoin": bitcoin, "evm": evm, "defi": defi}  # partition set → its assets
