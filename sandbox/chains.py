"""The sandbox's chains: a Bitcoin network (Esplora REST) and two EVM chains (Etherscan-style explorer API and
JSON-RPC), with the clients' own wallets and DeFi positions in them. Pure and seeded like the rest of the world.

Wallets (all watch-only from the platform's point of view; the sandbox derives them from a seeded mnemonic):
    acme-ledger-btc    Ledger BIP84 account, given to Coinbook as its zpub (gap-limit discovery needed: one
                       payment lands on receive index 19)
    bluefin-cold-btc   one plain P2WPKH address (cold storage)
    acme-ledger-eth    an Ethereum address: ETH and USDT, Aave v3 (supply ETH, borrow USDT), a Uniswap v2
                       ETH/USDT pool share, Lido stETH, and an unsolicited spam token
    acme-ledger-arb    the same address on Arbitrum One: USDT and a little ETH
    acme-defi          the DeFi position set of that address (read through eth_call)
Coins move between these wallets and the tenants' exchange accounts (the exchange side records the same
transaction hash), so transfer matching has real pairs to find.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from pipelines.sources.chains.abi import address_from_public_key, checksum_address, to_units
from pipelines.sources.chains.hd import master_key, mnemonic_to_seed, parse_extended_key

if TYPE_CHECKING:
    from sandbox.world import World

DAY_MS = 86_400_000
SAT = Decimal("0.00000001")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

# Real mainnet contract addresses, so that a registry built for the sandbox is right for real wallets too.
CONTRACTS: dict[str, dict[str, dict[str, Any]]] = {
    "ethereum": {
        "USDT": {"address": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6, "name": "Tether USD"},
        "WETH": {"address": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "decimals": 18, "name": "Wrapped Ether"},
        "aEthWETH": {"address": "0x4d5F47FA6A74757f35C14fD3a6Ef8E3C9BC514E8", "decimals": 18,
                     "name": "Aave Ethereum WETH"},
        "variableDebtEthUSDT": {"address": "0x6df1C1E379bC5a00a7b4C6e67A203333772f45A8", "decimals": 6,
                                "name": "Aave Ethereum Variable Debt USDT"},
        "aavePool": {"address": "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"},
        "aaveGateway": {"address": "0xA434D495249abE33E031Fe71a969B81f3c07950D"},
        "UNI-V2": {"address": "0x0d4a11d5EEaaC28EC3F61d100daF4d40471f1852", "decimals": 18,
                   "name": "Uniswap V2"},
        "uniRouter": {"address": "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"},
        "stETH": {"address": "0xae7ab96520DE3A18E5e111B5EaAb095312D7fE84", "decimals": 18,
                  "name": "Liquid staked Ether 2.0"},
        "ETHG": {"address": "0x8f3Ae5a3A1E7bB8d5b6E0E2d1Dc9C1A0e7fA0b11", "decimals": 18,
                 "name": "Visit ethg-claim.io to claim rewards"},
    },
    "arbitrum": {
        "USDT": {"address": "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", "decimals": 6, "name": "Tether USD"},
    },
}
CHAIN_IDS = {"ethereum": 1, "arbitrum": 42161}
GWEI = 10**9
AAVE_SUPPLY_APY, AAVE_BORROW_APY, LIDO_APR = 0.021, 0.052, 0.034
AAVE_LIQUIDATION_THRESHOLD = Decimal("0.83")  # WETH on Aave v3 Ethereum


@dataclass
class BtcTx:
    txid: str
    time_ms: int
    height: int
    vin: list[tuple[str, int, str, int]]  # (prev txid, prev vout, address, sats)
    vout: list[tuple[str, int]]  # (address, sats)
    fee: int


@dataclass
class EvmTx:
    chain: str
    hash: str
    time_ms: int
    block: int
    sender: str
    to: str
    value_wei: int
    gas_used: int
    gas_price: int
    method: str  # function signature, e.g. 'depositETH(address,address,uint16)'
    tokens: list[dict[str, Any]] = field(default_factory=list)  # {symbol, from, to, units, log_index}


def _h(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def block_of(chain: str, time_ms: int, start_ms: int) -> int:
    """Ethereum: a block per 12 s from 22,600,000; Arbitrum: 4 per second from 340,000,000."""
    seconds = (time_ms - start_ms) // 1000
    return 22_600_000 + seconds // 12 if chain == "ethereum" else 340_000_000 + seconds * 4


def btc_height(time_ms: int, start_ms: int) -> int:
    return 899_000 + (time_ms - start_ms) // 600_000


class ChainWorld:
    """The chains' state, built from the world's wallet flows plus the wallets' own on-chain activity."""

    def __init__(self, world: World) -> None:
        from sandbox.world import END_MS, START_MS

        self.world = world
        self.start_ms, self.end_ms = START_MS, END_MS
        seed = mnemonic_to_seed(f"coinbook sandbox wallet {world.seed}")
        root = master_key(seed, script_type="p2wpkh")
        self.btc_account = root.derive("m/84h/0h/0h")
        self.zpub = self.btc_account.neutered().serialize()
        self.cold_address = root.derive("m/84h/0h/1h/0/0").address()
        evm_key = master_key(seed).derive("m/44h/60h/0h/0/0")
        self.evm_address = address_from_public_key(evm_key.public_point)
        watch = parse_extended_key(self.zpub)
        self.receive = [watch.child(0).child(i).address() for i in range(25)]
        self.change = [watch.child(1).child(i).address() for i in range(5)]
        self.btc_txs: list[BtcTx] = []
        self.evm_txs: list[EvmTx] = []
        self._utxos: dict[str, list[tuple[str, int, str, int]]] = {}  # wallet → unspent (txid, vout, addr, sats)
        self.bridges: list[dict[str, Any]] = []  # chain → chain moves of the same tenant

    # -- addresses the exchanges send to / receive from ------------------------------------------------------
    def wallet_address(self, wallet: str, coin: str, index: int = 0) -> str:
        if wallet == "acme-ledger-btc":
            return self.receive[index]
        if wallet == "bluefin-cold-btc":
            return self.cold_address
        return self.evm_address

    @staticmethod
    def exchange_address(account_id: str, chain: str) -> str:
        digest = _h("exchange-address", account_id, chain)
        if chain == "bitcoin":
            return "bc1q" + "".join("qpzry9x8gf2tvdw0s3jn54khce6mua7l"[int(c, 16)] for c in digest[:38])
        return checksum_address("0x" + digest[:40])

    # -- Bitcoin ---------------------------------------------------------------------------------------------
    def _btc_tx(self, wallet: str | None, time_ms: int, outputs: list[tuple[str, Decimal]], fee: Decimal,
                spend: list[str] | None = None, change_to: str | None = None, tag: str = "") -> BtcTx | None:
        """A transaction paying `outputs`. With `wallet`, it spends that wallet's coins on the given addresses
        (all of them when `spend` is None) and sends the rest, less the fee, to `change_to`."""
        txid = _h("btc", self.world.seed, time_ms, tag)
        vin: list[tuple[str, int, str, int]] = []
        fee_sats = int(fee / SAT)
        vout = [(address, int(amount / SAT)) for address, amount in outputs]
        if wallet is not None:
            coins = self._utxos.get(wallet, [])
            chosen = [u for u in coins if spend is None or u[2] in spend]
            self._utxos[wallet] = [u for u in coins if u not in chosen]
            vin = chosen
            change = sum(u[3] for u in chosen) - sum(v for _, v in vout) - fee_sats
            if change < 0:  # another seed's world did not fund the wallet: no such transaction
                self._utxos[wallet] = coins
                return None
            if change and change_to:
                vout.append((change_to, change))
        else:  # paid by someone else (an exchange's hot wallet, a customer)
            payer = self.exchange_address(tag or "external", "bitcoin")
            vin = [(_h("funding", txid), 0, payer, sum(v for _, v in vout) + fee_sats + 1_000_000)]
            vout.append((payer, 1_000_000))
        tx = BtcTx(txid, time_ms, btc_height(time_ms, self.start_ms), vin, vout, fee_sats)
        self.btc_txs.append(tx)
        own = {"acme-ledger-btc": set(self.receive + self.change), "bluefin-cold-btc": {self.cold_address}}
        for n, (address, sats) in enumerate(vout):
            for name, addresses in own.items():
                if address in addresses:
                    self._utxos.setdefault(name, []).append((txid, n, address, sats))
        return tx

    # -- EVM -------------------------------------------------------------------------------------------------
    def _evm_tx(self, chain: str, time_ms: int, sender: str, to: str, value: Decimal, gas_used: int, method: str,
                tokens: list[tuple[str, str, str, Decimal]] = (), tag: str = "") -> EvmTx:  # type: ignore[assignment]
        tx_hash = "0x" + _h("evm", self.world.seed, chain, time_ms, tag)
        tx = EvmTx(chain, tx_hash, time_ms, block_of(chain, time_ms, self.start_ms), sender, to,
                   to_units(value, 18), gas_used, 25 * GWEI if chain == "ethereum" else GWEI // 100, method)
        for n, (symbol, src, dst, amount) in enumerate(tokens):
            meta = CONTRACTS[chain][symbol]
            tx.tokens.append({"symbol": symbol, "from": src, "to": dst,
                              "units": to_units(amount, meta["decimals"]), "log_index": n})
        self.evm_txs.append(tx)
        return tx

    def exchange_tx_hash(self, chain: str, time_ms: int, tag: str) -> str:
        return _h("btc", self.world.seed, time_ms, tag) if chain == "bitcoin" else \
            "0x" + _h("evm", self.world.seed, chain, time_ms, tag)

    def build(self, flows: list[dict[str, Any]]) -> None:
        """`flows`: the world's executed exchange ⇄ wallet transfers, each with the tx hash both sides share."""
        day = lambda d: self.start_ms + d * DAY_MS + 15 * 3_600_000  # noqa: E731 - a local time helper
        a = self.evm_address
        eth = CONTRACTS["ethereum"]
        for flow in flows:  # coins arriving from an exchange: the exchange's hot wallet pays
            if flow["direction"] != "to_wallet":
                continue
            if flow["chain"] == "bitcoin":
                self._btc_tx(None, flow["chain_time_ms"], [(flow["address"], flow["amount"])], Decimal("0.0001"),
                             tag=flow["tag"])
            elif flow["asset"] == "ETH":
                self._evm_tx(flow["chain"], flow["chain_time_ms"], self.exchange_address(flow["from"], "evm"),
                             flow["address"], flow["amount"], 21_000, "", tag=flow["tag"])
            else:
                hot = self.exchange_address(flow["from"], "evm")
                self._evm_tx(flow["chain"], flow["chain_time_ms"], hot, CONTRACTS[flow["chain"]][flow["asset"]]
                             ["address"], Decimal(0), 63_000, "transfer(address,uint256)",
                             [(flow["asset"], hot, flow["address"], flow["amount"])], tag=flow["tag"])

        # Bitcoin: a payment with change, a deposit to an exchange, a payment on receive index 19, a consolidation.
        self._btc_tx("acme-ledger-btc", day(130), [(self.exchange_address("merchant", "bitcoin"), Decimal("0.2"))],
                     Decimal("0.0003"), spend=[self.receive[0]], change_to=self.change[0], tag="payment")
        for flow in flows:
            if flow["direction"] == "from_wallet" and flow["chain"] == "bitcoin":
                self._btc_tx(flow["from"], flow["chain_time_ms"], [(flow["address"], flow["amount"])],
                             Decimal("0.0002"), spend=[self.change[0]], change_to=self.change[1], tag=flow["tag"])
        self._btc_tx(None, day(300), [(self.receive[19], Decimal("0.05"))], Decimal("0.00004"), tag="customer")
        self._btc_tx("acme-ledger-btc", day(310), [], Decimal("0.0001"), spend=[self.receive[1], self.receive[19]],
                     change_to=self.change[2], tag="consolidation")

        # Ethereum: Aave supply + borrow, a Uniswap v2 position, Lido, a spam airdrop, USDT to an exchange.
        self._evm_tx("ethereum", day(126), a, eth["aaveGateway"]["address"], Decimal(8), 180_000,
                     "depositETH(address,address,uint16)", [("aEthWETH", ZERO_ADDRESS, a, Decimal(8))],
                     tag="aave-supply")
        self._evm_tx("ethereum", day(127), a, eth["aavePool"]["address"], Decimal(0), 250_000,
                     "borrow(address,uint256,uint256,uint16,address)",
                     [("USDT", eth["aavePool"]["address"], a, Decimal(6000)),
                      ("variableDebtEthUSDT", ZERO_ADDRESS, a, Decimal(6000))], tag="aave-borrow")
        price = Decimal(repr(self.world.prices.coin_usd("ETH", self.world.prices.hour_of(day(128)))))
        lp_usdt = (price / 2).quantize(Decimal("0.000001"), ROUND_DOWN)
        self.lp_reserves_at_entry = (Decimal(400), (Decimal(400) * price).quantize(Decimal("0.000001")))
        self.lp_supply = Decimal(math.isqrt(int(self.lp_reserves_at_entry[0] * self.lp_reserves_at_entry[1]
                                                * 10**24))) / Decimal(10**12)
        self.lp_tokens = (self.lp_supply * Decimal("0.5") / self.lp_reserves_at_entry[0]).quantize(
            Decimal("1e-18"), ROUND_DOWN)
        pair = eth["UNI-V2"]["address"]
        self._evm_tx("ethereum", day(128), a, eth["uniRouter"]["address"], Decimal("0.5"), 200_000,
                     "addLiquidityETH(address,uint256,uint256,uint256,address,uint256)",
                     [("USDT", a, pair, lp_usdt), ("UNI-V2", ZERO_ADDRESS, a, self.lp_tokens)], tag="uni-add")
        self.lp_usdt = lp_usdt
        self._evm_tx("ethereum", day(129), a, eth["stETH"]["address"], Decimal(3), 90_000, "submit(address)",
                     [("stETH", ZERO_ADDRESS, a, Decimal(3))], tag="lido")
        spammer = checksum_address("0x" + _h("spammer")[:40])
        self._evm_tx("ethereum", day(140), spammer, eth["ETHG"]["address"], Decimal(0), 1_200_000,
                     "airdrop(address[],uint256)", [("ETHG", spammer, a, Decimal(1_000_000))], tag="spam")
        for flow in flows:
            if flow["direction"] == "from_wallet" and flow["chain"] != "bitcoin":
                self._evm_tx(flow["chain"], flow["chain_time_ms"], a, eth[flow["asset"]]["address"], Decimal(0),
                             65_000, "transfer(address,uint256)", [(flow["asset"], a, flow["address"], flow["amount"])],
                             tag=flow["tag"])
        self._evm_tx("arbitrum", day(181), checksum_address("0x" + _h("friend")[:40]), a, Decimal("0.05"), 21_000,
                     "", tag="arb-gas")
        # Chain → chain: 500 USDT bridged from Ethereum to Arbitrum; the bridge keeps 0.5 and the two sides have
        # different hashes, so only amount and time can pair them.
        bridge_l1, bridge_l2 = (checksum_address("0x" + _h(name)[:40]) for name in ("bridge-l1", "bridge-l2"))
        out = self._evm_tx("ethereum", day(270), a, eth["USDT"]["address"], Decimal(0), 70_000,
                           "transfer(address,uint256)", [("USDT", a, bridge_l1, Decimal(500))], tag="bridge-out")
        self._evm_tx("arbitrum", day(270) + 14 * 60_000, bridge_l2, CONTRACTS["arbitrum"]["USDT"]["address"],
                     Decimal(0), 90_000, "transfer(address,uint256)", [("USDT", bridge_l2, a, Decimal("499.5"))],
                     tag="bridge-in")
        self.bridges.append({"tenant_id": "acme", "from": "acme-ledger-eth", "to": "acme-ledger-arb",
                             "asset": "USDT", "amount": "500", "received": "499.5", "txid": out.hash})
        self.btc_txs.sort(key=lambda t: t.time_ms)
        self.evm_txs.sort(key=lambda t: t.time_ms)

    # -- state at a time -------------------------------------------------------------------------------------
    def btc_address_txs(self, address: str) -> list[BtcTx]:
        """Newest first, as Esplora lists them."""
        touching = [t for t in self.btc_txs if address in {v[2] for v in t.vin} | {o[0] for o in t.vout}]
        return sorted(touching, key=lambda t: (-t.height, t.txid))

    def evm_balance(self, chain: str, address: str, symbol: str | None, at_ms: int) -> int:
        """Units of the native coin (symbol None) or a token held by `address` at `at_ms`; rebasing tokens
        (aTokens, debt tokens, stETH) grow with time like the real contracts."""
        total = 0
        for tx in self.evm_txs:
            if tx.chain != chain or tx.time_ms > at_ms:
                continue
            if symbol is None:
                if tx.to.lower() == address.lower():
                    total += tx.value_wei
                if tx.sender.lower() == address.lower():
                    total -= tx.value_wei + tx.gas_used * tx.gas_price
                continue
            for t in tx.tokens:
                if t["symbol"] != symbol:
                    continue
                growth = 1.0
                if symbol in ("aEthWETH", "variableDebtEthUSDT", "stETH"):
                    rate = {"aEthWETH": AAVE_SUPPLY_APY, "variableDebtEthUSDT": AAVE_BORROW_APY,
                            "stETH": LIDO_APR}[symbol]
                    growth = (1 + rate) ** ((at_ms - tx.time_ms) / (365 * DAY_MS))
                units = int(Decimal(t["units"]) * Decimal(repr(growth)))
                if t["to"].lower() == address.lower():
                    total += units
                if t["from"].lower() == address.lower():
                    total -= units
        return total

    def lp_reserves(self, at_ms: int) -> tuple[int, int]:
        """Constant product pool tracking the world's ETH price: (WETH units, USDT units)."""
        eth0, usdt0 = self.lp_reserves_at_entry
        k = eth0 * usdt0
        price = Decimal(repr(self.world.prices.coin_usd("ETH", self.world.prices.hour_of(at_ms))))
        eth = (k / price).sqrt()
        return to_units(eth.quantize(Decimal("1e-18"), ROUND_DOWN), 18), to_units(
            (eth * price).quantize(Decimal("0.000001"), ROUND_DOWN), 6)

    def truth(self) -> dict[str, Any]:
        """What a correct pipeline must find for the wallets: holdings at the chain head and DeFi positions."""
        at = self.end_ms
        btc = {wallet: str(Decimal(sum(u[3] for u in coins)) * SAT) for wallet, coins in self._utxos.items()}
        a = self.evm_address
        usdt = {chain: Decimal(self.evm_balance(chain, a, "USDT", at)).scaleb(-6) for chain in CHAIN_IDS}
        eth = {chain: Decimal(self.evm_balance(chain, a, None, at)).scaleb(-18) for chain in CHAIN_IDS}
        supplied = Decimal(self.evm_balance("ethereum", a, "aEthWETH", at)).scaleb(-18)
        borrowed = Decimal(self.evm_balance("ethereum", a, "variableDebtEthUSDT", at)).scaleb(-6)
        weth, usdt_reserve = self.lp_reserves(at)
        share = self.lp_tokens / self.lp_supply
        return {
            "holdings": {
                "acme-ledger-btc": {"BTC": btc["acme-ledger-btc"]},
                "bluefin-cold-btc": {"BTC": btc["bluefin-cold-btc"]},
                "acme-ledger-eth": {"ETH": str(eth["ethereum"]), "USDT": str(usdt["ethereum"])},
                "acme-ledger-arb": {"ETH": str(eth["arbitrum"]), "USDT": str(usdt["arbitrum"])},
            },
            "defi": {"acme-defi": [
                {"protocol": "aave-v3", "position_type": "supplied", "asset": "ETH", "quantity": str(supplied)},
                {"protocol": "aave-v3", "position_type": "borrowed", "asset": "USDT", "quantity": str(-borrowed)},
                {"protocol": "uniswap-v2", "position_type": "liquidity", "asset": "ETH",
                 "quantity": str(Decimal(weth).scaleb(-18) * share)},
                {"protocol": "uniswap-v2", "position_type": "liquidity", "asset": "USDT",
                 "quantity": str(Decimal(usdt_reserve).scaleb(-6) * share)},
                {"protocol": "lido", "position_type": "staked", "asset": "STETH",
                 "quantity": str(Decimal(self.evm_balance("ethereum", a, "stETH", at)).scaleb(-18))},
            ]},
            "bridges": self.bridges,
            "spam_tokens": [{"chain": "ethereum", "contract": CONTRACTS["ethereum"]["ETHG"]["address"],
                             "symbol": "ETHG"}],
            "gap_limit_index": 19,
        }

    def published_wallets(self) -> list[dict[str, Any]]:
        def acct(tenant: str, tname: str, portfolio: str, pname: str, account_id: str, name: str, venue: str,
                 kind: str, settings: dict[str, Any]) -> dict[str, Any]:
            return {"tenant_id": tenant, "tenant_name": tname, "portfolio_id": portfolio, "portfolio_name": pname,
                    "account_id": account_id, "display_name": name, "venue": venue, "kind": kind,
                    "settings": settings, "history_start": None}
        return [
            acct("acme", "Acme Capital", "main", "Main book", "acme-ledger-btc", "Ledger — BTC (native segwit)",
                 "bitcoin", "wallet", {"xpub": self.zpub, "gap_limit": 20}),
            acct("bluefin", "Bluefin Family Office", "core", "Core holdings", "bluefin-cold-btc",
                 "Cold storage — BTC", "bitcoin", "wallet", {"addresses": [self.cold_address]}),
            acct("acme", "Acme Capital", "main", "Main book", "acme-ledger-eth", "Ledger — Ethereum", "ethereum",
                 "wallet", {"address": self.evm_address}),
            acct("acme", "Acme Capital", "main", "Main book", "acme-ledger-arb", "Ledger — Arbitrum", "arbitrum",
                 "wallet", {"address": self.evm_address}),
            acct("acme", "Acme Capital", "main", "Main book", "acme-defi", "DeFi — Aave, Uniswap, Lido", "ethereum",
                 "defi", {"address": self.evm_address, "protocols": ["aave-v3", "uniswap-v2", "lido"]}),
        ]
