"""Syncing one on-chain account: a Bitcoin wallet (xpub/ypub/zpub or plain addresses) through Esplora, an EVM
wallet through an Etherscan-style explorer and JSON-RPC, a DeFi position set (Aave v3, Uniswap v2, Lido) through
eth_call. Each writes its rows (and cursors) through warehouse/raw.py; services.calls accounts for the call.

Endpoints: a sandbox account talks to the sandbox; a live one to the configured Esplora, explorer (+ API key)
and JSON-RPC URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipelines.services.calls import SourceFailed, VenueCall, chain_call
from pipelines.services.exchanges import cursors
from pipelines.sources.chains.bitcoin import BtcWalletSpec, Esplora, sync_wallet
from pipelines.sources.chains.evm import Explorer, Rpc, sync_balances, sync_history
from pipelines.sources.defi.positions import read_positions
from pipelines.sources.exchanges.client import ExchangeAccount
from warehouse.connection import Warehouse
from warehouse.raw import record_wallet_addresses, store_rows

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
DEFAULT_PROTOCOLS = ("aave-v3", "uniswap-v2", "lido")
ETHERSCAN_FREE_TIER_INTERVAL_S = 0.21  # 5 calls per second


@dataclass(frozen=True)
class ChainEndpoints:
    """Where the chain APIs are for live accounts (sandbox accounts use the sandbox's)."""

    sandbox_url: str | None = None
    esplora_url: str = "https://blockstream.info/api"
    etherscan_url: str = "https://api.etherscan.io/v2/api"
    etherscan_api_key: str | None = field(default=None, repr=False)
    rpc_urls: dict[str, str] = field(default_factory=dict)

    def url(self, account: ExchangeAccount, kind: str, chain: str = "") -> str:
        if account.mode == "sandbox":
            if not self.sandbox_url:
                raise SourceFailed(f"account {account.account_id} is a sandbox account but no sandbox URL is set")
            base = self.sandbox_url.rstrip("/")
            return {"esplora": f"{base}/esplora/api", "explorer": f"{base}/etherscan/v2/api",
                    "rpc": f"{base}/rpc/{chain}"}[kind]
        if kind == "esplora":
            return self.esplora_url
        if kind == "explorer":
            return self.etherscan_url
        url = self.rpc_urls.get(chain)
        if not url:
            raise SourceFailed(f"no JSON-RPC endpoint for {chain}: set COINBOOK_RPC_URLS='{{\"{chain}\": "
                               "\"https://…\"}}'")
        return url


def _rows(records: list[dict], columns: tuple[str, ...], account: ExchangeAccount,
          run_id: str | None) -> list[tuple]:
    return [(account.tenant_id, account.account_id, *(r.get(c) for c in columns), run_id) for r in records]


def _store(wh: Warehouse, table: str, columns: tuple[str, ...], records: list[dict], account: ExchangeAccount,
           run_id: str | None, cursors_: dict | None = None) -> int:
    return store_rows(wh, table, ("tenant_id", "account_id", *columns, "run_id"),
                      _rows(records, columns, account, run_id), tenant_id=account.tenant_id,
                      account_id=account.account_id, run_id=run_id, cursors=cursors_)


def sync_bitcoin(wh: Warehouse, endpoints: ChainEndpoints, account: ExchangeAccount,
                 run_id: str | None) -> tuple[VenueCall, int]:
    """Transactions (the wallet's view: change is not a disposal) and the balance at the chain tip. Returns the
    call and the new balance rows."""
    with chain_call(wh, account, "wallet", run_id) as call:
        esplora = Esplora(endpoints.url(account, "esplora"))
        cursor = cursors(wh, account.tenant_id, account.account_id).get("btc:addresses", {})
        result = sync_wallet(BtcWalletSpec.from_settings(account.settings), esplora, cursor)
        record_wallet_addresses(wh, account.tenant_id, account.account_id, "bitcoin", [
            (a.address, a.chain if a.path else None, a.index if a.path else None, a.path or None, a.script_type)
            for a in result.addresses])
        inserted = _store(wh, "raw.btc_transactions", BTC_TX_COLUMNS, result.transactions, account, run_id)
        balance = {**(result.balance or {}), "observed_at": datetime.now(UTC)}
        new_balances = _store(wh, "raw.btc_balances", BALANCE_COLUMNS, [balance], account, run_id,
                              {"btc:addresses": result.cursor})
        call.add(len(result.transactions), inserted + new_balances)  # the sync log counts both tables
        call.stats.calls, call.stats.retries = esplora.calls, esplora.retries
        call.extra["addresses"] = len(result.addresses)
    return call, new_balances


def sync_evm(wh: Warehouse, endpoints: ChainEndpoints, account: ExchangeAccount,
             run_id: str | None) -> tuple[VenueCall, int]:
    """Native value, gas and token transfers since the cursor, then the balances of the native coin and every
    token ever received. Returns the call and the new balance rows."""
    chain, address = account.venue, str(account.settings.get("address", ""))
    with chain_call(wh, account, "wallet", run_id) as call:
        sandbox = account.mode == "sandbox"
        explorer = Explorer(endpoints.url(account, "explorer"),
                            min_interval_s=0.0 if sandbox else ETHERSCAN_FREE_TIER_INTERVAL_S)
        explorer.api_key = None if sandbox else endpoints.etherscan_api_key
        rpc = Rpc(endpoints.url(account, "rpc", chain))
        cursor = cursors(wh, account.tenant_id, account.account_id).get(f"evm:{chain}", {})
        history = sync_history(chain, address, explorer, cursor)
        inserted = _store(wh, "raw.evm_transfers", EVM_TRANSFER_COLUMNS, history.transfers, account, run_id,
                          {f"evm:{chain}": history.cursor})
        with wh.connect() as conn:
            seen = conn.execute(
                """select distinct asset, token_contract from raw.evm_transfers
                   where tenant_id = %s and account_id = %s and kind = 'token' and token_contract is not null""",
                (account.tenant_id, account.account_id)).fetchall()
        tokens = sorted((s or "?", c) for s, c in seen)  # never received → nothing to hold
        observed = datetime.now(UTC)  # one snapshot, one time: the marts read the latest snapshot as a whole
        balances = [{**b, "observed_at": observed} for b in sync_balances(chain, address, rpc, tokens)]
        new_balances = _store(wh, "raw.evm_balances", EVM_BALANCE_COLUMNS, balances, account, run_id)
        call.add(len(history.transfers), inserted + new_balances)  # the sync log counts both tables
        call.stats.calls = explorer.calls + rpc.calls
    return call, new_balances


def sync_defi(wh: Warehouse, endpoints: ChainEndpoints, account: ExchangeAccount, run_id: str | None) -> VenueCall:
    """The account's positions in its protocols, read from the contracts as one snapshot."""
    chain, address = account.venue, str(account.settings.get("address", ""))
    protocols = list(account.settings.get("protocols") or DEFAULT_PROTOCOLS)
    with chain_call(wh, account, "positions", run_id) as call:
        rpc = Rpc(endpoints.url(account, "rpc", chain))
        observed = datetime.now(UTC)  # one snapshot, one time: positions read the latest snapshot as a whole
        rows = [{**r, "observed_at": observed} for r in read_positions(chain, address, rpc, protocols)]
        call.add(len(rows), _store(wh, "raw.defi_positions", DEFI_COLUMNS, rows, account, run_id))
        call.stats.calls = rpc.calls
        call.extra["positions"] = len(rows)
    return call
