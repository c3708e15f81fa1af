"""When things run, as data: the tiers (one row each: cron → the per-account sync job it fans out → the market-data
run → the transform run after it) and the plain schedules. schedules.py reads them in one loop, the follow-up
sensor and `coinbook run` follow the same rows, and the README's schedule table is checked against them
(tests/unit/test_code_location.py), so the docs cannot drift from what is defined."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    name: str
    cron: str                   # UTC
    sync_job: str               # per account partition; {source} = an exchange venue or an on-chain source
    wallets: bool               # whether wallets and DeFi accounts are synced in this tier (exchanges always are)
    market_job: str             # the market data the transform needs, fetched in a run of its own just before it
    transform_job: str          # the gates, the models and the Python steps between them
    description: str


@dataclass(frozen=True)
class PlainSchedule:
    name: str
    cron: str
    job: str
    description: str


TIERS = (
    Tier("fast", "*/5 * * * *", "{source}_balances_sync", False, "tickers_refresh", "positions_refresh",
         "Every 5 minutes: the balances of every {source} account (fast tier)."),
    Tier("nightly", "0 2 * * *", "{source}_account_sync", True, "market_data", "nightly_reconciliation",
         "Nightly: sync every {source} account, then full reconciliation."),
)
# A new account's first sync (the new-account sensors) is followed like a nightly tick.
BACKFILL = Tier("backfill", "", "{source}_account_sync", True, "market_data", "nightly_reconciliation",
                "A new account's back-fill.")
PLAIN_SCHEDULES = (
    PlainSchedule("market_data_hourly", "5 * * * *", "market_data",
                  "Every hour: tickers and new 1m/1d candles of every venue."),
)


def tier(name: str) -> Tier:
    return {t.name: t for t in (*TIERS, BACKFILL)}[name]


def market_job_of(transform_job: str) -> str | None:
    """The market-data job that runs just before a transform job (None: it has none)."""
    return next((t.market_job for t in TIERS if t.transform_job == transform_job), None)
