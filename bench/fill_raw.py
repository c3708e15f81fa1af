"""A world of any size without the HTTP sync (issue 17 §1/§3): the exchange accounts' raw rows filled in-process,
then the nightly's wallets, market data and transform as `coinbook run` runs them.

    .venv/bin/python -m bench.fill_raw 50x1000000 --keep       # then: python -m bench.bench_reads --database NAME

What the sync would have written, by the sync's own code: every registered exchange account goes through
services/exchanges.py (sync_balances, sync_account_transfers, sync_account_trades: ccxt's parsers, the
normalisation, cursors, quarantine, ops.sync_log, the raw loader with its content hash and payload), with one
difference: the ccxt clients' requests are answered by the sandbox's own venue dialects in this process
(`sandbox.server.answer`, through a requests adapter) instead of over a socket, without ccxt's pacing and
without the request budgets (which stopped 74 of the account runs of the 50-tenant HTTP build). The wallets
(a few dozen calls), the market data and the transform then run through `run_pipeline` with no exchange venue,
as the nightly tier does after its account syncs. At 50 tenants / 100k trades the HTTP build took 2,027 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ccxt
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from bench.bench_scale import timed_steps
from bench.scratch import Scratch, scratch_world
from pipelines.app.runner import PipelineOutcome, run_pipeline
from pipelines.services.accounts import accounts_of
from pipelines.services.clients import ExchangeClients
from pipelines.services.exchanges import sync_account_trades, sync_account_transfers, sync_balances
from pipelines.services.venues import SEED_VENUES
from pipelines.sources.exchanges.client import Credentials
from pipelines.sources.exchanges.resilience import CallStats, harden
from sandbox.server import SandboxServer, SandboxState, answer, route
from sandbox.world import Scale
from warehouse.connection import Warehouse

# The account assets' order and dependencies (defs/exchanges/assets.py): trades after balances and transfers.
ENTITIES = (("balances", sync_balances), ("transfers", sync_account_transfers), ("trades", sync_account_trades))


class InProcessVenue(BaseAdapter):
    """A requests transport that hands each request to the sandbox's venue dialect in this process: the bytes ccxt
    gets are the ones the HTTP server would have sent (the same `answer`), minus the socket and its threads."""

    def __init__(self, state: SandboxState) -> None:
        super().__init__()
        self.state = state

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        dialect, path = route(parts.path)
        used = self.state.count(parts.path)
        status, payload, headers = answer(self.state, request.method or "GET", parts.query,
                                          dict(request.headers.items()), body, dialect, path, used, parts.path)
        response = requests.Response()
        response.status_code = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        response._content = data
        response.headers = CaseInsensitiveDict({"Content-Type": headers.pop("Content-Type", "application/json"),
                                                **headers})
        response.reason = "OK" if status < 400 else "Error"
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class InProcessClients(ExchangeClients):
    """The pipeline's hardened clients (retries, call counting, shared markets), their requests answered in-process;
    no pacing and no request budget: the sandbox has no quota to protect."""

    state: Any = None  # sandbox.server.SandboxState

    def _open(self, venue: str, mode: str, credentials: Credentials | None, stats: Any) -> ccxt.Exchange:
        exchange = super()._open(venue, mode, credentials, stats)
        exchange.session.mount("http://", InProcessVenue(self.state))
        return exchange

    def _harden(self, exchange: ccxt.Exchange, stats: CallStats | None,
                credentials: Credentials | None = None) -> ccxt.Exchange:
        # no budget at all, not the process's venue budget: a market data run earlier in the same process (the
        # nightly's, in scale_again) made that one with the venue's limit and had spent it (178 of 741 entity
        # syncs of a 1M day stopped on it)
        return harden(exchange, policy=self.policy(), budget=None, private_budget=None, stats=stats)


@dataclass
class Filled:
    accounts: int = 0
    inserted: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def fill_exchanges(wh: Warehouse, url: str, sandbox: SandboxServer, home: str,
                   venues: tuple[str, ...] = SEED_VENUES) -> Filled:
    """Every registered account of `venues` synced in-process, entity by entity as its Dagster run would (trades
    only when balances and transfers succeeded: the assets' dependencies)."""
    t0 = time.perf_counter()
    clients = InProcessClients(sandbox.url, url, home, rate_limit=False, state=sandbox.state)
    filled = Filled()
    for venue in venues:
        for account in accounts_of(wh, venue):
            filled.accounts += 1
            run_id = f"fill-{uuid.uuid4()}"  # where a Dagster run id would be: one per account, as one run each
            ok = True
            for entity, sync in ENTITIES:
                if entity == "trades" and not ok:
                    filled.failures.append(f"{account.partition_key} trades: skipped (upstream failed)")
                    continue
                try:
                    call = sync(wh, clients, account, run_id)
                except Exception as exc:  # one account's failure is reported, as its run's would be
                    ok = False
                    filled.failures.append(f"{account.partition_key} {entity}: {str(exc)[:200]}")
                    continue
                filled.inserted += call.inserted
                filled.api_calls += call.stats.calls
    filled.seconds = time.perf_counter() - t0
    return filled


def transform(scratch: Scratch) -> tuple[PipelineOutcome, dict[str, float]]:
    """The rest of the nightly tick: wallet syncs, market data, the transform (gate, dbt, lots, risk, ...); seconds
    per step (bench_scale.timed_steps)."""
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # dbt's own log
        outcome = run_pipeline(scratch.defs, scratch.instance, scratch.wh, ())
    return outcome, timed_steps(scratch.instance, outcome, lanes=1)  # the wallets, one after another


def build(scratch: Scratch) -> dict[str, float]:
    """The scratch world (bench/scratch.py: its database migrated, the sandbox at its scale, accounts registered)
    filled in-process and transformed. Returns seconds per phase, printing as it goes."""
    phases = {"world generation": scratch.generated_s}
    world = scratch.sandbox.world
    trades = sum(len(t) for t in world.trades.values())
    print(f"world: {len(world.accounts)} accounts, {trades:,} trades, generated in {scratch.generated_s:.0f} s "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)
    filled = fill_exchanges(scratch.wh, scratch.url, scratch.sandbox, scratch.tmp)
    phases["fill (exchange accounts, in-process)"] = filled.seconds
    print(f"filled {filled.accounts} exchange accounts: {filled.inserted:,} raw rows, {filled.api_calls:,} "
          f"calls answered in-process, {filled.seconds:.0f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    for failure in filled.failures:
        print(f"  fill: {failure}")
    t1 = time.perf_counter()
    outcome, steps = transform(scratch)
    phases["wallets + market data + transform"] = time.perf_counter() - t1
    for step, seconds in sorted(steps.items(), key=lambda i: -i[1])[:12]:
        phases[step] = seconds
    print(f"wallets, market data and transform: {phases['wallets + market data + transform']:.0f} s "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for failure in (f for r in outcome.runs for f in r.failures + r.failed_checks):
        print(f"  transform: {failure}")
    return phases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.fill_raw", description=__doc__.split("\n\n")[0])
    parser.add_argument("scale", nargs="?", default="demo", help="demo, 20x100000, 50x1000000")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args(argv)
    with scratch_world(malformed=True, scale=Scale.parse(args.scale), keep=args.keep) as scratch:
        print(f"building into {scratch.name} …", flush=True)
        phases = build(scratch)
        print("\n| phase | s |\n|---|---:|")
        for phase, seconds in phases.items():
            print(f"| {phase} | {seconds:.1f} |")
    if args.keep:
        print(f"\ndatabase kept: {scratch.name}")


if __name__ == "__main__":
    main()
