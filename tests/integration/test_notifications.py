"""Stale prices into ops.alerts and every alert out through apprise, against the real PostgreSQL and a local HTTP
endpoint that records what the webhooks receive (apprise's json:// service POSTs there, as it would to any
webhook).

The test owns a database of its own: it stands in for the two dbt relations the stale-price check reads —
marts.positions and intermediate.int_prices_latest, with their real column names — so it can make one held
asset's price lag the market and then catch up, which the sandbox cannot do (its tickers are fixed at its
world's end on every venue). Everything else is the real code: the SQL, ops.alerts, the notifications table,
apprise's HTTP calls.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pipelines.services.alerts import evaluate_price_freshness
from pipelines.services.notify import MAX_ATTEMPTS, NotifyReport, NotifySettings, notify_alerts
from tests.recording_server import Recorded, RecordingServer
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration

WORLD_END = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)

STAND_INS = """
create schema if not exists marts;
create schema if not exists intermediate;
create table marts.positions (tenant_id text, portfolio_id text, account_id text, asset text, priced_as text,
                              quantity numeric(38, 18), value_usd numeric(38, 18));
create table intermediate.int_prices_latest (asset text primary key, price_usd numeric(38, 18), price_source text,
                                             priced_at timestamptz, price_venues text, priced_at_stamped_by text);
"""


@pytest.fixture()
def wh(cluster: Any) -> Iterator[Warehouse]:
    name = f"coinbook_notify_{uuid.uuid4().hex[:10]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STAND_INS)
    yield Warehouse(url)
    cluster.drop_database(name)


@pytest.fixture()
def hooks() -> Iterator[tuple[str, list[Recorded]]]:
    """A webhook receiver: records every request; answers 500 under /broken."""
    with RecordingServer(status=lambda path: 500 if path.startswith("/broken") else 200) as server:
        yield server.host, server.received


def notify(wh: Warehouse, env: dict[str, str]) -> NotifyReport:
    """Send as the notifier resource does: the global URLs (COINBOOK_NOTIFY_URLS), tenant targets' env: refs
    resolved in `env`."""
    return notify_alerts(wh, NotifySettings(env.get("COINBOOK_NOTIFY_URLS")), env=env)


def evaluate(wh: Warehouse, env: dict[str, str]) -> tuple[tuple[int, int], str]:
    counts = evaluate_price_freshness(wh, datetime.now(UTC))
    return counts, str(notify(wh, env))


def test_a_lagging_price_raises_notifies_once_and_resolves(wh: Warehouse, hooks: Any) -> None:
    host, received = hooks
    with wh.connect() as conn, conn.transaction():
        conn.execute(
            """insert into marts.positions values
               ('acme', 'main', 'acme-binance-main', 'BTC', null, 1.5, 95000),
               ('acme', 'main', 'acme-binance-main', 'BNB', null, 40, 24000),
               ('acme', 'main', 'acme-eth', 'STETH', 'ETH', 3, 7500),
               ('acme', 'main', 'acme-binance-main', 'USDT', null, 1000, 1000),
               ('bluefin', 'core', 'bluefin-binance', 'BNB', null, 10, 6000),
               ('bluefin', 'core', 'bluefin-binance', 'SOL', null, 0, 0)""")
        conn.execute(
            """insert into intermediate.int_prices_latest values
               ('BTC', 63000, 'ticker', %(end)s, 'binance,kraken', 'venue'),
               -- stamped when fetched (Kraken gives no time): it does not move the market clock to the wall clock
               ('ETH', 2500, 'ticker', now(), 'kraken', 'fetch'),
               ('BNB', 600, 'ticker', %(end)s - interval '3 hours', 'binance', 'venue'),
               ('SOL', 150, 'ticker', %(end)s - interval '9 hours', 'binance', 'venue'),  -- stale, but not held
               ('USDT', 1, 'usd_peg', null, null, null)""", {"end": WORLD_END})
        conn.execute("insert into ops.risk_limits (tenant_id, stale_price_minutes) values ('bluefin', 240)")
        conn.execute(
            """insert into ops.notification_targets (tenant_id, target_id, url, min_severity, kinds) values
               ('acme', 'risk-desk', 'env:ACME_DESK_HOOK', 'warning', '{stale_price}'),
               ('acme', 'unset', 'env:NOT_SET_ANYWHERE', 'info', null),
               ('acme', 'broken', %s, 'info', null),
               ('acme', 'garbled', 'nonsense://whatever', 'info', null),
               ('bluefin', 'ops', %s, 'info', null)""",
            (f"json://{host}/broken", f"json://{host}/bluefin"))
    env = {"COINBOOK_NOTIFY_URLS": f"json://ops:s3cretpass@{host}/global", "ACME_DESK_HOOK": f"json://{host}/acme"}

    # BNB lags the market clock (BTC's price) by 3 h: over acme's default 60 min, under bluefin's 240 min.
    (opened, resolved), report = evaluate(wh, env)
    assert (opened, resolved) == (1, 0)
    with wh.connect() as conn:
        [(tenant, subject, severity, details)] = conn.execute(
            "select tenant_id, subject, severity, details from ops.alerts where kind = 'stale_price' "
            "and resolved_at is null").fetchall()
    assert (tenant, subject, severity) == ("acme", "BNB", "warning")
    assert details["age_s"] == 3 * 3600 and details["market_clock"] == WORLD_END.isoformat()

    assert report == "2 sent, 2 failed"
    paths = sorted(r.path for r in received)
    assert paths == ["/acme", "/broken", "/global"]  # the garbled URL never left the process; bluefin: no alert
    sent = {r.path: json.loads(r.body) for r in received}
    assert sent["/global"]["title"] == "[Coinbook WARNING] acme: stale price — BNB"
    assert "BNB price is 3.0 h behind the market" in sent["/global"]["message"]
    assert "tenant: acme" in sent["/global"]["message"] and sent["/global"]["type"] == "warning"
    assert next(r.authorization for r in received if r.path == "/global").startswith("Basic ")

    with wh.connect() as conn:
        rows = conn.execute("select target, status, error from ops.alert_notifications order by target").fetchall()
    assert [(t.split("?")[0], s) for t, s, _ in rows] == [
        (f"json://{host}/acme", "sent"), (f"json://{host}/broken", "failed"),
        (f"json://ops:****@{host}/global", "sent"), ("nonsense://(unreadable URL)", "failed")]
    assert all("s3cretpass" not in (t + (e or "")) for t, _, e in rows)
    assert all(e for _, s, e in rows if s == "failed")

    # Re-runs: what was sent is not sent again; the failures are retried until the cap, then given up.
    for _ in range(MAX_ATTEMPTS + 1):
        assert evaluate(wh, env)[0] == (1, 0)
    assert [r.path for r in received].count("/broken") == MAX_ATTEMPTS
    assert [r.path for r in received].count("/global") == 1 and [r.path for r in received].count("/acme") == 1
    with wh.connect() as conn:
        assert conn.execute("select status, count(*) from ops.alert_notifications group by 1 order by 1"
                            ).fetchall() == [("failed", 2 * MAX_ATTEMPTS), ("sent", 2)]

    # BNB's price catches up: the alert resolves, and whoever was told of it hears so (once).
    with wh.connect() as conn, conn.transaction():
        conn.execute("update intermediate.int_prices_latest set priced_at = %s where asset = 'BNB'",
                     (WORLD_END - timedelta(minutes=2),))
    before = len(received)
    assert evaluate(wh, env) == ((0, 1), "2 sent, 0 failed")
    resolutions = received[before:]
    assert sorted(r.path for r in resolutions) == ["/acme", "/global"]
    bodies = [json.loads(r.body) for r in resolutions]
    assert all(body["title"].startswith("[Coinbook RESOLVED] acme: stale price — BNB") and body["type"] == "success"
               for body in bodies)
    assert evaluate(wh, env) == ((0, 0), "0 sent, 0 failed")
    assert len(received) == before + 2


def test_notifications_never_fail_the_caller(wh: Warehouse, hooks: Any) -> None:
    """An unreachable target, and even a warehouse without the notification tables: logged, reported, no raise."""
    with wh.connect() as conn, conn.transaction():
        conn.execute("insert into ops.alerts (tenant_id, kind, severity, subject, message) "
                     "values ('acme', 'var_limit', 'critical', 'main:var_99_1d', 'VaR over the limit')")
    env = {"COINBOOK_NOTIFY_URLS": "json://127.0.0.1:1/nobody-listens"}
    assert str(notify(wh, env)) == "0 sent, 1 failed"
    with wh.connect() as conn:
        [(status, error)] = conn.execute("select status, error from ops.alert_notifications").fetchall()
    assert status == "failed" and "127.0.0.1" in error

    with wh.connect() as conn, conn.transaction():
        conn.execute("drop table ops.alert_notifications")
    report = notify(wh, env)
    assert report.error is not None and "alert_notifications" in report.error


@pytest.fixture()
def smtp_sink() -> Iterator[tuple[int, list[str]]]:
    """A minimal SMTP server on loopback that keeps every message it is given (no TLS, no auth)."""
    import socketserver

    messages: list[str] = []

    class Session(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            def say(text: str) -> None:
                self.wfile.write((text + "\r\n").encode())

            say("220 sink ESMTP")
            lines: list[str] | None = None  # inside DATA
            while raw := self.rfile.readline():
                text = raw.decode(errors="replace").rstrip("\r\n")
                if lines is not None:
                    if text == ".":
                        messages.append("\n".join(lines))
                        lines = None
                        say("250 queued")
                    else:
                        lines.append(text[1:] if text.startswith("..") else text)
                    continue
                verb = text.split(" ", 1)[0].upper()
                if verb == "DATA":
                    lines = []
                    say("354 end with <CRLF>.<CRLF>")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], messages
    server.shutdown()
    server.server_close()


def test_an_alert_goes_out_by_email(wh: Warehouse, smtp_sink: tuple[int, list[str]]) -> None:
    """E-mail through apprise's SMTP client to a local server: the alert's title is the subject, its message
    and tenant are in the body; sent once."""
    port, messages = smtp_sink
    with wh.connect() as conn, conn.transaction():
        conn.execute("insert into ops.alerts (tenant_id, kind, severity, subject, message) values "
                     "('acme', 'var_limit', 'critical', 'main:var_99_1d', '1-day 99 % VaR 88,068 USD is 12.0 %')")
    env = {"COINBOOK_NOTIFY_URLS": f"mailto://127.0.0.1:{port}?from=coinbook@example.org&to=risk@example.org"
                                   "&mode=insecure"}
    assert str(notify(wh, env)) == "1 sent, 0 failed"
    assert str(notify(wh, env)) == "0 sent, 0 failed"
    import email
    from email.header import decode_header, make_header

    [raw] = messages
    message = email.message_from_string(raw)
    assert str(make_header(decode_header(message["Subject"]))) == "[Coinbook CRITICAL] acme: var limit — main:var_99_1d"
    assert message["To"] == "risk@example.org"
    text = next(part.get_payload(decode=True).decode() for part in message.walk()
                if part.get_content_type() == "text/plain")
    assert "1-day 99 % VaR 88,068 USD" in text and "tenant: acme" in text


def test_the_fast_tier_asset_raises_and_sends_the_stale_price_alert(wh: Warehouse, hooks: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """price_freshness (in positions_refresh, every 5 minutes) judges the prices and notifies, as a Dagster run."""
    import dagster as dg

    from pipelines.defs.alerts.assets import price_freshness
    from pipelines.defs.resources import build_resources
    from pipelines.settings import CoinbookSettings

    host, received = hooks
    with wh.connect() as conn, conn.transaction():
        conn.execute("""insert into marts.positions values
                        ('acme', 'main', 'acme-binance-main', 'BNB', null, 40, 24000),
                        ('acme', 'main', 'acme-binance-main', 'BTC', null, 1, 63000)""")
        conn.execute("""insert into intermediate.int_prices_latest values
                        ('BTC', 63000, 'ticker', %(end)s, 'binance', 'venue'),
                        ('BNB', 600, 'ticker', %(end)s - interval '2 hours', 'binance', 'venue')""",
                     {"end": WORLD_END})
    monkeypatch.setenv("COINBOOK_NOTIFY_URLS", f"json://{host}/fast")
    # the resources as the code location builds them: the URL (a secret) reaches the notifier as dg.EnvVar
    built = build_resources(CoinbookSettings(_env_file=None, database_url=wh.database_url))
    assert isinstance(built["notifier"].urls, dg.EnvVar)
    resources = {k: built[k] for k in ("warehouse", "notifier")}
    result = dg.materialize([price_freshness], resources=resources)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["stale_open"].value == 1 and "1 sent" in metadata["notifications"].value
    assert [r.path for r in received] == ["/fast"] and "BNB" in json.loads(received[0].body)["title"]
    with wh.connect() as conn, conn.transaction():
        conn.execute("update intermediate.int_prices_latest set priced_at = %s where asset = 'BNB'", (WORLD_END,))
    again = dg.materialize([price_freshness], resources=resources)
    assert again.get_asset_materialization_events()[0].materialization.metadata["resolved"].value == 1
