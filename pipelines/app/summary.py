"""Printing the summary (pipelines/services/summary.py reads it): rich tables, nothing written."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from pipelines.services.summary import Summary


def _qty(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:,.8f}".rstrip("0")


def _usd(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _table(title: str, columns: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


def _positions(summary: Summary, console: Console) -> None:
    table = _table("Positions by tenant and asset (ledger-computed, priced in USD)",
                   [("tenant", "left"), ("asset", "left"), ("quantity", "right"), ("price (USD)", "right"),
                    ("value (USD)", "right"), ("reconciliation", "center")])
    last_tenant = None
    for line in summary.positions:
        if last_tenant is not None and line.tenant_id != last_tenant:
            table.add_section()
        last_tenant = line.tenant_id
        status = {"ok": "[green]ok[/]", "break": "[bold red]BREAK[/]"}.get(line.reconciliation, line.reconciliation)
        table.add_row(line.tenant_id, line.asset, _qty(line.quantity), _usd(line.price_usd), _usd(line.value_usd),
                      status)
    console.print(table)


def _where_it_sits(summary: Summary, console: Console) -> None:
    table = _table("Where it sits: exchanges, wallets and DeFi side by side",
                   [("tenant", "left"), ("account", "left"), ("kind", "left"), ("venue / chain", "left"),
                    ("value (USD)", "right"), ("DeFi", "left")])
    last_tenant = None
    for tenant, account, kind, venue, value, health, protocols in summary.accounts:
        if last_tenant is not None and tenant != last_tenant:
            table.add_section()
        last_tenant = tenant
        defi = (protocols or "") + (f" (health factor {health:.2f})" if health is not None else "")
        table.add_row(tenant, account, kind, venue or "", _usd(value), defi)
    console.print(table)


def _transfers(summary: Summary, console: Console) -> None:
    if not summary.transfers:
        return
    table = _table("Internal transfers (own accounts; not disposals)",
                   [("tenant", "left"), ("matched", "right"), ("matched by", "left"),
                    ("to review (marts.transfer_review)", "right")])
    for tenant, matched, methods, open_ in summary.transfers:
        table.add_row(tenant, str(matched), methods, str(open_))
    console.print(table)


def _totals(summary: Summary, console: Console) -> None:
    totals: dict[str, Decimal] = {}
    for line in summary.positions:
        totals[line.tenant_id] = totals.get(line.tenant_id, Decimal(0)) + (line.value_usd or Decimal(0))
    table = _table("Portfolio value by tenant", [("tenant", "left"), ("value (USD)", "right")])
    for tenant, value in totals.items():
        table.add_row(tenant, _usd(value))
    console.print(table)


def _pnl(summary: Summary, console: Console) -> None:
    if not summary.pnl:
        return
    table = _table("PnL by tenant (tax lots; realized per tax year, unrealized at the latest prices)",
                   [("tenant (method)", "left"), *((name, "right") for name in (
                       "tax year", "disposals", "realized", "short term", "long term", "unrealized", "missing basis"))])
    last = None
    for tenant, year, disposals, gain, short, long_, _cost, _value, unrealized, missing, methods in summary.pnl:
        first = tenant != last
        if last is not None and first:
            table.add_section()
        last = tenant
        table.add_row(f"{tenant} ({methods})" if first else "", str(year or "—"), str(disposals or 0),
                      _usd(gain), _usd(short), _usd(long_), _usd(unrealized) if first else "",  # type: ignore[arg-type]
                      (f"[yellow]{missing}[/]" if missing else "0") if first else "")
    console.print(table)
    if any(row[9] for row in summary.pnl):
        console.print("  Missing basis is never counted as zero cost: see marts.missing_cost_basis (e.g. enter "
                      "the cost of coins deposited from outside in ops.cost_basis).")


def _risk(summary: Summary, console: Console) -> None:
    if not summary.risk:
        return
    table = _table("Risk by portfolio (1-day 99 % VaR in USD; correlations of the last 30 days)",
                   [("portfolio", "left"), *((name, "right") for name in ("value", "VaR hist.", "VaR param.",
                                                                          "VaR EWMA")),
                    ("top correlations", "left"), ("breaker", "left"), ("open alerts", "left")])
    for tenant, portfolio, value, hist, param, ewma, pairs, breaker, alerts, kinds in summary.risk:
        table.add_row(f"{tenant}/{portfolio}", _usd(value), _usd(hist), _usd(param),  # type: ignore[arg-type]
                      _usd(ewma), str(pairs), "[bold red]OPEN[/]" if breaker else "closed",  # type: ignore[arg-type]
                      f"[yellow]{alerts}[/] ({kinds})" if alerts else "0")
    console.print(table)


def _breaks(summary: Summary, console: Console) -> None:
    if not summary.breaks:
        console.print("[green]Reconciliation: every account and asset matches its ledger.[/]")
        return
    table = _table("Reconciliation breaks (exchange-reported vs ledger-computed)",
                   [("tenant", "left"), ("account", "left"), ("asset", "left"), ("reported", "right"),
                    ("computed", "right"), ("difference", "right")])
    for tenant, account, asset, reported, computed, diff in summary.breaks:
        table.add_row(tenant, account, asset, _qty(reported), _qty(computed), f"[red]{_qty(diff)}[/]")
    console.print(table)


def _quarantine(summary: Summary, console: Console) -> None:
    if not summary.quarantine:
        return
    table = _table("Quarantined by the quality gate (kept out of the models)",
                   [("raw table", "left"), ("expectation", "left"), ("rows", "right"), ("example reason", "left")])
    for raw_table, check, count, reason in summary.quarantine:
        table.add_row(raw_table, check, str(count), reason)
    console.print(table)


def _set_aside(summary: Summary, console: Console) -> None:
    if not summary.set_aside:
        return
    table = _table("Ignored: derivatives (kept in raw.exchange_derivatives, not booked: Coinbook's books are spot)",
                   [("tenant", "left"), ("account", "left"), ("records", "left"), ("market", "left"),
                    ("count", "right")])
    for tenant, account, entity, market, count in summary.set_aside:
        table.add_row(tenant, account, "fills" if entity == "trades" else entity, market, str(count))
    console.print(table)


def _currency(summary: Summary, console: Console) -> None:
    """First, whether the figures below are current: a stale transform, accounts held back by the gate."""
    if summary.stale:
        built, newest, sources = (summary.stale[0].astimezone(UTC), summary.stale[1].astimezone(UTC),
                                  summary.stale[2])
        console.print(f"[bold yellow]STALE:[/] these figures were built at {built:%Y-%m-%d %H:%M:%S} UTC; "
                      f"{sources} source(s) synced new data since (newest {newest:%Y-%m-%d %H:%M:%S} UTC) that is "
                      "not in them — the transform since did not complete (see the run's failures and its log).")
    if not summary.holds:
        return
    table = _table("Held back by the quality gate: these accounts' figures are as of their last good data",
                   [("tenant", "left"), ("account", "left"), ("held since", "left"), ("figures as of", "left"),
                    ("why", "left")])
    for tenant, account, since, through, why in summary.holds:
        table.add_row(tenant, account, f"{since:%Y-%m-%d %H:%M}",
                      f"{through:%Y-%m-%d %H:%M}" if through else "[red]none of its data[/]", why)
    console.print(table)
    console.print("  Every other account is current. The rows and reasons are in ops.quarantine; the hold lifts "
                  "when the source's share of bad rows is back under the limit (COINBOOK_MAX_QUARANTINE_RATIO).")


SECTIONS = (_currency, _positions, _where_it_sits, _transfers, _totals, _pnl, _risk, _breaks, _quarantine,
            _set_aside)


def render_summary(summary: Summary, console: Console) -> None:
    if not summary.built:
        _currency(summary, console)
        console.print("[yellow]No positions yet: the models have not been built (the transform run did not "
                      "complete; see the failures above and the run log).[/]")
        return
    for section in SECTIONS:
        section(summary, console)


def render_alerts(alerts: list[tuple[str, str, str, str]], console: Console) -> None:
    """The open alerts (ops.alerts), so a venue that failed is not silently old."""
    if not alerts:
        console.print("\n[green]no open alerts[/]: every source is within its freshness limit")
        return
    console.print(f"\n[bold red]{len(alerts)} open alert(s)[/] (ops.alerts):")
    for _tenant, severity, _kind, message in alerts:
        console.print(f"  [red]{severity}[/] {message}")
