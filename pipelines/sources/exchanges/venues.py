"""What differs between venues, as data: ccxt options, pagination, history windows, page sizes, budgets.

The sync code (sync.py) is one code path driven by a VenueProfile; a ccxt exchange id without a profile of its
own gets the generic one (per-symbol trades by time window, deposits and withdrawals by time window), which
is how "any other ccxt exchange" works in live mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class VenueProfile:
    venue: str
    # ccxt options that keep load_markets to what we use (fewer calls, no derivatives APIs).
    options: dict[str, Any] = field(default_factory=dict)
    # Trades: 'from_id' (Binance: per symbol, by trade id) or 'window' (by time window [since, until], a full
    # page is split in two until every page is complete, so the venue's sort order does not matter).
    trade_paging: str = "window"
    trades_per_symbol: bool = True        # the venue has no "all my trades" call
    trade_page_limit: int = 500
    trade_window_ms: int = 30 * DAY_MS
    until_param: str = "until"            # how ccxt passes the window's end for this venue
    trade_params: dict[str, Any] = field(default_factory=dict)
    # Transfers: 'pair' (fetch_deposits + fetch_withdrawals), 'combined' (fetch_deposits_withdrawals),
    # 'from_id' (pair, paged by the venue's transfer id: HTX), 'per_currency' (one wallet per currency,
    # paged by the venue's cursor: Coinbase).
    transfer_paging: str = "pair"
    transfer_page_limit: int = 500
    transfer_window_ms: int = 30 * DAY_MS
    transfer_params: dict[str, Any] = field(default_factory=dict)
    # Moves between the account's own wallets on the venue (spot ↔ funding / earn / futures), which are in
    # neither deposit nor withdrawal history: the venue's transfer kinds to ask for one by one (empty: not
    # read), the ccxt method that lists them (its `type` param takes the kind), and how far back the venue
    # serves them (None: everything).
    wallet_move_types: tuple[Any, ...] = ()
    wallet_move_method: str = "fetch_transfers"
    wallet_move_param: str = "type"       # the request parameter that takes the kind
    wallet_move_page_limit: int = 100
    wallet_move_window_ms: int = 30 * DAY_MS
    wallet_move_history_limit_ms: int | None = None
    # Binance Simple Earn: its history lists and positions are read (sources/exchanges/binance_earn.py).
    simple_earn: bool = False
    # Where a first sync starts when the account says nothing, and how far back the API serves history
    # at all (None: everything). Older history is recorded in ops.history_gaps for a CSV back-fill.
    history_start_ms: int = 1_483_228_800_000  # 2017-01-01
    trade_history_limit_ms: int | None = None
    ohlcv_page_limit: int = 500
    tickers_batch: bool = True            # fetch_tickers(symbols) is one call
    # At most this many calls to the venue per rolling minute from this process, shared by all its accounts
    # (resilience.RequestBudget); kept under the venue's published limits.
    request_budget: int = 600
    # Whom the venue counts a signed (private) call against: 'ip' (the venue-wide budget above, shared by every
    # key from this machine) or 'key' (each API key has its own counter: one budget per key, of
    # `private_request_budget` calls per minute, the public calls staying on the venue-wide one).
    private_budget_scope: str = "ip"
    private_request_budget: int | None = None  # None: request_budget
    # How old a successful sync may be before the source is stale (ops.alerts).
    freshness_limit_s: int = 3 * 3600

    @property
    def key_request_budget(self) -> int:
        """One API key's own budget (calls per minute) where the venue counts signed calls per key."""
        return self.private_request_budget or self.request_budget


PROFILES: dict[str, VenueProfile] = {
    "binance": VenueProfile(
        venue="binance",
        options={"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]},
                 "defaultType": "spot"},
        trade_paging="from_id", trades_per_symbol=True, trade_page_limit=1000,
        transfer_paging="pair", transfer_page_limit=1000, transfer_window_ms=90 * DAY_MS,
        until_param="endTime", history_start_ms=1_499_990_400_000, ohlcv_page_limit=1000,
        request_budget=1200,
        # universal transfers touching the spot wallet (MAIN): funding, USDⓈ-M / COIN-M futures, cross margin;
        # Binance serves the last 6 months only, 100 rows a page, and sets no maximum window: one window covers
        # them (a full page is split), so a first sync costs one call per type, not six
        wallet_move_types=("MAIN_FUNDING", "FUNDING_MAIN", "MAIN_UMFUTURE", "UMFUTURE_MAIN", "MAIN_CMFUTURE",
                           "CMFUTURE_MAIN", "MAIN_MARGIN", "MARGIN_MAIN"),
        wallet_move_window_ms=181 * DAY_MS, wallet_move_history_limit_ms=180 * DAY_MS,
        simple_earn=True,
    ),
    "kraken": VenueProfile(
        venue="kraken",
        # Kraken sets no maximum window, only 50 rows a page: wide windows, split where they are full.
        trade_paging="window", trades_per_symbol=False, trade_page_limit=50, trade_window_ms=365 * DAY_MS,
        transfer_paging="pair", transfer_page_limit=50, transfer_window_ms=365 * DAY_MS,
        history_start_ms=1_378_771_200_000, ohlcv_page_limit=720, request_budget=240,
        # "Each API key's counter is separate" (docs.kraken.com, Spot REST rate limits); public calls per IP
        private_budget_scope="key",
        # ledger entries of type transfer (spot ↔ staking / futures), earn (allocations to and from Kraken Earn,
        # and its rewards) and staking (the older rewards), 50 a page
        wallet_move_types=("transfer", "earn", "staking"), wallet_move_method="fetch_ledger",
        wallet_move_page_limit=50,
        wallet_move_window_ms=365 * DAY_MS,
    ),
    "bitfinex": VenueProfile(
        venue="bitfinex",
        trade_paging="window", trades_per_symbol=False, trade_page_limit=2500, trade_window_ms=365 * DAY_MS,
        until_param="end", trade_params={"sort": 1},
        transfer_paging="combined", transfer_page_limit=1000, transfer_window_ms=365 * DAY_MS,
        history_start_ms=1_364_774_400_000, ohlcv_page_limit=1000, request_budget=90,
        # ledger entries of category 51 (transfer: between the exchange, margin and funding wallets), at most
        # 2500 a page, no maximum window; the ledger goes back 6 years (docs.bitfinex.com/reference/rest-auth-ledgers)
        wallet_move_types=(51,), wallet_move_method="fetch_ledger", wallet_move_param="category",
        wallet_move_page_limit=2500, wallet_move_window_ms=(6 * 365 + 1) * DAY_MS,
        wallet_move_history_limit_ms=6 * 365 * DAY_MS,
    ),
    "htx": VenueProfile(
        venue="htx",
        options={"fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}},
        trade_paging="window", trades_per_symbol=False, trade_page_limit=500, trade_window_ms=2 * DAY_MS,
        transfer_paging="from_id", transfer_page_limit=100,
        history_start_ms=1_505_865_600_000, trade_history_limit_ms=120 * DAY_MS, ohlcv_page_limit=1000,
        request_budget=600,
        # private endpoints are limited per UID ("all API keys under same UID", HTX's 2020 rate-limit notice);
        # one key per account here, so per key; public market data per IP
        private_budget_scope="key",
        # the spot account's ledger, transfers only (spot ↔ futures / swaps / margin / OTC): a window of at most
        # 10 days, within the last 180, 500 a page (GET /v2/account/ledger)
        wallet_move_types=("transfer",), wallet_move_method="fetch_ledger", wallet_move_param="transactTypes",
        wallet_move_page_limit=500, wallet_move_window_ms=10 * DAY_MS, wallet_move_history_limit_ms=180 * DAY_MS,
    ),
    "coinbase": VenueProfile(
        venue="coinbase",
        # Advanced Trade accounts (one call, every currency) rather than the v2 wallet list
        options={"fetchBalance": "v3PrivateGetBrokerageAccounts"},
        trade_paging="window", trades_per_symbol=False, trade_page_limit=250, trade_window_ms=90 * DAY_MS,
        transfer_paging="per_currency", transfer_page_limit=100,
        history_start_ms=1_420_070_400_000, ohlcv_page_limit=300, request_budget=600,
        # Advanced Trade and v2 count private calls per user / API key; public ones per IP
        private_budget_scope="key",
    ),
}


def profile(venue: str) -> VenueProfile:
    return PROFILES.get(venue) or VenueProfile(venue=venue)
