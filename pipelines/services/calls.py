"""One sync of one source, accounted for: logged in ops.sync_log, its API calls charged to the venue, a response
that never parsed kept in ops.quarantine, and any failure turned into a redacted `SourceFailed` (that account's
run fails; every other account and venue goes on). Market data of one venue failing fails nothing: prices fall
back to the other venues."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ccxt

from pipelines.constants import PUBLIC_TENANT, raw_table
from pipelines.services.credentials import redact
from pipelines.sources.chains.hd import InvalidKey
from pipelines.sources.chains.http import ChainSourceError
from pipelines.sources.exchanges.client import Credentials, ExchangeAccount
from pipelines.sources.exchanges.resilience import CallStats, GarbledResponse
from pipelines.sources.exchanges.venues import profile
from warehouse.connection import Warehouse
from warehouse.raw import quarantine_response, record_api_usage, sync_log

LOG = logging.getLogger(__name__)


class SourceFailed(Exception):
    """A source call failed for good (after retries). The message is redacted; the cause is not chained,
    so no secret can reach Dagster's event log through a traceback."""


@dataclass
class VenueCall:
    """What one sync did against one source: the counts that go to the sync log and the run's metadata."""

    stats: CallStats = field(default_factory=CallStats)
    fetched: int = 0
    inserted: int = 0
    started: float = field(default_factory=time.monotonic)
    extra: dict[str, Any] = field(default_factory=dict)
    secrets: list[Credentials] = field(default_factory=list)  # to redact from error messages
    error: str | None = None  # a market-data call that failed without failing its asset
    ignored: dict[str, int] = field(default_factory=dict)  # records fetched but kept out of the raw table, by reason

    def add(self, fetched: int, inserted: int) -> None:
        self.fetched += fetched
        self.inserted += inserted

    def ignore(self, reason: str, records: int) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + records

    def count(self, name: str, value: int) -> None:
        self.extra[name] = self.extra.get(name, 0) + value

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fetched": self.fetched, "inserted": self.inserted, "api_calls": self.stats.calls,
                               "retries": self.stats.retries,
                               "seconds": round(time.monotonic() - self.started, 3), **self.extra}
        if self.error:
            out["error"] = self.error
        if self.ignored:
            out["ignored"] = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.ignored.items()))
        return out


def budget_charged(venue: str, account_id: str) -> str:
    """The request budget an account's calls count against: its own key's where the venue counts signed calls per
    key (an account's run makes signed calls; the markets it needs are shared), else the venue-wide one."""
    if account_id != PUBLIC_TENANT and profile(venue).private_budget_scope == "key":
        return f"key:{account_id}"
    return "venue"


@contextmanager
def venue_call(wh: Warehouse, *, venue: str, entity: str, endpoint: str, tenant_id: str, account_id: str,
               run_id: str | None) -> Iterator[VenueCall]:
    """Sync-log the call; quarantine a body that never parsed; charge the API usage; and turn a failure into a
    redacted SourceFailed."""
    call = VenueCall()
    try:
        with sync_log(wh, tenant_id=tenant_id, account_id=account_id, source=venue, endpoint=endpoint,
                      run_id=run_id) as log:
            try:
                yield call
            finally:
                log.update(fetched=call.fetched, inserted=call.inserted, api_calls=call.stats.calls,
                           ignored=call.ignored)
    except GarbledResponse as exc:
        quarantine_response(wh, tenant_id=tenant_id, account_id=account_id, source=venue,
                            raw_table=raw_table(venue, entity), record_id=f"response:{endpoint}:{exc.digest[:16]}",
                            url=exc.url, status=exc.status, body=exc.body, digest=exc.digest,
                            reason=f"unparseable JSON from {venue} after {call.stats.retries} retries: {exc}",
                            run_id=run_id)
        raise SourceFailed(redact(f"{venue} {endpoint} for {account_id}: {exc} (body quarantined)",
                                  call.secrets)) from None
    except (ccxt.BaseError, OSError) as exc:
        raise SourceFailed(redact(f"{venue} {endpoint} for {account_id}: {type(exc).__name__}: {exc}",
                                  call.secrets)) from None
    finally:
        record_api_usage(wh, PUBLIC_TENANT, venue, call.stats.calls, call.stats.retries,
                         budget_charged(venue, account_id))


@contextmanager
def market_data_call(wh: Warehouse, *, venue: str, entity: str, run_id: str | None) -> Iterator[VenueCall]:
    """Like venue_call, but a venue that fails does not fail the asset: public market data of one venue must
    not hold back every model. Prices then come from the other venues, the failure stays in ops.sync_log (and
    in `call.error`) and the stale-source check sees it."""
    holder: list[VenueCall] = []
    try:
        with venue_call(wh, venue=venue, entity=entity, endpoint=entity, tenant_id=PUBLIC_TENANT,
                        account_id=PUBLIC_TENANT, run_id=run_id) as call:
            holder.append(call)
            yield call
    except SourceFailed as exc:
        LOG.warning("%s; prices fall back to the other venues", exc)
        holder[0].error = str(exc)


@contextmanager
def chain_call(wh: Warehouse, account: ExchangeAccount, endpoint: str, run_id: str | None) -> Iterator[VenueCall]:
    """Sync-log a wallet's call; a failing chain API fails this account's run only, with a clear reason."""
    call = VenueCall()
    try:
        with sync_log(wh, tenant_id=account.tenant_id, account_id=account.account_id, source=account.venue,
                      endpoint=endpoint, run_id=run_id) as log:
            try:
                yield call
            finally:
                log.update(fetched=call.fetched, inserted=call.inserted, api_calls=call.stats.calls)
    except (ChainSourceError, InvalidKey, ValueError, KeyError) as exc:
        raise SourceFailed(f"{account.venue} {endpoint} for {account.account_id}: {type(exc).__name__}: {exc}") \
            from None
