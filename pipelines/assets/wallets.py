"""On-chain sources as Dagster assets, one run per account partition (like the exchanges):

    raw_btc_transactions, raw_btc_balances   Bitcoin wallets (xpub/ypub/zpub or plain addresses) via Esplora
    raw_evm_transfers, raw_evm_balances      EVM wallets via an Etherscan-style explorer + JSON-RPC
    raw_defi_positions                       Aave v3 / Uniswap v2 / Lido positions via eth_call

Endpoints: a sandbox account talks to the sandbox; a live one to COINBOOK_ESPLORA_URL, COINBOOK_ETHERSCAN_URL
(+ COINBOOK_ETHERSCAN_API_KEY) and COINBOOK_RPC_URLS ({"ethereum": "https://…", …}).
"""


from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from pipelines.assets.exchanges import SourceFailed
from pipelines.resources.warehouse import Warehouse, WarehouseResource
from pipelines.settings import get_settings
from pipelines.sources.chains.bitcoin import BtcWalletSpec, Esplora, sync_wallet
from pipelines.sources.chains.evm import Explorer, Rpc, sync_balances, sync_history
from pipelines.sources.chains.hd import InvalidKey
from pipelines.sources.chains.http import ChainSourceError
from pipelines.sources.defi.positions import read_positions
from pipelines.sources.exchanges.client import ExchangeAccount

BTC_TX_COLUMNS = ("source", "source_record_id", "txid", "occurred_at", "block_height", "direction", "amount",
                  "fee_amount", "received", "sent", "own_addresses", "counterparties", "payload", "record_hash")
BALANCE_COLUMNS = ("source", "source_record_id", "asset", "free", "used", "total", "observed_at", "payload",
                   "record_hash")
EVM_TRANSFER_COLUMNS = ("source", "source_record_id", "chain", "txid", "log_index", "kind", "occurred_at",
                        "block_number", "direction", "asset", "token_contract", "token_name", "amount",
                        "from_address", "to_address", "method", "payload", "record_hash")
EVM_BALANCE_COLUMNS = (*BALANCE_COLUMNS, "chain", "token_contract", "block_number")
DEFI_COLUMNS = ("source", "source_record_id", "protocol", "position_type", "asset", "quantity", "health_factor",
                "pool", "chain", "block_number", "observed_at", "payload", "record_hash")

# (partition set, account kind, venues) of the on-chain sources
WALLET_SOURCES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "bitcoin": ("wallet", ("bitcoin",)),
    "evm": ("wallet", None),  # every EVM chain: ethereum, arbitrum, ...
    "defi": ("defi", None),
}


def wallet_accounts(wh: Warehouse, source: str) -> list[ExchangeAccount]:
    kind, venues = WALLET_SOURCES[source]
    accounts = wh.accounts(kinds=(kind,))
    if source == "evm":
        return [a for a in accounts if a.venue != "bitcoin"]
    return [a for a in accounts if venues is None or a.venue in venues]


def accounts_of(wh: Warehouse, group: str) -> list[ExchangeAccount]:
    """The accounts behind a partition set: an exchange venue's, or an on-chain source's."""
    return wallet_accounts(wh, group) if group in WALLET_SOURCES else wh.accounts(group)


def wallet_partitions(source: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"{source}_accounts")


class ChainEndpoints(dg.ConfigurableResource):
    """Where the chain APIs are: the sandbox's for sandbox accounts, the configured ones for live accounts."""

    sandbox_url: str | None = None

    def url(self, account: ExchangeAccount, kind: str, chain: str = "") -> str:
        return _endpoint(account, kind, chain, self.sandbox_url)


def _endpoint(account: ExchangeAccount, kind: str, chain: str = "", sandbox_url: str | None = None) -> str:
    settings = get_settings()
    if account.mode == "sandbox":
        base = (sandbox_url or settings.sandbox_url).rstrip("/")
        return {"esplora": f"{base}/esplora/api", "explorer": f"{base}/etherscan/v2/api",
                "rpc": f"{base}/rpc/{chain}"}[kind]
    if kind == "esplora":
        return settings.esplora_url
    if kind == "explorer":
        return settings.etherscan_url
    url = settings.rpc_urls.get(chain)
    if not url:
        raise SourceFailed(f"no JSON-RPC endpoint for {chain}: set COINBOOK_RPC_URLS='{{\"{chain}\": \"https://…\"}}'")
    return url


@contextmanager
def chain_call(context: dg.AssetExecutionContext, wh: Warehouse, account: ExchangeAccount,
               endpoint: str) -> Iterator[dict[str, Any]]:
    """Sync-log the call; a failing chain API fails this account's run only, with a clear reason."""
    try:
        with wh.sync_log(tenant_id=account.tenant_id, account_id=account.account_id, source=account.venue,
                         endpoint=endpoint, run_id=context.run_id) as log:
            yield log
    except (ChainSourceError, InvalidKey, ValueError, KeyError) as exc:
        raise SourceFailed(f"{account.venue} {endpoint} for {account.account_id}: {type(exc).__name__}: {exc}") \
            from None


def build_wallet_assets() -> list[dg.AssetsDefinition]:
    btc_parts, evm_parts, defi_parts = (wallet_partitions(s) for s in ("bitcoin", "evm", "defi"))

    @dg.multi_asset(
        specs=[dg.AssetSpec("raw_btc_transactions", group_name="ingest", kinds={"python", "postgres"},
                            description="Bitcoin wallet transactions, the wallet's view (UTXO-aware)."),
               dg.AssetSpec("raw_btc_balances", group_name="ingest", kinds={"python", "postgres"},
                            description="Bitcoin wallet balances at the chain tip (sum over owned addresses).")],
        partitions_def=btc_parts, can_subset=False,
    )
    def bitcoin(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                chains: ChainEndpoints) -> Iterator[dg.MaterializeResult]:
        wh = warehouse.get()
        account = wh.account(context.partition_key)
        with chain_call(context, wh, account, "wallet") as log:
            esplora = Esplora(chains.url(account, "esplora"))
            cursor = wh.cursors(account.tenant_id, account.account_id).get("btc:addresses", {})
            result = sync_wallet(BtcWalletSpec.from_settings(account.settings), esplora, cursor)
            with wh.connect() as conn, conn.transaction():
                for a in result.addresses:
                    conn.execute(
                        """insert into ops.wallet_addresses (tenant_id, account_id, chain, address, branch,
                                                             address_index, path, script_type)
                           values (%s, %s, 'bitcoin', %s, %s, %s, %s, %s) on conflict do nothing""",
                        (account.tenant_id, account.account_id, a.address, a.chain if a.path else None,
                         a.index if a.path else None, a.path or None, a.script_type))
            inserted = wh.store_rows("raw.btc_transactions", BTC_TX_COLUMNS, result.transactions,
                                     tenant_id=account.tenant_id, account_id=account.account_id,
                                     run_id=context.run_id)
            balance = {**(result.balance or {}), "observed_at": datetime.now(UTC)}
            new_balances = wh.store_rows("raw.btc_balances", BALANCE_COLUMNS, [balance],
                                         tenant_id=account.tenant_id, account_id=account.account_id,
                                         run_id=context.run_id, cursors={"btc:addresses": result.cursor})
            log.update(fetched=len(result.transactions), inserted=inserted + new_balances, api_calls=esplora.calls)
        yield dg.MaterializeResult(asset_key="raw_btc_transactions", metadata={
            "addresses": len(result.addresses), "fetched": len(result.transactions), "inserted": inserted,
            "api_calls": esplora.calls, "retries": esplora.retries})
        yield dg.MaterializeResult(asset_key="raw_btc_balances", metadata={"inserted": new_balances})

    @dg.multi_asset(
        specs=[dg.AssetSpec("raw_evm_transfers", group_name="ingest", kinds={"python", "postgres"},
                            description="EVM wallet movements: native value, gas, token transfers."),
               dg.AssetSpec("raw_evm_balances", group_name="ingest", kinds={"python", "postgres"},
                            description="EVM wallet balances from JSON-RPC (eth_getBalance, balanceOf).")],
        partitions_def=evm_parts, can_subset=False,
    )
    def evm(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
            chains: ChainEndpoints) -> Iterator[dg.MaterializeResult]:
        wh = warehouse.get()
        account = wh.account(context.partition_key)
        chain, address = account.venue, str(account.settings.get("address", ""))
        with chain_call(context, wh, account, "wallet") as log:
            explorer = Explorer(chains.url(account, "explorer"), min_interval_s=0.0 if account.mode == "sandbox"
                                else 0.21)  # Etherscan's free tier: 5 calls per second
            explorer.api_key = get_settings().etherscan_api_key if account.mode != "sandbox" else None
            rpc = Rpc(chains.url(account, "rpc", chain))
            cursor = wh.cursors(account.tenant_id, account.account_id).get(f"evm:{chain}", {})
            history = sync_history(chain, address, explorer, cursor)
            inserted = wh.store_rows("raw.evm_transfers", EVM_TRANSFER_COLUMNS, history.transfers,
                                     tenant_id=account.tenant_id, account_id=account.account_id,
                                     run_id=context.run_id, cursors={f"evm:{chain}": history.cursor})
            with wh.connect() as conn:
                seen = conn.execute(
                    """select distinct asset, token_contract from raw.evm_transfers
                       where tenant_id = %s and account_id = %s and kind = 'token' and token_contract is not null""",
                    (account.tenant_id, account.account_id)).fetchall()
            tokens = sorted((s or "?", c) for s, c in seen)  # never received → nothing to hold
            observed = datetime.now(UTC)  # one snapshot, one time: the marts read the latest snapshot as a whole
            balances = [{**b, "observed_at": observed} for b in sync_balances(chain, address, rpc, tokens)]
            new_balances = wh.store_rows("raw.evm_balances", EVM_BALANCE_COLUMNS, balances,
                                         tenant_id=account.tenant_id, account_id=account.account_id,
                                         run_id=context.run_id)
            log.update(fetched=len(history.transfers), inserted=inserted + new_balances,
                       api_calls=explorer.calls + rpc.calls)
        yield dg.MaterializeResult(asset_key="raw_evm_transfers", metadata={
            "fetched": len(history.transfers), "inserted": inserted, "api_calls": explorer.calls + rpc.calls})
        yield dg.MaterializeResult(asset_key="raw_evm_balances", metadata={"inserted": new_balances})

    @dg.asset(name="raw_defi_positions", partitions_def=defi_parts, group_name="ingest",
              kinds={"python", "postgres"},
              description="DeFi positions (Aave v3 supplied/borrowed + health factor, Uniswap v2 pool share, "
                          "Lido stETH) read from the contracts.")
    def defi(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
             chains: ChainEndpoints) -> dg.MaterializeResult:
        wh = warehouse.get()
        account = wh.account(context.partition_key)
        chain, address = account.venue, str(account.settings.get("address", ""))
        protocols = list(account.settings.get("protocols") or ["aave-v3", "uniswap-v2", "lido"])
        with chain_call(context, wh, account, "positions") as log:
            rpc = Rpc(chains.url(account, "rpc", chain))
            observed = datetime.now(UTC)  # one snapshot, one time: positions read the latest snapshot as a whole
            rows = [{**r, "observed_at": observed} for r in read_positions(chain, address, rpc, protocols)]
            inserted = wh.store_rows("raw.defi_positions", DEFI_COLUMNS, rows, tenant_id=account.tenant_id,
                                     account_id=account.account_id, run_id=context.run_id)
            log.update(fetched=len(rows), inserted=inserted, api_calls=rpc.calls)
        return dg.MaterializeResult(metadata={"positions": len(rows), "inserted": inserted, "api_calls": rpc.calls})

    return [bitcoin, evm, defi]
