"""Schedules: when everything runs. The tier table (tiers.py) → the account fan-out schedules and the plain ones
(schedules.py), the transform jobs (jobs.py), and the sensors that follow a tick's syncs and back-fill new accounts
(sensors.py)."""

import dagster as dg

from pipelines.defs.prices.jobs import MARKET_JOBS
from pipelines.defs.schedules.jobs import transform_jobs
from pipelines.defs.schedules.schedules import build_schedules
from pipelines.defs.schedules.sensors import new_account_sensor, transform_follow_up
from pipelines.defs.schedules.tiers import BACKFILL, TIERS
from pipelines.services.accounts import WALLET_SOURCES
from pipelines.services.venues import all_venues
from pipelines.settings import CoinbookSettings


def build_defs(settings: CoinbookSettings) -> dg.Definitions:
    venues, wallets = all_venues(settings.venues), tuple(WALLET_SOURCES)
    sync_jobs = sorted({t.sync_job.format(source=s) for t in (*TIERS, BACKFILL)
                        for s in (*venues, *(wallets if t.wallets else ()))})
    transforms = transform_jobs(settings)
    return dg.Definitions(
        jobs=transforms,
        schedules=build_schedules(venues, wallets),
        sensors=[transform_follow_up(sync_jobs, [*transforms, *MARKET_JOBS.values()]),
                 *(new_account_sensor(s) for s in (*venues, *wallets))],
    )
