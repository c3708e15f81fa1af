"""The sandbox's world: a seeded, deterministic market and the clients who trade in it.

Everything here is pure (no I/O, no clock): the same seed gives the same prices, trades, transfers and
balances, to the last decimal, on every run. Prices follow a correlated random walk with a calm and a
stressed regime; accounts start empty, are funded by deposits, trade, withdraw and move coins between
their own accounts. Exchange-reported balances follow from the history by the ledger rule below, except
for one seeded discrepancy that reconciliation has to find.

Ledger rule (what the warehouse reconciles with):
    balance = deposits (ok) − withdrawals (not canceled/failed: amount + fee)
              + bought base − sold base − quote paid on buys + quote received on sells − trade fees
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

DEFAULT_SEED = 2  # a calm-then-stressed path with plausible end prices (scan of seeds 1-29)
WORLD_START = datetime(2025, 6, 1, tzinfo=UTC)
WORLD_END = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
HOUR_MS = 3_600_000
START_MS = int(WORLD_START.timestamp() * 1000)
END_MS = int(WORLD_END.timestamp() * 1000) + 999
SATOSHI = Decimal("0.00000001")

# Ledger statuses, Binance-coded: deposits 1 = success, 7 = wrong deposit (failed);
# withdrawals 6 = completed, 1 = cancelled.
DEPOSIT_OK, DEPOSIT_FAILED = 1, 7
WITHDRAWAL_DONE, WITHDRAWAL_CANCELED = 6, 1


@dataclass(frozen=True)
class Market:
    symbol: str  # venue id, e.g. BTCUSDT
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_notional: Decimal

    @property
    def unified(self) -> str:
        return f"{self.base}/{self.quote}"


MARKETS: tuple[Market, ...] = (
    Market("BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("5")),
    Market("ETHUSDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("5")),
    Market("SOLUSDT", "SOL", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5")),
    Market("BNBUSDT", "BNB", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5")),
    Market("ETHBTC", "ETH", "BTC", Decimal("0.00001"), Decimal("0.001"), Decimal("0.0001")),
)
MARKET_BY_SYMBOL = {m.symbol: m for m in MARKETS}
COINS = ("BTC", "ETH", "SOL", "BNB")  # priced by the random walk; USDT is the USD numéraire
ASSETS = (*COINS, "USDT")
START_USD = np.array([67_000.0, 3_500.0, 160.0, 600.0])
ANNUAL_VOL = np.array([0.55, 0.70, 0.95, 0.50])
STRESS = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))  # the stressed regime
NETWORK_FEE = {"BTC": Decimal("0.0002"), "ETH": Decimal("0.0015"), "SOL": Decimal("0.01"), "BNB": Decimal("0.001"),
               "USDT": Decimal("1")}
NETWORK = {"BTC": "BTC", "ETH": "ETH", "SOL": "SOL", "BNB": "BSC", "USDT": "TRX"}


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


ACCOUNTS: tuple[AccountInfo, ...] = (
    AccountInfo("acme", "Acme Capital", "main", "Main book", "acme-binance-main", "Binance — main trading",
                True, (("USDT", "400000"), ("BTC", "2"), ("BNB", "40"))),
    AccountInfo("acme", "Acme Capital", "main", "Main book", "acme-binance-ops", "Binance — operations",
                False, (("USDT", "150000"),)),
    AccountInfo("bluefin", "Bluefin Family Office", "core", "Core holdings", "bluefin-binance",
                "Binance — core", False, (("USDT", "250000"), ("ETH", "10"))),
)
DISCREPANCY = ("bluefin", "bluefin-binance", "SOL", Decimal("1.5"))  # an unrecorded distribution


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
    status: int  # Binance status code
    tx_id: str
    address: str
    internal: bool = False

    @property
    def counts(self) -> bool:
        if self.kind == "deposit":
            return self.status == DEPOSIT_OK
        return self.status not in (WITHDRAWAL_CANCELED, 3, 5)


@dataclass
class Malformed:
    """Extra bogus records the API can mix in; never a corrupted real one, so balances still reconcile."""

    trades: list[dict[str, Any]] = field(default_factory=list)
    deposits: list[dict[str, Any]] = field(default_factory=list)


def api_credentials(seed: int, account_id: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"coinbook-sandbox:{seed}:{account_id}".encode()).hexdigest()
    secret = hashlib.sha256(f"secret:{digest}".encode()).hexdigest()
    return f"sbx{digest[:61]}", secret  # Binance keys are 64 ASCII characters


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
        self.usd = START_USD * np.exp(np.cumsum(returns, axis=0))  # shape (hours, 4)
        self.wiggle = rng.uniform(0.0005, 0.004, (hours, 2))  # intra-hour range for highs and lows
        self.volume = rng.lognormal(0.0, 0.5, hours)

    def hour_of(self, ms: int) -> int:
        return max(0, min(self.hours - 1, (ms - START_MS) // HOUR_MS))

    def coin_usd(self, coin: str, hour: int) -> float:
        if coin == "USDT":
            return 1.0
        return float(self.usd[hour, COINS.index(coin)])

    def market_close(self, market: Market, hour: int) -> float:
        return self.coin_usd(market.base, hour) / self.coin_usd(market.quote, hour)


class World:
    """The whole sandbox world for one seed. `advance()` appends activity; everything else is read-only."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self.prices = PricePath(seed)
        self.accounts = {a.account_id: a for a in ACCOUNTS}
        self.credentials = {a.account_id: api_credentials(seed, a.account_id) for a in ACCOUNTS}
        self.trades: dict[str, list[Trade]] = defaultdict(list)  # per account, time order
        self.transfers: dict[str, list[Transfer]] = defaultdict(list)
        self.internal_transfers: list[dict[str, Any]] = []
        self.malformed = Malformed()
        self._balances: dict[str, dict[str, Decimal]] = {a.account_id: defaultdict(Decimal) for a in ACCOUNTS}
        self._next_trade_id = {m.symbol: 28_000_000 + i * 1_000_000 for i, m in enumerate(MARKETS)}
        self._next_order_id = 4_100_000_000
        self._rng = np.random.default_rng(seed + 1)
        self._lock = threading.Lock()
        self._generate()
        self._plant_malformed()

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
                    add(t, "deposit", account=acc.account_id, coin="USDT",
                        amount=Decimal(int(rng.integers(10, 60)) * 1000))
                    if month.month % 2 == 0:
                        add(t + 5 * 86_400_000, "withdrawal", account=acc.account_id, coin="USDT",
                            amount=Decimal(int(rng.integers(5, 20)) * 1000))
            for n in range(900):  # attempts; infeasible ones are skipped
                t = int(rng.integers(START_MS + 86_400_000, END_MS - 3_600_000))
                add(t, "trade", account=acc.account_id, n=n)

        # Coins moved between acme's own accounts: withdrawal on one, deposit on the other, same txid.
        for k, (day, coin, amount, src, dst) in enumerate((
            (40, "USDT", "20000", "acme-binance-main", "acme-binance-ops"),
            (150, "BTC", "0.5", "acme-binance-main", "acme-binance-ops"),
            (300, "USDT", "15000", "acme-binance-ops", "acme-binance-main"),
        )):
            t = START_MS + day * 86_400_000 + 13 * 3_600_000
            add(t, "internal", src=src, dst=dst, coin=coin, amount=Decimal(amount), k=k)
        # One cancelled withdrawal and one failed deposit: on the record, no effect on balances.
        add(START_MS + 200 * 86_400_000, "withdrawal", account="acme-binance-ops", coin="USDT",
            amount=Decimal("7500"), status=WITHDRAWAL_CANCELED)
        add(START_MS + 220 * 86_400_000, "deposit", account="bluefin-binance", coin="USDT", amount=Decimal("9000"),
            status=DEPOSIT_FAILED)
        add(START_MS + 250 * 86_400_000, "withdrawal", account="acme-binance-main", coin="BTC",
            amount=Decimal("0.25"))

        events.sort(key=lambda e: (e[0], e[1]))
        for time_ms, _order, kind, data in events:
            if kind == "trade":
                self._trade(data["account"], time_ms)
            elif kind == "deposit":
                self._deposit(data["account"], time_ms, data["coin"], data["amount"],
                              data.get("status", DEPOSIT_OK))
            elif kind == "withdrawal":
                self._withdraw(data["account"], time_ms, data["coin"], data["amount"],
                               data.get("status", WITHDRAWAL_DONE))
            else:
                self._internal(time_ms, **data)

    def _tx_hash(self, *parts: object) -> str:
        return hashlib.sha256(":".join(map(str, (self.seed, *parts))).encode()).hexdigest()

    def _deposit(self, account_id: str, time_ms: int, coin: str, amount: Decimal, status: int,
                 tx_id: str | None = None, internal: bool = False) -> Transfer:
        n = len(self.transfers[account_id])
        tx_id = tx_id or self._tx_hash("dep", account_id, n)
        transfer = Transfer(account_id, "deposit", f"dep{self._tx_hash('depid', account_id, n)[:16]}", time_ms,
                            coin, amount, Decimal(0), status, tx_id, f"addr-{account_id}-{coin.lower()}", internal)
        self.transfers[account_id].append(transfer)
        if transfer.counts:
            self._balances[account_id][coin] += amount
        return transfer

    def _withdraw(self, account_id: str, time_ms: int, coin: str, amount: Decimal, status: int,
                  address: str | None = None, internal: bool = False) -> Transfer | None:
        fee = NETWORK_FEE[coin]
        counts = status not in (WITHDRAWAL_CANCELED, 3, 5)
        if counts and self._balances[account_id][coin] < amount + fee:
            return None  # the client would not have had the funds: no such withdrawal
        n = len(self.transfers[account_id])
        transfer = Transfer(account_id, "withdrawal", self._tx_hash("wdid", account_id, n)[:32], time_ms, coin,
                            amount, fee, status, self._tx_hash("wd", account_id, n),
                            address or f"ext-{self._tx_hash('addr', coin, n)[:20]}", internal)
        self.transfers[account_id].append(transfer)
        if counts:
            self._balances[account_id][coin] -= amount + fee
        return transfer

    def _internal(self, time_ms: int, src: str, dst: str, coin: str, amount: Decimal, k: int) -> None:
        sent = self._withdraw(src, time_ms, coin, amount, WITHDRAWAL_DONE, address=f"addr-{dst}-{coin.lower()}",
                              internal=True)
        if sent is None:
            return
        arrived = time_ms + (20 + 7 * k) * 60_000  # confirmations take a while
        self._deposit(dst, arrived, coin, amount, DEPOSIT_OK, tx_id=sent.tx_id, internal=True)
        self.internal_transfers.append({
            "tenant_id": self.accounts[src].tenant_id, "from_account": src, "to_account": dst, "asset": coin,
            "amount": str(amount), "fee": str(sent.fee), "txid": sent.tx_id, "withdrawal_id": sent.id,
            "withdrawn_at_ms": time_ms, "deposited_at_ms": arrived})

    def _trade(self, account_id: str, time_ms: int) -> Trade | None:
        rng = self._rng
        acc = self.accounts[account_id]
        balances = self._balances[account_id]
        market = MARKETS[int(rng.choice(len(MARKETS), p=[0.32, 0.26, 0.18, 0.12, 0.12]))]
        hour = self.prices.hour_of(time_ms)
        price = _q(self.prices.market_close(market, hour) * (1 + rng.normal(0, 0.0004)), market.tick)
        notional_usd = float(rng.lognormal(np.log(4000), 0.7))
        qty = _q(notional_usd / self.prices.coin_usd(market.base, hour), market.step, ROUND_DOWN)
        if qty <= 0 or price * qty < market.min_notional:
            return None
        buy = bool(rng.random() < 0.5)
        bnb_usd = self.prices.coin_usd("BNB", hour)
        for side_buy in (buy, not buy):
            cost = price * qty
            if side_buy and balances[market.quote] < cost:
                continue
            if not side_buy and balances[market.base] < qty:
                continue
            fee_asset = market.base if side_buy else market.quote
            fee = ((qty if side_buy else cost) * Decimal("0.001")).quantize(SATOSHI, ROUND_HALF_UP)
            if acc.fees_in_bnb:  # this client pays fees in BNB at a discount, while it has BNB to spare
                bnb_fee = _q(notional_usd * 0.00075 / bnb_usd, SATOSHI)
                bnb_after = balances["BNB"]
                if "BNB" in (market.base, market.quote):
                    bnb_after += (qty if side_buy else -qty) if market.base == "BNB" else (-cost if side_buy else cost)
                if bnb_after >= bnb_fee:
                    fee_asset, fee = "BNB", bnb_fee
            self._next_trade_id[market.symbol] += int(rng.integers(2, 40))  # other users trade too
            self._next_order_id += int(rng.integers(1, 500))
            trade = Trade(account_id, market.symbol, self._next_trade_id[market.symbol], self._next_order_id,
                          time_ms, side_buy, price, qty, fee, fee_asset, bool(rng.random() < 0.4))
            self._book_trade(trade)
            return trade
        return None

    def _book_trade(self, trade: Trade) -> None:
        market = MARKET_BY_SYMBOL[trade.symbol]
        balances = self._balances[trade.account_id]
        sign = 1 if trade.is_buyer else -1
        balances[market.base] += sign * trade.qty
        balances[market.quote] -= sign * trade.quote_qty
        balances[trade.commission_asset] -= trade.commission
        self.trades[trade.account_id].append(trade)

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
            for acc in ACCOUNTS:
                last = max([t.time_ms for t in self.trades[acc.account_id]]
                           + [t.time_ms for t in self.transfers[acc.account_id]])
                count, attempt = 0, 0
                while count < trades and attempt < trades * 20:
                    attempt += 1
                    if self._trade(acc.account_id, max(last, END_MS) + attempt * 60_000):
                        count += 1
                added[acc.account_id] = count
        return added

    # -- views ---------------------------------------------------------------------------------------------
    def computed_balances(self, account_id: str) -> dict[str, Decimal]:
        """The ledger rule applied to the account's recorded history (independently of the running totals)."""
        out: dict[str, Decimal] = defaultdict(Decimal)
        for t in self.trades[account_id]:
            market = MARKET_BY_SYMBOL[t.symbol]
            sign = 1 if t.is_buyer else -1
            out[market.base] += sign * t.qty
            out[market.quote] -= sign * t.quote_qty
            out[t.commission_asset] -= t.commission
        for tr in self.transfers[account_id]:
            if tr.counts:
                out[tr.coin] += tr.amount if tr.kind == "deposit" else -(tr.amount + tr.fee)
        return dict(out)

    def reported_balances(self, account_id: str) -> dict[str, Decimal]:
        balances = self.computed_balances(account_id)
        _tenant, account, asset, delta = DISCREPANCY
        if account_id == account:
            balances[asset] = balances.get(asset, Decimal(0)) + delta
        return balances

    def last_update_ms(self, account_id: str) -> int:
        return max([t.time_ms for t in self.trades[account_id]]
                   + [t.time_ms for t in self.transfers[account_id] if t.counts])

    def account_by_key(self, api_key: str) -> str | None:
        return next((a for a, (key, _) in self.credentials.items() if key == api_key), None)

    def published_accounts(self) -> list[dict[str, Any]]:
        return [{
            **{k: v for k, v in asdict(a).items() if k not in ("funding", "fees_in_bnb")},
            "venue": "binance", "api_key": self.credentials[a.account_id][0],
            "secret": self.credentials[a.account_id][1], "history_start": WORLD_START.isoformat(),
        } for a in ACCOUNTS]

    def truth(self) -> dict[str, Any]:
        """The world's facts, for tests: what a correct pipeline must end up with."""
        accounts = {}
        for acc in ACCOUNTS:
            transfers = self.transfers[acc.account_id]
            accounts[acc.account_id] = {
                "tenant_id": acc.tenant_id, "portfolio_id": acc.portfolio_id,
                "trades": len(self.trades[acc.account_id]),
                "deposits": sum(1 for t in transfers if t.kind == "deposit"),
                "withdrawals": sum(1 for t in transfers if t.kind == "withdrawal"),
                "computed_balances": {k: str(v) for k, v in sorted(self.computed_balances(acc.account_id).items())},
                "reported_balances": {k: str(v) for k, v in sorted(self.reported_balances(acc.account_id).items())},
                "last_update_ms": self.last_update_ms(acc.account_id),
            }
        tenant, account, asset, delta = DISCREPANCY
        return {
            "seed": self.seed, "start": WORLD_START.isoformat(), "end": WORLD_END.isoformat(),
            "accounts": accounts,
            "discrepancies": [{"tenant_id": tenant, "account_id": account, "asset": asset, "delta": str(delta)}],
            "internal_transfers": self.internal_transfers,
            "malformed": {"trades": [{"account_id": m["account_id"], "symbol": m["record"]["symbol"],
                                      "id": m["record"]["id"]} for m in self.malformed.trades],
                          "deposits": [{"account_id": m["account_id"], "id": m["record"]["id"]}
                                       for m in self.malformed.deposits]},
        }

    def fingerprint(self) -> str:
        """sha256 of everything generated: equal seeds must give equal fingerprints."""
        return hashlib.sha256(json.dumps(self.truth(), sort_keys=True, default=str).encode()
                              + json.dumps([[trade_json(t) for t in self.trades[a.account_id]] for a in ACCOUNTS],
                                           sort_keys=True).encode()).hexdigest()


# -- Binance JSON shapes (shared by the API and the malformed records) ----------------------------------------
def trade_json(t: Trade) -> dict[str, Any]:
    return {"symbol": t.symbol, "id": t.id, "orderId": t.order_id, "orderListId": -1, "price": str(t.price),
            "qty": str(t.qty), "quoteQty": str(t.quote_qty), "commission": str(t.commission),
            "commissionAsset": t.commission_asset, "time": t.time_ms, "isBuyer": t.is_buyer,
            "isMaker": t.is_maker, "isBestMatch": True}


def deposit_json(t: Transfer) -> dict[str, Any]:
    return {"id": t.id, "amount": str(t.amount), "coin": t.coin, "network": NETWORK[t.coin], "status": t.status,
            "address": t.address, "addressTag": "", "txId": t.tx_id, "insertTime": t.time_ms,
            "completeTime": t.time_ms + 120_000 if t.status == DEPOSIT_OK else None,
            "transferType": 1 if t.internal else 0, "confirmTimes": "12/12", "unlockConfirm": 0, "walletType": 0}


def withdrawal_json(t: Transfer) -> dict[str, Any]:
    applied = datetime.fromtimestamp(t.time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    record: dict[str, Any] = {"id": t.id, "amount": str(t.amount), "transactionFee": str(t.fee), "coin": t.coin,
                              "status": t.status, "address": t.address, "txId": t.tx_id, "applyTime": applied,
                              "network": NETWORK[t.coin], "transferType": 1 if t.internal else 0,
                              "info": "", "confirmNo": 12, "walletType": 0, "txKey": ""}
    if t.status == WITHDRAWAL_DONE:
        record["completeTime"] = datetime.fromtimestamp(t.time_ms / 1000 + 300, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return record
