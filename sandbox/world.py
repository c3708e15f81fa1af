"""The sandbox's world: a seeded, deterministic market and the clients who trade in it.

Everything here is pure (no I/O, no clock): the same seed gives the same prices, trades, transfers and
balances, to the last decimal, on every run. Prices follow a correlated random walk with a calm and a
stressed regime; accounts start empty, are funded by deposits, trade, withdraw and move coins between
their own accounts. Exchange-reported balances follow from the history by the ledger rule below, except
for one seeded discrepancy that reconciliation has to find.

Ledger rule (what the warehouse reconciles with):
    balance = deposits (ok) − withdrawals (not canceled/failed: amount + fee)
              + bought base − sold base − quote paid on buys + quote received on sells − trade fees
              − moved to the venue's other wallets + moved back (WalletMove: the spot wallet's balance)
              + rewards paid into the spot wallet (Reward; one paid into another wallet adds to that wallet)
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

DEFAULT_SEED = 2  # a calm-then-stressed path with plausible end prices (scan of seeds 1-29)
WORLD_START = datetime(2025, 6, 1, tzinfo=UTC)
WORLD_END = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
HOUR_MS = 3_600_000
START_MS = int(WORLD_START.timestamp() * 1000)
END_MS = int(WORLD_END.timestamp() * 1000) + 999
SATOSHI = Decimal("0.00000001")

VENUES = ("binance", "coinbase", "kraken", "bitfinex", "htx")
TRADE_ATTEMPTS = {"binance": 900, "coinbase": 350, "kraken": 350, "bitfinex": 300, "htx": 300}
# Prices differ slightly between venues, as in real markets (a constant basis per venue).
VENUE_BASIS = {"binance": 0.0, "coinbase": 0.0004, "kraken": -0.0003, "bitfinex": 0.0006, "htx": -0.0005}
TRANSFER_STATUSES = ("ok", "pending", "failed", "canceled")  # the venues' own codes are the dialects' business


@dataclass(frozen=True)
class Market:
    venue: str
    symbol: str  # the venue's native id, e.g. BTCUSDT, XXBTZUSD, BTC-USD, tBTCUSD, btcusdt
    base: str  # unified (ccxt) codes
    quote: str
    tick: Decimal
    step: Decimal
    min_notional: Decimal

    @property
    def unified(self) -> str:
        return f"{self.base}/{self.quote}"


def _m(venue: str, symbol: str, base: str, quote: str, tick: str, step: str, min_notional: str) -> Market:
    return Market(venue, symbol, base, quote, Decimal(tick), Decimal(step), Decimal(min_notional))


# tick × step never exceeds 8 decimals, so every trade's cost is exact on an 8-decimal grid.
VENUE_MARKETS: dict[str, tuple[Market, ...]] = {
    "binance": (
        _m("binance", "BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "5"),
        _m("binance", "ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "5"),
        _m("binance", "SOLUSDT", "SOL", "USDT", "0.01", "0.001", "5"),
        _m("binance", "BNBUSDT", "BNB", "USDT", "0.01", "0.001", "5"),
        _m("binance", "ETHBTC", "ETH", "BTC", "0.00001", "0.001", "0.0001"),
    ),
    "coinbase": (
        _m("coinbase", "BTC-USD", "BTC", "USD", "0.01", "0.000001", "1"),
        _m("coinbase", "ETH-USD", "ETH", "USD", "0.01", "0.00001", "1"),
        _m("coinbase", "SOL-USD", "SOL", "USD", "0.01", "0.001", "1"),
        _m("coinbase", "ETH-BTC", "ETH", "BTC", "0.00001", "0.001", "0.0001"),
        _m("coinbase", "USDT-USD", "USDT", "USD", "0.0001", "0.01", "1"),
    ),
    "kraken": (
        _m("kraken", "XXBTZUSD", "BTC", "USD", "0.1", "0.0001", "5"),
        _m("kraken", "XETHZUSD", "ETH", "USD", "0.01", "0.0001", "5"),
        _m("kraken", "SOLUSD", "SOL", "USD", "0.01", "0.001", "5"),
        _m("kraken", "XETHXXBT", "ETH", "BTC", "0.00001", "0.001", "0.0001"),
        _m("kraken", "USDTZUSD", "USDT", "USD", "0.0001", "0.01", "5"),
    ),
    "bitfinex": (
        _m("bitfinex", "tBTCUSD", "BTC", "USD", "0.1", "0.0001", "5"),
        _m("bitfinex", "tETHUSD", "ETH", "USD", "0.01", "0.001", "5"),
        _m("bitfinex", "tSOLUSD", "SOL", "USD", "0.01", "0.01", "5"),
        _m("bitfinex", "tBTCUST", "BTC", "USDT", "0.1", "0.0001", "5"),
    ),
    "htx": (
        _m("htx", "btcusdt", "BTC", "USDT", "0.01", "0.000001", "5"),
        _m("htx", "ethusdt", "ETH", "USDT", "0.01", "0.0001", "5"),
        _m("htx", "solusdt", "SOL", "USDT", "0.01", "0.001", "5"),
        _m("htx", "ethbtc", "ETH", "BTC", "0.00001", "0.001", "0.0001"),
    ),
}
MARKETS = VENUE_MARKETS["binance"]  # Binance's, kept under their original names for the Binance dialect
MARKET_BY_SYMBOL = {m.symbol: m for m in MARKETS}
MARKET_BY_VENUE_SYMBOL = {(m.venue, m.symbol): m for ms in VENUE_MARKETS.values() for m in ms}
# (fee rate, fee charged in: 'received' asset or 'quote' asset), per venue
FEE_RULES: dict[str, tuple[Decimal, str]] = {
    "binance": (Decimal("0.001"), "received"), "coinbase": (Decimal("0.006"), "quote"),
    "kraken": (Decimal("0.0026"), "quote"), "bitfinex": (Decimal("0.002"), "received"),
    "htx": (Decimal("0.002"), "received"),
}
COINS = ("BTC", "ETH", "SOL", "BNB")  # priced by the random walk; USDT is the USD numéraire
ASSETS = (*COINS, "USDT", "USD")
START_USD = np.array([67_000.0, 3_500.0, 160.0, 600.0])
ANNUAL_VOL = np.array([0.55, 0.70, 0.95, 0.50])
STRESS = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))  # the stressed regime
# Where a venue's candles go wrong (on Coinbase, first in the default price_source_priority), so that reference
# prices must fall back to another venue: a bad print is an outlier against the other venues, a gap an outage.
# (venue, market id, from, to, factor or None = gap): a candle opening in [from, to) is multiplied by the
# factor, or not served at all.
PRICE_ANOMALIES: tuple[tuple[str, str, datetime, datetime, float | None], ...] = (
    ("coinbase", "SOL-USD", datetime(2026, 1, 14, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC), 1.30),
    ("coinbase", "BTC-USD", datetime(2026, 2, 9, tzinfo=UTC), datetime(2026, 2, 12, tzinfo=UTC), None),
    ("coinbase", "ETH-USD", datetime(2026, 9, 30, 10, tzinfo=UTC), datetime(2026, 9, 30, 10, 30, tzinfo=UTC), None),
    ("coinbase", "BTC-USD", datetime(2026, 9, 30, 14, 5, tzinfo=UTC), datetime(2026, 9, 30, 14, 6, tzinfo=UTC), 0.80),
)


def price_anomaly(venue: str, market_id: str, open_ms: int) -> tuple[bool, float]:
    """(served, factor) of the candle of `venue`'s market opening at `open_ms`."""
    for a_venue, a_market, start, end, factor in PRICE_ANOMALIES:
        if a_venue == venue and a_market == market_id and start.timestamp() * 1000 <= open_ms < end.timestamp() * 1000:
            return factor is not None, factor or 1.0
    return True, 1.0
NETWORK_FEE = {"BTC": Decimal("0.0002"), "ETH": Decimal("0.0015"), "SOL": Decimal("0.01"), "BNB": Decimal("0.001"),
               "USDT": Decimal("1"), "USD": Decimal("5")}
NETWORK = {"BTC": "BTC", "ETH": "ETH", "SOL": "SOL", "BNB": "BSC", "USDT": "TRX", "USD": "WIRE"}


@dataclass(frozen=True)
class AccountInfo:
    tenant_id: str
    tenant_name: str
    portfolio_id: str
    portfolio_name: str
    account_id: str
    display_name: str
    fees_in_bnb: bool
    funding: tuple[tuple[str, str], ...]  # initial deposits (asset, amount)
    venue: str = "binance"


ACCOUNTS: tuple[AccountInfo, ...] = (
    AccountInfo("acme", "Acme Capital", "main", "Main book", "acme-binance-main", "Binance — main trading",
                True, (("USDT", "400000"), ("BTC", "2"), ("BNB", "40"))),
    AccountInfo("acme", "Acme Capital", "main", "Main book", "acme-binance-ops", "Binance — operations",
                False, (("USDT", "150000"),)),
    AccountInfo("bluefin", "Bluefin Family Office", "core", "Core holdings", "bluefin-binance",
                "Binance — core", False, (("USDT", "250000"), ("ETH", "10"))),
    AccountInfo("acme", "Acme Capital", "main", "Main book", "acme-coinbase", "Coinbase — prime",
                False, (("USD", "300000"), ("ETH", "20")), "coinbase"),
    AccountInfo("acme", "Acme Capital", "main", "Main book", "acme-kraken", "Kraken — treasury",
                False, (("USD", "200000"), ("BTC", "3")), "kraken"),
    AccountInfo("bluefin", "Bluefin Family Office", "core", "Core holdings", "bluefin-bitfinex",
                "Bitfinex — liquidity", False, (("USD", "150000"), ("USDT", "50000")), "bitfinex"),
    AccountInfo("bluefin", "Bluefin Family Office", "core", "Core holdings", "bluefin-htx", "HTX — Asia desk",
                False, (("USDT", "120000"), ("BTC", "1")), "htx"),
)
ACCOUNTS_TENANTS = tuple(dict.fromkeys(a.tenant_id for a in ACCOUNTS))  # the demo's tenants, in order
DEMO_TRADES = 3_997  # the demo world's trades (of TRADE_ATTEMPTS' 4,000 attempts: a few cannot be paid for)
WORLD_DAYS = (WORLD_END - WORLD_START).days + 1
T = TypeVar("T")


@dataclass(frozen=True)
class Scale:
    """How big the world is: `tenants` clients (the demo's two, then generated ones, each with an account on
    every venue) and about `trades` trades in all. The demo is 2 / 3,997."""

    tenants: int = len(ACCOUNTS_TENANTS)
    trades: int = DEMO_TRADES

    def __post_init__(self) -> None:
        if self.tenants < len(ACCOUNTS_TENANTS) or self.trades < DEMO_TRADES:
            raise ValueError(f"a world holds at least the demo's {len(ACCOUNTS_TENANTS)} tenants and "
                             f"{DEMO_TRADES} trades")
        if self.tenants == len(ACCOUNTS_TENANTS) and self.trades != DEMO_TRADES:
            raise ValueError("more trades than the demo's need more tenants than the demo's: the demo's "
                             "tenants keep their history, the new trades go to the new tenants")

    @property
    def label(self) -> str:
        return "demo" if self == DEMO else f"{self.tenants}x{self.trades}"

    @classmethod
    def parse(cls, text: str | None) -> Scale:
        """'demo' (or empty) or '<tenants>x<trades>', e.g. '20x100000' (underscores allowed: '50x1_000_000')."""
        text = (text or "demo").strip().lower()
        if text == "demo":
            return DEMO
        tenants, sep, trades = text.replace("_", "").partition("x")
        if not sep or not tenants.isdigit() or not trades.isdigit():
            raise ValueError(f"scale {text!r}: expected 'demo' or '<tenants>x<trades>', e.g. '20x100000'")
        return cls(int(tenants), int(trades))


DEMO = Scale()


def tenant_id_of(number: int) -> str:
    return f"client-{number:03d}"


def scaled_accounts(scale: Scale) -> list[AccountInfo]:
    """The generated tenants' accounts: one per venue, funded in the venue's cash (enough for its trades to be
    paid for, as the demo's funding is for its ~900) and one BTC."""
    return [AccountInfo(tenant_id_of(n), f"Client {n:03d}", "main", "Main book", f"{tenant_id_of(n)}-{venue}",
                        f"{venue.capitalize()} — client {n:03d}", False,
                        ((VENUE_CASH[venue], str(max(150_000, attempts * 250))), ("BTC", "1")), venue)
            for n in range(len(ACCOUNTS_TENANTS) + 1, scale.tenants + 1)
            for venue, attempts in tenant_attempts(scale, n).items()]


def tenant_attempts(scale: Scale, number: int) -> dict[str, int]:
    """Trade attempts of generated tenant `number` per venue: the trades beyond the demo's, shared evenly
    among the new tenants (the remainder to the first ones), split over the venues as the demo splits them."""
    new_tenants = scale.tenants - len(ACCOUNTS_TENANTS)
    share, rest = divmod(scale.trades - DEMO_TRADES, new_tenants)
    total = share + (1 if number - len(ACCOUNTS_TENANTS) <= rest else 0)
    weight = sum(TRADE_ATTEMPTS.values())
    out = {v: total * TRADE_ATTEMPTS[v] // weight for v in VENUES}
    out["binance"] += total - sum(out.values())
    return out


VENUE_CASH = {"binance": "USDT", "htx": "USDT", "coinbase": "USD", "kraken": "USD", "bitfinex": "USD"}
DISCREPANCY = ("bluefin", "bluefin-binance", "SOL", Decimal("1.5"))  # an unrecorded distribution
# One sanctioned counterparty (issue 16 §2): acme's BTC withdrawal of day 250 pays an address on OFAC's SDN list
# (published there since 2018), so that screening has exactly one hit to show. The demo list SANCTIONS_DEMO_LIST
# (sdn.xml's layout) carries it with a few addresses the world never pays; `coinbook run` loads it.
SANCTIONED_COUNTERPARTY = ("acme", "acme-binance-main", "149w62rY42aZBox8fGcmqNsXUzSStKeq8C")
SANCTIONS_DEMO_LIST = Path(__file__).parent / "sanctions" / "sdn_demo.xml"
# The demo tenants' KYC register (one complete, one whose next review is near), seeded by `coinbook run`.
KYC_DEMO_REGISTER = Path(__file__).parent / "kyc" / "demo_register.yaml"
# Coins moved on-chain between exchange accounts and the same tenant's own wallets (sandbox/chains.py):
# (day, asset, amount, from account, to account, chain). The exchange records the chain's transaction hash.
WALLET_FLOWS = (
    (75, "BTC", "0.5", "acme-kraken", "acme-ledger-btc", "bitcoin"),
    (90, "BTC", "0.3", "acme-binance-main", "acme-ledger-btc", "bitcoin"),
    (125, "ETH", "15", "acme-coinbase", "acme-ledger-eth", "ethereum"),
    (180, "USDT", "5000", "acme-binance-ops", "acme-ledger-arb", "arbitrum"),
    (205, "BTC", "0.3", "bluefin-htx", "bluefin-cold-btc", "bitcoin"),
    (230, "BTC", "0.25", "acme-ledger-btc", "acme-coinbase", "bitcoin"),
    (260, "USDT", "1000", "acme-ledger-eth", "acme-binance-main", "ethereum"),
)
WALLETS = ("acme-ledger-btc", "bluefin-cold-btc", "acme-ledger-eth", "acme-ledger-arb")


@dataclass
class Trade:
    account_id: str
    symbol: str
    id: int
    order_id: int
    time_ms: int
    is_buyer: bool
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@dataclass
class Transfer:
    account_id: str
    kind: str  # deposit | withdrawal
    id: str
    time_ms: int
    coin: str
    amount: Decimal  # credited (deposit) or sent (withdrawal); the fee is on top
    fee: Decimal
    status: str  # 'ok' | 'pending' | 'failed' | 'canceled'
    tx_id: str
    address: str
    internal: bool = False

    @property
    def counts(self) -> bool:
        """Does it move the balance? A deposit once credited; a withdrawal unless it failed or was cancelled."""
        if self.kind == "deposit":
            return self.status == "ok"
        return self.status not in ("failed", "canceled")


@dataclass
class Reward:
    """An Earn / staking reward the venue paid the account (income): into its spot wallet or into the venue's
    `wallet` that earned it (Kraken's bonded Earn compounds into DOT.B; Binance Simple Earn pays into Earn)."""

    account_id: str
    id: int
    time_ms: int
    coin: str
    amount: Decimal
    wallet: str  # 'spot' or the venue's name for the other wallet (as WalletMove.wallet)
    product: str = ""  # the venue's product the reward came from, when its API names one


@dataclass
class WalletMove:
    """Coins moved between two wallets of one venue account (spot ↔ funding / earn / futures / staking): in
    neither deposit nor withdrawal history; the spot balance changes, the venue's other wallet holds the rest.
    `wallet` is the venue's own name for the other wallet (Binance 'FUNDING', Kraken 'staking')."""

    account_id: str
    id: int
    time_ms: int
    coin: str
    amount: Decimal
    wallet: str
    direction: str  # 'out' of spot into `wallet` | 'in' to spot from `wallet`
    spot_after: Decimal = Decimal(0)   # the two wallets' balances of `coin` after the move (ledger entries)
    other_after: Decimal = Decimal(0)


@dataclass
class Malformed:
    """Extra bogus records the API can mix in; never a corrupted real one, so balances still reconcile."""

    trades: list[dict[str, Any]] = field(default_factory=list)
    deposits: list[dict[str, Any]] = field(default_factory=list)


class Credentials(NamedTuple):
    api_key: str
    secret: str
    password: str | None = None


READ_ONLY_SUFFIX = ":read-only"  # `sandbox:<account>:read-only`: the account's read-only key


def api_credentials(seed: int, account_id: str, venue: str = "binance") -> Credentials:
    """Deterministic demo keys in the venue's format (a dialect module may define `credentials_for`)."""
    digest = hashlib.sha256(f"coinbook-sandbox:{seed}:{account_id}".encode()).hexdigest()
    secret = hashlib.sha256(f"secret:{digest}".encode()).hexdigest()
    try:
        dialect = importlib.import_module(f"sandbox.{venue}")
    except ModuleNotFoundError:
        dialect = None
    if dialect is not None and hasattr(dialect, "credentials_for"):
        return Credentials(*dialect.credentials_for(seed, account_id))
    if venue == "kraken":  # Kraken signs with a base64-decoded secret
        return Credentials(f"sbx{digest[:53]}", base64.b64encode(bytes.fromhex(secret + digest)).decode())
    return Credentials(f"sbx{digest[:61]}", secret)  # 64 ASCII characters, like Binance's


def _q(value: float | Decimal, quantum: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return Decimal(repr(float(value)) if isinstance(value, float) else value).quantize(quantum, rounding=rounding)


class PricePath:
    """Hourly USD prices of the coins: correlated geometric Brownian motion, calm then stressed regime."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        hours = (END_MS - START_MS) // HOUR_MS + 1
        self.hours = hours
        sigma = ANNUAL_VOL / np.sqrt(24 * 365)
        calm = np.full((4, 4), 0.55) + np.eye(4) * 0.45
        stressed = np.full((4, 4), 0.88) + np.eye(4) * 0.12
        chol_calm, chol_stress = np.linalg.cholesky(calm), np.linalg.cholesky(stressed)
        shocks = rng.standard_normal((hours, 4))
        stress_from = int((STRESS[0].timestamp() * 1000 - START_MS) // HOUR_MS)
        stress_to = int((STRESS[1].timestamp() * 1000 - START_MS) // HOUR_MS)
        vol = np.tile(sigma, (hours, 1))
        vol[stress_from:stress_to] *= 2.8
        correlated = shocks @ chol_calm.T
        correlated[stress_from:stress_to] = shocks[stress_from:stress_to] @ chol_stress.T
        # Ito-corrected drift of +25 %/year, and a -20 % drawdown spread over the stressed weeks.
        drift = np.full((hours, 1), 0.25 / (24 * 365))
        drift[stress_from:stress_to] -= 0.20 / max(1, stress_to - stress_from)
        returns = correlated * vol + drift - 0.5 * vol**2
        # math.exp (the C library's), not np.exp: numpy picks an exp by the CPU (AVX-512 or AVX2 kernels) and they
        # differ in the last bit, so the same seed gave another world on another machine (the demo digest)
        self.usd = START_USD * np.vectorize(math.exp, otypes=[float])(np.cumsum(returns, axis=0))  # (hours, 4)
        self.wiggle = rng.uniform(0.0005, 0.004, (hours, 2))  # intra-hour range for highs and lows
        self.volume = rng.lognormal(0.0, 0.5, hours)

    def hour_of(self, ms: int) -> int:
        return max(0, min(self.hours - 1, (ms - START_MS) // HOUR_MS))

    def coin_usd(self, coin: str, hour: int) -> float:
        if coin in ("USDT", "USD"):
            return 1.0
        return float(self.usd[hour, COINS.index(coin)])

    def market_close(self, market: Market, hour: int) -> float:
        return self.coin_usd(market.base, hour) / self.coin_usd(market.quote, hour) * (1 + VENUE_BASIS[market.venue])


@dataclass
class _Ids:
    """A venue's id counters as one account's trades see them (ids advance: other users trade too)."""

    trade: dict[tuple[str, str], int]
    order: int


class World:
    """The whole sandbox world for one seed and scale. `advance()` / `advance_day()` append activity; everything
    else is read-only. A scaled world is the demo world plus generated tenants (`Scale`): the demo tenants keep
    every planted break and anomaly, so the truth's breaks are the demo's at every scale."""

    def __init__(self, seed: int = DEFAULT_SEED, scale: Scale | None = None) -> None:
        self.seed = seed
        self.scale = scale or DEMO
        self.prices = PricePath(seed)
        extra = scaled_accounts(self.scale)
        self.accounts = {a.account_id: a for a in (*ACCOUNTS, *extra)}
        self.credentials = {a.account_id: api_credentials(seed, a.account_id, a.venue)
                            for a in self.accounts.values()}
        # A second key per exchange account, read-only (a venue's "view"/"query" permission, what a sync needs):
        # it reads everything the trading key reads, and each dialect refuses its orders with the venue's own
        # permission error. Not in published_accounts (the demo digest): the server adds it to /__sandbox/accounts.
        self.read_only_credentials = {a.account_id: api_credentials(seed, f"{a.account_id}{READ_ONLY_SUFFIX}", a.venue)
                                      for a in self.accounts.values()}
        # api key → (account, secret, may trade): every signed request looks its key up here
        self._keys = {c.api_key: (a, c.secret, trading)
                      for keys, trading in ((self.credentials, True), (self.read_only_credentials, False))
                      for a, c in keys.items()}
        self.trades: dict[str, list[Trade]] = defaultdict(list)  # per account, time order
        self.transfers: dict[str, list[Transfer]] = defaultdict(list)
        self.internal_transfers: list[dict[str, Any]] = []
        self.wallet_moves: dict[str, list[WalletMove]] = defaultdict(list)  # per account, time order
        self.rewards: dict[str, list[Reward]] = defaultdict(list)  # per account, time order (only when planted)
        self.wallet_flows: list[dict[str, Any]] = []
        self.malformed = Malformed()
        self._balances: dict[str, dict[str, Decimal]] = {a: defaultdict(Decimal) for a in self.accounts}
        self._shared_ids = _Ids({(m.venue, m.symbol): 28_000_000 + i * 1_000_000
                                 for ms in VENUE_MARKETS.values() for i, m in enumerate(ms)}, 4_100_000_000)
        # A generated tenant's accounts count ids in their own ranges, so that each tenant's history is the same
        # whatever the others do (and every account's ids rise with time, as Binance's fromId paging needs).
        self._ids = {a.account_id: _Ids({(m.venue, m.symbol): 1_000_000_000 + n * 10_000_000 + i * 1_000_000
                                         for i, m in enumerate(VENUE_MARKETS[a.venue])},
                                        10_000_000_000 + n * 100_000_000)
                     for n, a in enumerate(extra)}
        self._rng = np.random.default_rng(seed + 1)
        self._lock = threading.Lock()
        # Per-account views the dialects build from the whole history (sorted, rendered rows): built once per state
        # of the account, not on every page request (a page of a 10,000-trade account re-rendered all 10,000).
        self._memo: dict[tuple[Any, ...], tuple[tuple[int, int, int, int], Any]] = {}
        self.latest_trade_ms: dict[str, int] = {}  # per venue: HTX's server clock follows its latest trade
        self.zero_update_time: set[str] = set()  # Binance accounts whose reply says updateTime 0 (server.Faults)
        from sandbox.chains import ChainWorld  # late: chains.py imports this module's constants

        self.chains = ChainWorld(self)
        self._generate()
        self.chains.build(self.wallet_flows)
        self._plant_malformed()
        for number in range(len(ACCOUNTS_TENANTS) + 1, self.scale.tenants + 1):
            self._generate_tenant(number)

    # -- generation ----------------------------------------------------------------------------------------
    def _generate(self) -> None:
        rng = self._rng
        events: list[tuple[int, int, str, dict[str, Any]]] = []  # (time, order, kind, data)
        order = 0

        def add(time_ms: int, kind: str, **data: Any) -> None:
            nonlocal order
            order += 1
            events.append((time_ms, order, kind, data))

        for i, acc in enumerate(ACCOUNTS):
            for j, (coin, amount) in enumerate(acc.funding):
                add(START_MS + (i * 5 + j) * 3_600_000 + 600_000, "deposit", account=acc.account_id, coin=coin,
                    amount=Decimal(amount))
            month = WORLD_START
            while month < WORLD_END:  # monthly top-ups and pay-outs
                month = (month + timedelta(days=32)).replace(day=1)
                t = int(month.timestamp() * 1000) + int(rng.integers(1, 20)) * 3_600_000
                if t < END_MS - 86_400_000:
                    cash = VENUE_CASH[acc.venue]
                    add(t, "deposit", account=acc.account_id, coin=cash,
                        amount=Decimal(int(rng.integers(10, 60)) * 1000))
                    if month.month % 2 == 0:
                        add(t + 5 * 86_400_000, "withdrawal", account=acc.account_id, coin=cash,
                            amount=Decimal(int(rng.integers(5, 20)) * 1000))
            # HTX's API serves only its last 120 days of trades: the seeded HTX desk opened trading within them,
            # so the API holds its whole trade history (a back-fill from CSV is issue 4's business).
            first_trade = END_MS - 110 * 86_400_000 if acc.venue == "htx" else START_MS + 86_400_000
            for n in range(TRADE_ATTEMPTS[acc.venue]):  # attempts; infeasible ones are skipped
                t = int(rng.integers(first_trade, END_MS - 3_600_000))
                add(t, "trade", account=acc.account_id, n=n)

        # Coins moved between a tenant's own accounts, on one venue or across venues: withdrawal (with a
        # network fee) on one, deposit on the other some minutes later, same txid.
        for k, (day, coin, amount, src, dst) in enumerate((
            (40, "USDT", "20000", "acme-binance-main", "acme-binance-ops"),
            (150, "BTC", "0.5", "acme-binance-main", "acme-binance-ops"),
            (300, "USDT", "15000", "acme-binance-ops", "acme-binance-main"),
            (60, "BTC", "0.4", "acme-binance-main", "acme-kraken"),
            (120, "ETH", "3", "acme-coinbase", "acme-binance-ops"),
            (210, "BTC", "0.2", "acme-kraken", "acme-coinbase"),
            (200, "USDT", "10000", "bluefin-htx", "bluefin-binance"),
            (280, "USDT", "8000", "bluefin-bitfinex", "bluefin-htx"),
        )):
            t = START_MS + day * 86_400_000 + 13 * 3_600_000
            add(t, "internal", src=src, dst=dst, coin=coin, amount=Decimal(amount), k=k)
        receive_index = {"acme-ledger-btc": 0}
        for day, coin, amount, src, dst, chain in WALLET_FLOWS:
            t = START_MS + day * 86_400_000 + 11 * 3_600_000
            index = receive_index.get(dst, 0)
            receive_index[dst] = index + 1
            add(t, "wallet", src=src, dst=dst, coin=coin, amount=Decimal(amount), chain=chain, index=index)
        # One cancelled withdrawal and one failed deposit: on the record, no effect on balances.
        add(START_MS + 200 * 86_400_000, "withdrawal", account="acme-binance-ops", coin="USDT",
            amount=Decimal("7500"), status="canceled")
        add(START_MS + 220 * 86_400_000, "deposit", account="bluefin-binance", coin="USDT", amount=Decimal("9000"),
            status="failed")
        add(START_MS + 250 * 86_400_000, "withdrawal", account=SANCTIONED_COUNTERPARTY[1], coin="BTC",
            amount=Decimal("0.25"), address=SANCTIONED_COUNTERPARTY[2])

        events.sort(key=lambda e: (e[0], e[1]))
        for time_ms, _order, kind, data in events:
            if kind == "trade":
                self._trade(data["account"], time_ms)
            elif kind == "deposit":
                self._deposit(data["account"], time_ms, data["coin"], data["amount"],
                              data.get("status", "ok"))
            elif kind == "withdrawal":
                self._withdraw(data["account"], time_ms, data["coin"], data["amount"],
                               data.get("status", "ok"), address=data.get("address"))
            elif kind == "wallet":
                self._wallet_flow(time_ms, **data)
            else:
                self._internal(time_ms, **data)

    def _generate_tenant(self, number: int) -> None:
        """One generated tenant of a scaled world, from its own random stream: funding, monthly top-ups and
        pay-outs, its trades and one BTC transfer between two of its accounts (for transfer matching)."""
        rng = np.random.default_rng([self.seed, 17, number])
        tenant = tenant_id_of(number)
        attempts = tenant_attempts(self.scale, number)
        events: list[tuple[int, int, str, dict[str, Any]]] = []

        def add(time_ms: int, kind: str, **data: Any) -> None:
            events.append((time_ms, len(events), kind, data))

        for v, venue in enumerate(VENUES):
            account = f"{tenant}-{venue}"
            cash = VENUE_CASH[venue]
            for j, (coin, amount) in enumerate(self.accounts[account].funding):
                add(START_MS + (v * 5 + j) * 3_600_000 + 600_000, "deposit", account=account, coin=coin,
                    amount=Decimal(amount))
            month = WORLD_START
            while month < WORLD_END:
                month = (month + timedelta(days=32)).replace(day=1)
                t = int(month.timestamp() * 1000) + int(rng.integers(1, 20)) * 3_600_000
                if t < END_MS - 86_400_000:
                    add(t, "deposit", account=account, coin=cash, amount=Decimal(int(rng.integers(10, 60)) * 1000))
                    if month.month % 2 == 0:
                        add(t + 5 * 86_400_000, "withdrawal", account=account, coin=cash,
                            amount=Decimal(int(rng.integers(5, 20)) * 1000))
            first_trade = END_MS - 110 * 86_400_000 if venue == "htx" else START_MS + 86_400_000  # as the demo's
            for t in np.sort(rng.integers(first_trade, END_MS - 3_600_000, attempts[venue])):
                add(int(t), "trade", account=account)
        # Before its first trade (funded, nothing traded away yet), so every scaled tenant has its pair to match.
        add(START_MS + (13 + number % 10) * 3_600_000, "internal", src=f"{tenant}-binance",
            dst=f"{tenant}-kraken", coin="BTC", amount=Decimal("0.1"), k=number % 7)
        events.sort(key=lambda e: (e[0], e[1]))
        for time_ms, _n, kind, data in events:
            if kind == "trade":
                self._trade(data["account"], time_ms, rng)
            elif kind == "deposit":
                self._deposit(data["account"], time_ms, data["coin"], data["amount"], "ok")
            elif kind == "withdrawal":
                self._withdraw(data["account"], time_ms, data["coin"], data["amount"], "ok")
            else:
                self._internal(time_ms, **data)

    def _tx_hash(self, *parts: object) -> str:
        return hashlib.sha256(":".join(map(str, (self.seed, *parts))).encode()).hexdigest()

    def _deposit(self, account_id: str, time_ms: int, coin: str, amount: Decimal, status: str,
                 tx_id: str | None = None, internal: bool = False) -> Transfer:
        n = len(self.transfers[account_id])
        tx_id = tx_id or self._tx_hash("dep", account_id, n)
        transfer = Transfer(account_id, "deposit", f"dep{self._tx_hash('depid', account_id, n)[:16]}", time_ms,
                            coin, amount, Decimal(0), status, tx_id, f"addr-{account_id}-{coin.lower()}", internal)
        self.transfers[account_id].append(transfer)
        if transfer.counts:
            self._balances[account_id][coin] += amount
        return transfer

    def _withdraw(self, account_id: str, time_ms: int, coin: str, amount: Decimal, status: str,
                  address: str | None = None, internal: bool = False, tx_id: str | None = None) -> Transfer | None:
        fee = NETWORK_FEE[coin]
        counts = status not in ("failed", "canceled")
        if counts and self._balances[account_id][coin] < amount + fee:
            return None  # the client would not have had the funds: no such withdrawal
        n = len(self.transfers[account_id])
        transfer = Transfer(account_id, "withdrawal", self._tx_hash("wdid", account_id, n)[:32], time_ms, coin,
                            amount, fee, status, tx_id or self._tx_hash("wd", account_id, n),
                            address or f"ext-{self._tx_hash('addr', coin, n)[:20]}", internal)
        self.transfers[account_id].append(transfer)
        if counts:
            self._balances[account_id][coin] -= amount + fee
        return transfer

    def _internal(self, time_ms: int, src: str, dst: str, coin: str, amount: Decimal, k: int) -> None:
        sent = self._withdraw(src, time_ms, coin, amount, "ok", address=f"addr-{dst}-{coin.lower()}",
                              internal=True)
        if sent is None:
            return
        arrived = time_ms + (20 + 7 * k) * 60_000  # confirmations take a while
        self._deposit(dst, arrived, coin, amount, "ok", tx_id=sent.tx_id, internal=True)
        self.internal_transfers.append({
            "tenant_id": self.accounts[src].tenant_id, "from_account": src, "to_account": dst, "asset": coin,
            "from_venue": self.accounts[src].venue, "to_venue": self.accounts[dst].venue,
            "amount": str(amount), "fee": str(sent.fee), "txid": sent.tx_id, "withdrawal_id": sent.id,
            "withdrawn_at_ms": time_ms, "deposited_at_ms": arrived})

    def _wallet_flow(self, time_ms: int, src: str, dst: str, coin: str, amount: Decimal, chain: str,
                     index: int) -> None:
        """Exchange → own wallet: a withdrawal whose transaction lands on-chain 10 minutes later; wallet →
        exchange: the chain transaction, credited by the exchange 30 minutes later. Same hash on both sides."""
        tag = f"flow-{src}-{dst}-{time_ms}"
        if src in self.accounts:
            chain_time = time_ms + 600_000
            address = self.chains.wallet_address(dst, coin, index)
            sent = self._withdraw(src, time_ms, coin, amount, "ok", address=address,
                                  tx_id=self.chains.exchange_tx_hash(chain, chain_time, tag))
            if sent is None:
                return  # this seed's account could not fund it: no such transfer (as for _internal)
            fee, exchange_time = sent.fee, time_ms
        else:
            chain_time, exchange_time, fee = time_ms, time_ms + 1_800_000, Decimal(0)
            address = self.chains.exchange_address(dst, chain)
            self._deposit(dst, exchange_time, coin, amount, "ok",
                          tx_id=self.chains.exchange_tx_hash(chain, chain_time, tag))
        self.wallet_flows.append({
            "tenant_id": (self.accounts.get(src) or self.accounts[dst]).tenant_id, "from": src, "to": dst,
            "asset": coin, "amount": amount, "chain": chain, "address": address, "tag": tag,
            "direction": "to_wallet" if src in self.accounts else "from_wallet", "chain_time_ms": chain_time,
            "exchange_time_ms": exchange_time, "exchange_fee": fee,
            "txid": self.chains.exchange_tx_hash(chain, chain_time, tag)})

    def _trade(self, account_id: str, time_ms: int, rng: np.random.Generator | None = None) -> Trade | None:
        rng = self._rng if rng is None else rng
        acc = self.accounts[account_id]
        markets = VENUE_MARKETS[acc.venue]
        market = markets[int(rng.integers(len(markets)))]
        hour = self.prices.hour_of(time_ms)
        price = _q(self.prices.market_close(market, hour) * (1 + rng.normal(0, 0.0004)), market.tick)
        notional_usd = float(rng.lognormal(math.log(4000), 0.7))
        qty = _q(notional_usd / self.prices.coin_usd(market.base, hour), market.step, ROUND_DOWN)
        if qty <= 0 or price * qty < market.min_notional:
            return None
        filled = self._fill(acc, market, price, qty, bool(rng.random() < 0.5), hour, notional_usd)
        if filled is None:
            return None
        side_buy, fee_asset, fee = filled
        ids = self._ids.get(account_id, self._shared_ids)
        key = (market.venue, market.symbol)
        ids.trade[key] += int(rng.integers(2, 40))  # other users trade too
        ids.order += int(rng.integers(1, 500))
        trade = Trade(account_id, market.symbol, ids.trade[key], ids.order,
                      time_ms, side_buy, price, qty, fee, fee_asset, bool(rng.random() < 0.4))
        self._book_trade(trade)
        return trade

    def _fill(self, acc: AccountInfo, market: Market, price: Decimal, qty: Decimal, buy: bool, hour: int,
              notional_usd: float) -> tuple[bool, str, Decimal] | None:
        """(side, fee asset, fee) of a trade the account can pay for: the drawn side, else the other one."""
        balances = self._balances[acc.account_id]
        rate, charged_in = FEE_RULES[acc.venue]
        for side_buy in (buy, not buy):
            cost = price * qty
            if charged_in == "received":
                fee_asset = market.base if side_buy else market.quote
                fee = ((qty if side_buy else cost) * rate).quantize(SATOSHI, ROUND_HALF_UP)
            else:  # in the quote asset, on top of the cost of a buy or out of the proceeds of a sale
                fee_asset, fee = market.quote, (cost * rate).quantize(SATOSHI, ROUND_HALF_UP)
            needs_quote = cost + (fee if fee_asset == market.quote else 0) if side_buy else 0
            if side_buy and balances[market.quote] < needs_quote:
                continue
            if not side_buy and balances[market.base] < qty:
                continue
            if acc.fees_in_bnb:  # this client pays fees in BNB at a discount, while it has BNB to spare
                bnb_fee = _q(notional_usd * 0.00075 / self.prices.coin_usd("BNB", hour), SATOSHI)
                bnb_after = balances["BNB"]
                if "BNB" in (market.base, market.quote):
                    bnb_after += (qty if side_buy else -qty) if market.base == "BNB" else (-cost if side_buy else cost)
                if bnb_after >= bnb_fee:
                    fee_asset, fee = "BNB", bnb_fee
            return side_buy, fee_asset, fee
        return None

    def market_of(self, trade: Trade) -> Market:
        return MARKET_BY_VENUE_SYMBOL[(self.accounts[trade.account_id].venue, trade.symbol)]

    def markets(self, venue: str) -> tuple[Market, ...]:
        return VENUE_MARKETS[venue]

    def venue_accounts(self, venue: str) -> list[AccountInfo]:
        return [a for a in self.accounts.values() if a.venue == venue]

    def _book_trade(self, trade: Trade) -> None:
        market = self.market_of(trade)
        balances = self._balances[trade.account_id]
        sign = 1 if trade.is_buyer else -1
        balances[market.base] += sign * trade.qty
        balances[market.quote] -= sign * trade.quote_qty
        balances[trade.commission_asset] -= trade.commission
        self.trades[trade.account_id].append(trade)
        venue = market.venue
        self.latest_trade_ms[venue] = max(self.latest_trade_ms.get(venue, trade.time_ms), trade.time_ms)

    def _plant_malformed(self) -> None:
        """A negative quantity, a zero price, a trade with no side, a negative deposit: each with a fresh id
        that fits in a gap of the venue's id sequence (ids always advance by >= 2)."""
        def after(account_id: str, symbol: str, nth: int) -> Trade:
            return [t for t in self.trades[account_id] if t.symbol == symbol][nth]

        for account_id, symbol, nth, change in (
            ("acme-binance-main", "BTCUSDT", 10, {"qty": "-0.50000"}),
            ("bluefin-binance", "SOLUSDT", 5, {"price": "0.00"}),
            ("acme-binance-ops", "ETHUSDT", 7, {"isBuyer": None}),
        ):
            base = after(account_id, symbol, nth)
            record = trade_json(base)
            record.update(id=base.id + 1, orderId=base.order_id + 1, time=base.time_ms + 1000)
            for key, value in change.items():
                if value is None:
                    record.pop(key)
                else:
                    record[key] = value
            self.malformed.trades.append({"account_id": account_id, "record": record})
        deposit = next(t for t in self.transfers["bluefin-binance"] if t.kind == "deposit" and t.coin == "USDT")
        bogus = deposit_json(deposit)
        bogus.update(id="malformed-deposit-1", amount="-250.00", insertTime=START_MS + 100 * 86_400_000,
                     txId=self._tx_hash("bogus"))
        self.malformed.deposits.append({"account_id": "bluefin-binance", "record": bogus})

    # -- activity after the world's end, for incremental-sync tests --------------------------------------
    def advance(self, trades: int) -> dict[str, int]:
        """Append `trades` new trades per account after the last event; balances stay consistent."""
        added: dict[str, int] = {}
        with self._lock:
            for acc in self.accounts.values():
                last = max([t.time_ms for t in self.trades[acc.account_id]]
                           + [t.time_ms for t in self.transfers[acc.account_id]])
                # New activity happens now, as on a real venue (a time-windowed sync looks for it after its
                # last sync, not back in the world's history): a few ms apart, all in the past.
                attempts = trades * 20
                base = max(last + 1, int(time.time() * 1000) - attempts * 10)
                count, attempt = 0, 0
                while count < trades and attempt < attempts:
                    attempt += 1
                    if self._trade(acc.account_id, base + attempt * 10):
                        count += 1
                added[acc.account_id] = count
        return added

    def advance_day(self, day: int = 1, now_ms: int | None = None) -> dict[str, int]:
        """Day `day` after the world's end: every account trades its average day's count (at least one), drawn
        from the day's own random stream, so the same day adds the same trades in every run. Times: laid out
        10 ms apart on the last moments before `now_ms` (default: now), after the account's last event — a
        time-windowed sync looks for new activity after its last sync, as on a real venue."""
        rng = np.random.default_rng([self.seed, 29, day])
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        added: dict[str, int] = {}
        with self._lock:
            for account_id in self.accounts:
                wanted = max(1, round(len(self.trades[account_id]) / WORLD_DAYS))
                attempts = wanted * 20
                base = max(self._last_event_ms(account_id) + 1, now_ms - attempts * 10)
                count = 0
                for attempt in range(1, attempts + 1):
                    if count == wanted:
                        break
                    if self._trade(account_id, base + attempt * 10, rng):
                        count += 1
                added[account_id] = count
        return added

    def withdraw_all(self, account_id: str, coin: str) -> Transfer:
        """Send the account's whole balance of `coin` out after its last event: the network fee on top of the
        amount sent, so amount + fee is the balance and the account holds exactly zero of it afterwards."""
        with self._lock:
            last = self._last_event_ms(account_id)
            fee = NETWORK_FEE[coin]
            amount = self._balances[account_id][coin] - fee
            if amount <= 0:
                raise ValueError(f"{account_id} holds no more than the {fee} {coin} fee")
            sent = self._withdraw(account_id, last + 60_000, coin, amount, "ok")
            assert sent is not None and self._balances[account_id][coin] == 0
            return sent

    def move_between_wallets(self, account_id: str, coin: str, amount: Decimal, wallet: str,
                             direction: str, time_ms: int | None = None) -> WalletMove:
        """Move `amount` of `coin` out of the spot wallet into the venue's `wallet` ('out'), or back ('in'),
        at `time_ms` or a minute after the account's last event (never before it). Only the spot balance is
        what the balance endpoints report."""
        with self._lock:
            held = self.other_wallets(account_id).get((wallet, coin), Decimal(0))
            spot = self._balances[account_id][coin]
            if amount <= 0 or (direction == "out" and amount > spot) or (direction == "in" and amount > held):
                raise ValueError(f"{account_id} cannot move {amount} {coin} {direction} of {wallet}")
            n = sum(len(m) for m in self.wallet_moves.values())
            at = max(self._last_event_ms(account_id) + 60_000, time_ms or 0)
            sign = -1 if direction == "out" else 1
            self._balances[account_id][coin] += sign * amount
            move = WalletMove(account_id, 43_000_000_000 + n, at, coin, amount, wallet, direction,
                              self._balances[account_id][coin], held - sign * amount)
            self.wallet_moves[account_id].append(move)
            return move

    def pay_reward(self, account_id: str, coin: str, amount: Decimal, wallet: str = "spot",
                   time_ms: int | None = None, product: str = "") -> Reward:
        """Pay the account an Earn / staking reward into `wallet` ('spot', or another wallet of the venue), at
        `time_ms` or a minute after the account's last event."""
        with self._lock:
            if amount <= 0:
                raise ValueError(f"a reward of {amount} {coin}")
            n = sum(len(r) for r in self.rewards.values())
            reward = Reward(account_id, 47_000_000_000 + n, max(self._last_event_ms(account_id) + 60_000, time_ms or 0),
                            coin, amount, wallet, product)
            if wallet == "spot":
                self._balances[account_id][coin] += amount
            self.rewards[account_id].append(reward)
            return reward

    def balance(self, account_id: str, asset: str) -> Decimal:
        """What the account holds of `asset` now (the running total every booking keeps)."""
        return self._balances[account_id][asset]

    def book_fill(self, account_id: str, market: Market, is_buyer: bool, price: Decimal, qty: Decimal,
                  fee: Decimal, fee_asset: str, order_id: int, is_maker: bool, time_ms: int) -> Trade:
        """A fill of an order placed through a dialect (sandbox/orders.py) booked as the account's trade, after its
        last event: it changes the balances and appears in the venue's trade history like any other trade. The
        trade id is the market's next one (+1: no random draw, so the world's own stream is untouched)."""
        with self._lock:
            ids = self._ids.get(account_id, self._shared_ids)
            key = (market.venue, market.symbol)
            ids.trade[key] += 1
            at = max(self._last_event_ms(account_id) + 1, time_ms)
            trade = Trade(account_id, market.symbol, ids.trade[key], order_id, at, is_buyer, price, qty, fee,
                          fee_asset, is_maker)
            self._book_trade(trade)
            return trade

    def other_wallets(self, account_id: str) -> dict[tuple[str, str], Decimal]:
        """What the account's moves (and rewards paid there) left in its other wallets: (wallet, coin) → quantity."""
        out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for m in self.wallet_moves[account_id]:
            out[(m.wallet, m.coin)] += m.amount if m.direction == "out" else -m.amount
        for r in self.rewards[account_id]:
            if r.wallet != "spot":
                out[(r.wallet, r.coin)] += r.amount
        return {k: v for k, v in out.items() if v != 0}

    def _last_event_ms(self, account_id: str) -> int:
        return max([t.time_ms for t in self.trades[account_id]] + [t.time_ms for t in self.transfers[account_id]]
                   + [m.time_ms for m in self.wallet_moves[account_id]]
                   + [r.time_ms for r in self.rewards[account_id]])

    # -- views ---------------------------------------------------------------------------------------------
    def history_stamp(self, account_id: str) -> tuple[int, int, int, int]:
        """The state of an account's history. Every change appends (a trade, a transfer, a wallet move, a reward:
        generation, advance, advance_day, the Desk's fills, the moves and rewards tests plant), never rewrites, so
        the four lengths tell any two states apart."""
        return (len(self.trades.get(account_id, ())), len(self.transfers.get(account_id, ())),
                len(self.wallet_moves.get(account_id, ())), len(self.rewards.get(account_id, ())))

    def memo(self, key: tuple[Any, ...], account_id: str, build: Callable[[], T]) -> T:
        """`build()` for `key` (which names `account_id` and whatever else the view depends on), rebuilt only when
        the account's history changed since. Callers must not mutate what it returns: the next request gets it."""
        stamp = self.history_stamp(account_id)
        hit = self._memo.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]  # type: ignore[no-any-return]
        value = build()
        self._memo[key] = (stamp, value)
        return value

    def computed_balances(self, account_id: str) -> dict[str, Decimal]:
        """The ledger rule applied to the account's recorded history (independently of the running totals)."""
        return dict(self.memo(("computed_balances", account_id), account_id,
                              lambda: self._computed_balances(account_id)))

    def _computed_balances(self, account_id: str) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for t in self.trades[account_id]:
            market = self.market_of(t)
            sign = 1 if t.is_buyer else -1
            out[market.base] += sign * t.qty
            out[market.quote] -= sign * t.quote_qty
            out[t.commission_asset] -= t.commission
        for tr in self.transfers[account_id]:
            if tr.counts:
                out[tr.coin] += tr.amount if tr.kind == "deposit" else -(tr.amount + tr.fee)
        for m in self.wallet_moves[account_id]:  # the spot wallet's side of each move
            out[m.coin] += -m.amount if m.direction == "out" else m.amount
        for r in self.rewards[account_id]:
            if r.wallet == "spot":
                out[r.coin] += r.amount
        return dict(out)

    def reported_balances(self, account_id: str) -> dict[str, Decimal]:
        balances = self.computed_balances(account_id)
        _tenant, account, asset, delta = DISCREPANCY
        if account_id == account:
            balances[asset] = balances.get(asset, Decimal(0)) + delta
        return balances

    def last_update_ms(self, account_id: str) -> int:
        return self.memo(("last_update_ms", account_id), account_id, lambda: self._last_update_ms(account_id))

    def _last_update_ms(self, account_id: str) -> int:
        return max([t.time_ms for t in self.trades[account_id]]
                   + [t.time_ms for t in self.transfers[account_id] if t.counts]
                   + [m.time_ms for m in self.wallet_moves[account_id]]
                   + [r.time_ms for r in self.rewards[account_id]])

    def account_by_key(self, api_key: str, venue: str | None = None) -> str | None:
        """The account a key belongs to (on `venue`: a key works only where it was issued), either key."""
        found = self._keys.get(api_key)
        if found is None or (venue is not None and self.accounts[found[0]].venue != venue):
            return None
        return found[0]

    def secret_of(self, api_key: str) -> str:
        """The secret that signs for `api_key` (the trading key's or the read-only key's)."""
        return self._keys[api_key][1]

    def can_trade(self, api_key: str) -> bool:
        """Only the trading key may place or cancel orders; the read-only key is refused by the dialect."""
        found = self._keys.get(api_key)
        return found is not None and found[2]

    def published_accounts(self, venues: tuple[str, ...] = VENUES) -> list[dict[str, Any]]:
        return [{
            **{k: v for k, v in asdict(a).items() if k not in ("funding", "fees_in_bnb")},
            "api_key": self.credentials[a.account_id].api_key, "secret": self.credentials[a.account_id].secret,
            "password": self.credentials[a.account_id].password, "history_start": WORLD_START.isoformat(),
        } for a in self.accounts.values() if a.venue in venues]

    def truth(self) -> dict[str, Any]:
        """The world's facts, for tests: what a correct pipeline must end up with."""
        accounts = {}
        for acc in self.accounts.values():
            transfers = self.transfers[acc.account_id]
            accounts[acc.account_id] = {
                "tenant_id": acc.tenant_id, "portfolio_id": acc.portfolio_id, "venue": acc.venue,
                "trades": len(self.trades[acc.account_id]),
                "deposits": sum(1 for t in transfers if t.kind == "deposit"),
                "withdrawals": sum(1 for t in transfers if t.kind == "withdrawal"),
                "computed_balances": {k: str(v) for k, v in sorted(self.computed_balances(acc.account_id).items())},
                "reported_balances": {k: str(v) for k, v in sorted(self.reported_balances(acc.account_id).items())},
                "last_update_ms": self.last_update_ms(acc.account_id),
                "other_wallets": {f"{w}:{c}": str(q) for (w, c), q in
                                  sorted(self.other_wallets(acc.account_id).items())},
            }
        tenant, account, asset, delta = DISCREPANCY
        return {
            "seed": self.seed, **({"scale": self.scale.label} if self.scale != DEMO else {}),  # the demo's as before
            "start": WORLD_START.isoformat(), "end": WORLD_END.isoformat(),
            "accounts": accounts,
            "discrepancies": [{"tenant_id": tenant, "account_id": account, "asset": asset, "delta": str(delta)}],
            "price_anomalies": [{"venue": v, "market": m, "symbol": MARKET_BY_VENUE_SYMBOL[(v, m)].unified,
                                 "from": f.isoformat(), "to": t.isoformat(), "factor": k}
                                for v, m, f, t, k in PRICE_ANOMALIES],
            "internal_transfers": self.internal_transfers,
            "wallet_transfers": [{**f, "amount": str(f["amount"]), "exchange_fee": str(f["exchange_fee"])}
                                 for f in self.wallet_flows],
            "wallets": {w["account_id"]: w for w in self.chains.published_wallets()},
            "chains": self.chains.truth(),
            "sanctioned_counterparties": [
                {"tenant_id": SANCTIONED_COUNTERPARTY[0], "account_id": t.account_id, "withdrawal_id": t.id,
                 "asset": t.coin, "amount": str(t.amount), "address": t.address}
                for t in self.transfers[SANCTIONED_COUNTERPARTY[1]] if t.address == SANCTIONED_COUNTERPARTY[2]],
            "malformed": {"trades": [{"venue": "binance", "account_id": m["account_id"],
                                      "symbol": MARKET_BY_SYMBOL[m["record"]["symbol"]].unified,
                                      "id": str(m["record"]["id"])} for m in self.malformed.trades],
                          "deposits": [{"venue": "binance", "account_id": m["account_id"], "id": m["record"]["id"]}
                                       for m in self.malformed.deposits]},
        }

    def fingerprint(self) -> str:
        """sha256 of everything generated: equal seeds must give equal fingerprints."""
        return hashlib.sha256(json.dumps(self.truth(), sort_keys=True, default=str).encode()
                              + json.dumps([[trade_json(t) for t in self.trades[a]] for a in self.accounts],
                                           sort_keys=True).encode()).hexdigest()


# -- Binance JSON shapes (shared by the API and the malformed records) ----------------------------------------
def trade_json(t: Trade) -> dict[str, Any]:
    return {"symbol": t.symbol, "id": t.id, "orderId": t.order_id, "orderListId": -1, "price": str(t.price),
            "qty": str(t.qty), "quoteQty": str(t.quote_qty), "commission": str(t.commission),
            "commissionAsset": t.commission_asset, "time": t.time_ms, "isBuyer": t.is_buyer,
            "isMaker": t.is_maker, "isBestMatch": True}


# Binance's status codes: deposits 0 pending, 1 success, 7 wrong deposit (failed);
# withdrawals 4 processing, 6 completed, 1 cancelled, 5 failure.
BINANCE_DEPOSIT_STATUS = {"pending": 0, "ok": 1, "failed": 7, "canceled": 7}
BINANCE_WITHDRAWAL_STATUS = {"pending": 4, "ok": 6, "canceled": 1, "failed": 5}


def deposit_json(t: Transfer) -> dict[str, Any]:
    status = BINANCE_DEPOSIT_STATUS[t.status]
    return {"id": t.id, "amount": str(t.amount), "coin": t.coin, "network": NETWORK[t.coin], "status": status,
            "address": t.address, "addressTag": "", "txId": t.tx_id, "insertTime": t.time_ms,
            "completeTime": t.time_ms + 120_000 if t.status == "ok" else None,
            "transferType": 1 if t.internal else 0, "confirmTimes": "12/12", "unlockConfirm": 0, "walletType": 0}


def withdrawal_json(t: Transfer) -> dict[str, Any]:
    applied = datetime.fromtimestamp(t.time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    record: dict[str, Any] = {"id": t.id, "amount": str(t.amount), "transactionFee": str(t.fee), "coin": t.coin,
                              "status": BINANCE_WITHDRAWAL_STATUS[t.status], "address": t.address,
                              "txId": t.tx_id, "applyTime": applied,
                              "network": NETWORK[t.coin], "transferType": 1 if t.internal else 0,
                              "info": "", "confirmNo": 12, "walletType": 0, "txKey": ""}
    if t.status == "ok":
        record["completeTime"] = datetime.fromtimestamp(t.time_ms / 1000 + 300, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return record
