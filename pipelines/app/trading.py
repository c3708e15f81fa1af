"""`coinbook trading`: rebalancing targets, proposals and the managers' decisions (issue 18 §1)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from pipelines.app.console import console, err_console
from pipelines.app.officer import login_and_password
from pipelines.app.ready import ensure_warehouse
from pipelines.defs.resources import build_resources
from pipelines.domain.rebalancing import Band
from pipelines.services import trading
from pipelines.settings import get_settings
from warehouse.connection import Warehouse

app = typer.Typer(help="Rebalancing: targets per portfolio, proposals, approvals. Nothing is sent unapproved.",
                  no_args_is_help=True)
targets_app = typer.Typer(help="Target weights and bands per portfolio.", no_args_is_help=True)
app.add_typer(targets_app, name="targets")
arbitrage_app = typer.Typer(help="Cross-venue arbitrage detection: the alert threshold per tenant.",
                            no_args_is_help=True)
app.add_typer(arbitrage_app, name="arbitrage")
HUNDRED = Decimal(100)


def _wh() -> Warehouse:
    return Warehouse(ensure_warehouse(get_settings()))


def _fail(message: str) -> typer.Exit:
    err_console.print(escape(message))
    return typer.Exit(1)


def _manager(login: str | None, what: str) -> tuple[str, str]:
    """The login and password of the person acting (`what` is theirs to do: the warehouse checks they manage the
    tenant); a clear refusal when none is given."""
    person = login_and_password(login)
    if person is None:
        raise _fail(f"{what} by a person: --as LOGIN (or COINBOOK_LOGIN), one of the tenant's managers "
                    "(coinbook users add NAME --role manager --tenant T)")
    return person


def _percent(text: Any, what: str) -> Decimal:
    try:
        value = Decimal(str(text).strip().rstrip("%"))
    except InvalidOperation:
        raise _fail(f"{what}: not a percentage: {text}") from None
    return value / HUNDRED


def parse_band(text: str, tolerance: Decimal) -> Band:
    """`BTC=40` (± the default tolerance), `BTC=40:5` (± 5), `BTC=40:35-45` (an explicit band); in percent."""
    asset, sep, spec = text.partition("=")
    if not sep or not asset.strip():
        raise _fail(f"--band {text}: write ASSET=TARGET[:TOLERANCE | :LOWER-UPPER] in percent, e.g. BTC=40:35-45")
    target_text, _, band_text = spec.partition(":")
    target = _percent(target_text, f"--band {text}")
    try:
        if "-" in band_text:
            low, high = band_text.split("-", 1)
            return Band(asset.strip().upper(), target, _percent(low, text), _percent(high, text))
        width = _percent(band_text, text) if band_text else tolerance
        return Band.around(asset.strip().upper(), target, width)
    except ValueError as exc:
        raise _fail(f"--band {text}: {exc}") from None


def _bands_from_yaml(path: Path, tolerance: Decimal) -> tuple[dict[str, Any], list[Band]]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("bands"), dict):
        raise _fail(f"{path}: expected a mapping with 'bands' (ASSET: {{target, tolerance | lower, upper}})")
    bands = []
    for asset, spec in doc["bands"].items():
        spec = spec if isinstance(spec, dict) else {"target": spec}
        if "lower" in spec or "upper" in spec:
            text = f"{asset}={spec.get('target')}:{spec.get('lower')}-{spec.get('upper')}"
        else:
            text = f"{asset}={spec.get('target')}:{spec.get('tolerance', tolerance * HUNDRED)}"
        bands.append(parse_band(text, tolerance))
    return doc, bands


@targets_app.command("set")
def targets_set(
    portfolio: str = typer.Argument(None, help="The portfolio (or 'portfolio:' in --file)."),
    tenant: str = typer.Option(None, "--tenant", help="The tenant (or 'tenant:' in --file)."),
    band: list[str] = typer.Option([], "--band", help="ASSET=TARGET[:TOLERANCE | :LOWER-UPPER], percent; repeat."),
    cash: str = typer.Option(None, "--cash", help="The cash asset that takes what is left (default USDT)."),
    tolerance: str = typer.Option("5", "--tolerance", help="Default ± band in percentage points."),
    min_trade: str = typer.Option(None, "--min-trade", help="Smallest order worth placing, in the cash asset."),
    venue: list[str] = typer.Option([], "--venue", help="Venues orders may go to (default: all); repeat."),
    file: Path = typer.Option(None, "--file", help="A YAML file: tenant, portfolio, cash, min_trade, venues, bands."),
    login: str = typer.Option(None, "--as", help="Your own manager login (default: $COINBOOK_LOGIN); its password "
                                                "from $COINBOOK_LOGIN_PASSWORD, else asked."),
) -> None:
    """Set a portfolio's targets, on your own manager login (all its bands at once; the previous targets stay in the
    history)."""
    width = _percent(tolerance, "--tolerance")
    doc: dict[str, Any] = {}
    bands = [parse_band(b, width) for b in band]
    if file is not None:
        doc, from_file = _bands_from_yaml(file, width)
        bands += from_file
    tenant = tenant or doc.get("tenant")
    portfolio = portfolio or doc.get("portfolio")
    if not tenant or not portfolio or not bands:
        raise _fail("give the tenant, the portfolio and at least one --band (or a --file with them)")
    cash_asset = (cash or doc.get("cash") or "USDT").upper()
    minimum = Decimal(str(min_trade or doc.get("min_trade") or 0))
    venues = list(venue) or list(doc.get("venues") or [])
    person = _manager(login, "targets are set")
    try:
        set_at = trading.set_targets(_wh(), tenant, portfolio, bands, cash_asset, minimum, venues, *person)
    except (ValueError, PermissionError) as exc:
        raise _fail(f"refused: {exc}") from None
    console.print(f"{escape(tenant)}/{escape(portfolio)}: {len(bands)} bands, cash {cash_asset}, set at "
                  f"{set_at:%Y-%m-%d %H:%M:%S %Z} by {escape(person[0])}")


@targets_app.command("show")
def targets_show(tenant: str = typer.Option(None, "--tenant")) -> None:
    """The targets in force."""
    with _wh().connect() as conn:
        rows = trading.current_targets(conn, tenant)
    table = Table("tenant", "portfolio", "asset", "target", "band", "cash", "min trade", "venues", "set at")
    for pt in rows:
        t = pt.targets
        for b in t.bands:
            table.add_row(pt.tenant_id, t.portfolio_id, b.asset, f"{b.target:.2%}", f"{b.lower:.2%}–{b.upper:.2%}",
                          t.cash_asset, str(t.min_trade), ", ".join(t.venues) or "all", f"{pt.set_at:%Y-%m-%d %H:%M}")
    console.print(table if rows else "no targets set (coinbook trading targets set …)")


@app.command("propose")
def propose(tenant: str = typer.Option(None, "--tenant")) -> None:
    """Compute proposals now (the nightly run does it too, after positions and risk)."""
    settings = get_settings()
    clients = build_resources(settings)["exchanges"].get()
    recorded, problems = trading.propose_all(_wh(), clients, datetime.now(UTC), tenant)
    for p in problems:
        err_console.print(f"[yellow]{escape(p)}[/yellow]")
    _print_proposals(recorded, "no new proposal: every portfolio is inside its bands, or the proposal is recorded")


def _print_proposals(rows: list[trading.ProposalRow], empty: str) -> None:
    if not rows:
        console.print(empty)
        return
    table = Table("proposal", "tenant", "portfolio", "state", "orders", "value", "expected cost", "VaR 99 % 1d",
                  "blocked")
    for p in rows:
        var = "—" if p.var_before_usd is None else f"{p.var_before_usd:,.0f} → {p.var_after_usd or 0:,.0f} USD"
        table.add_row(p.proposal_id, p.tenant_id, p.portfolio_id, p.state, str(p.orders),
                      f"{p.value:,.2f} {p.cash_asset}", f"{p.expected_cost:,.2f}", var,
                      escape(p.block_reason or "") if p.blocked else "")
    console.print(table)


@app.command("proposals")
def list_proposals(tenant: str = typer.Option(None, "--tenant")) -> None:
    """Every proposal with its state."""
    _print_proposals(trading.proposals(_wh(), tenant), "no proposals")


@app.command("show")
def show(proposal_id: str = typer.Argument(...)) -> None:
    """A proposal's drift, orders and history."""
    wh = _wh()
    detail = trading.proposal_detail(wh, proposal_id)
    if detail is None:
        raise _fail(f"no proposal {proposal_id}")
    head, drifts, orders, events = detail
    _print_proposals([head], "")
    drift = Table("asset", "weight", "target", "band", "outside")
    for d in drifts:
        band = "—" if d["target"] is None else f"{Decimal(d['lower']):.2%}–{Decimal(d['upper']):.2%}"
        target = "—" if d["target"] is None else f"{Decimal(d['target']):.2%}"
        drift.add_row(d["asset"], f"{Decimal(d['weight']):.2%}", target, band, "yes" if d["outside"] else "")
    console.print(drift)
    table = Table("#", "account", "symbol", "side", "amount", "limit", "notional", "fee", "client order id")
    for o in orders:
        table.add_row(*(str(v) for v in o))
    console.print(table)
    history = Table("state", "by", "at", "reason")
    for e in events:
        history.add_row(e[0], e[1], f"{e[2]:%Y-%m-%d %H:%M:%S}", escape(e[3] or ""))
    console.print(history)


def _decide(proposal_id: str, decision: str, login: str | None, reason: str | None) -> None:
    name, password = _manager(login, "a decision is made")
    try:
        row = trading.decide(_wh(), proposal_id, decision, name, password, reason)
    except (ValueError, PermissionError) as exc:
        raise _fail(f"refused: {exc}") from None
    console.print(f"{row.proposal_id}: {row.state} by {escape(name)}")


AS_HELP = "Your own manager login (default: $COINBOOK_LOGIN); its password from $COINBOOK_LOGIN_PASSWORD, else asked."


@app.command("approve")
def approve(proposal_id: str = typer.Argument(...),
            login: str = typer.Option(None, "--as", help=AS_HELP)) -> None:
    """Approve a proposal, on your own login (a blocked proposal cannot be approved)."""
    _decide(proposal_id, "approved", login, None)


@app.command("reject")
def reject(proposal_id: str = typer.Argument(...),
           login: str = typer.Option(None, "--as", help=AS_HELP),
           reason: str = typer.Option(None, "--reason")) -> None:
    """Reject a proposal, on your own login."""
    _decide(proposal_id, "rejected", login, reason)


@app.command("send")
def send(proposal_id: str = typer.Argument(...),
         slippage_bps: str = typer.Option("50", "--slippage-bps",
                                          help="How far past the proposal's limit an order may fill, in bps."),
         polls: int = typer.Option(5, "--polls", help="How many times each open order is looked at again.")) -> None:
    """Send an approved proposal's orders (accounts with `trading: enabled` only); again to follow them up. A retry
    never places an order twice: each order is looked up by its client order id first."""
    from pipelines.services import execution  # ccxt's order paths: only this command needs them

    settings = get_settings()
    clients = build_resources(settings)["exchanges"].get()
    try:
        done = execution.send(_wh(), clients, proposal_id, slippage_bps=Decimal(slippage_bps), polls=polls)
    except (execution.SendRefused, InvalidOperation) as exc:
        raise _fail(f"refused: {exc}") from None
    p = done.proposal
    console.print(f"{p.proposal_id}: {p.state} ({done.placed} order(s) placed, {done.found} already at the venue)")
    table = Table("#", "account", "venue order", "status", "filled", "average", "fee", "reason")
    for index, r in sorted(done.reports.items()):
        fee = "" if r["fee"] is None else f"{r['fee']} {r['fee_asset'] or ''}"
        table.add_row(str(index), r["account_id"], r["venue_order_id"] or "—", r["status"], str(r["filled"]),
                      str(r["average_price"] or "—"), fee, escape(r["reason"] or ""))
    console.print(table)
    if p.state == "failed":
        raise typer.Exit(1)


@arbitrage_app.command("threshold")
def arbitrage_threshold(
    tenant: str = typer.Option(..., "--tenant", help="The tenant."),
    bps: str = typer.Option(..., "--bps", help="Alert above this edge, in basis points net of fees and transfers."),
    login: str = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Set a tenant's arbitrage alert threshold, on your own manager login (the previous one stays in the history)."""
    try:
        value = Decimal(bps)
    except InvalidOperation:
        raise _fail(f"--bps {bps}: not a number") from None
    person = _manager(login, "the threshold is set")
    try:
        set_at = trading.set_arbitrage_threshold(_wh(), tenant, value, *person)
    except (ValueError, PermissionError) as exc:
        raise _fail(f"refused: {exc}") from None
    console.print(f"{escape(tenant)}: arbitrage alerts above {value} bps, set at {set_at:%Y-%m-%d %H:%M:%S %Z} by "
                  f"{escape(person[0])}")


@arbitrage_app.command("show")
def arbitrage_show(tenant: str = typer.Option(None, "--tenant")) -> None:
    """The arbitrage alert threshold in force per tenant."""
    rows = trading.arbitrage_thresholds(_wh(), tenant)
    table = Table("tenant", "alert above (bps)", "set at", "by")
    for t, value, at, by in rows:
        table.add_row(t, str(value), "default" if at is None else f"{at:%Y-%m-%d %H:%M:%S}", by or "")
    console.print(table if rows else "no tenants")
