"""Sanctions screening (issue 16 §2) on a database of its own: the lists loaded from the real-format fixtures, raw
counterparties of two tenants, then real dbt (through Dagster, the models up to marts.screening_hits) and the
screening_alerts asset. Hits by address key (an EVM address in another case still matches; a base58 address in
another case is another address), a critical alert per open hit, a decision stored, chained and closing its hit,
append-only, superseded by a later one, carried over to the next list version; readers see their tenant only."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from pipelines.domain.screening import HIT_ALERT_KIND, hit_id
from pipelines.services.audit import verify
from pipelines.services.screening import ScreeningError, decide, load_sanctions_file, read_hits
from pipelines.services.users import add_user, remove_user
from pipelines.sources.sanctions.records import address_key
from tests.support import admin_warehouse, definitions_for
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sanctions"
SDN_BTC = "149w62rY42aZBox8fGcmqNsXUzSStKeq8C"        # KHORASHADIZADEH, uid 26137
LAZARUS = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"  # LAZARUS GROUP, uid 27307
WATCHLIST_BECH32 = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"  # in addresses.csv, written in upper case there


def _row(table: str, values: dict[str, Any], conn: psycopg.Connection) -> None:
    payload = json.dumps(values, default=str, sort_keys=True)
    values = {**values, "payload": payload, "record_hash": hashlib.sha256(payload.encode()).hexdigest()}
    conn.execute(f"insert into {table} ({', '.join(values)}) values ({', '.join(['%s'] * len(values))})",  # type: ignore[arg-type]
                 list(values.values()))


def _withdrawal(conn: psycopg.Connection, record_id: str, address: str) -> None:
    _row("raw.binance_transfers", {
        "tenant_id": "acme", "account_id": "acme-binance", "source": "binance", "source_record_id": record_id,
        "transfer_id": record_id, "transfer_type": "withdrawal", "occurred_at": "2026-10-01T09:30:00Z",
        "asset": "BTC", "amount": "0.25", "fee_amount": "0.0002", "fee_asset": "BTC", "status": "ok",
        "network": "BTC", "address": address, "txid": hashlib.sha256(record_id.encode()).hexdigest()}, conn)


@pytest.fixture(scope="module")
def world(cluster: LocalCluster, settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from pipelines.app.ready import ensure_dbt_manifest

    name = f"coinbook_screening_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    url = cluster.url(name)
    ensure_dbt_manifest(settings, url)
    with psycopg.connect(url) as conn:
        for tenant in ("acme", "bluefin"):
            conn.execute("insert into ops.tenants (tenant_id, name) values (%s, %s)", (tenant, tenant))
            conn.execute("insert into ops.portfolios (tenant_id, portfolio_id, name) values (%s, 'main', 'Main')",
                         (tenant,))
        for tenant, account, venue, kind in (("acme", "acme-binance", "binance", "exchange"),
                                             ("acme", "acme-btc", "bitcoin", "wallet"),
                                             ("bluefin", "bluefin-eth", "ethereum", "wallet")):
            conn.execute("insert into ops.accounts (tenant_id, account_id, portfolio_id, venue, kind, display_name, "
                         "mode) values (%s, %s, 'main', %s, %s, %s, 'sandbox')",
                         (tenant, account, venue, kind, account))
        _withdrawal(conn, "w-listed", SDN_BTC)
        _withdrawal(conn, "w-other-case", SDN_BTC.swapcase())  # base58: another address, no hit
        _row("raw.btc_transactions", {
            "tenant_id": "acme", "account_id": "acme-btc", "source": "bitcoin", "source_record_id": "tx-watch",
            "txid": "ab" * 32, "occurred_at": "2026-10-02T10:00:00Z", "block_height": 900_000, "direction": "out",
            "amount": "0.1", "fee_amount": "0.00001", "received": "0", "sent": "0.10001",
            "own_addresses": json.dumps(["bc1qown"]), "counterparties": json.dumps([WATCHLIST_BECH32])}, conn)
        _row("raw.evm_transfers", {
            "tenant_id": "bluefin", "account_id": "bluefin-eth", "source": "ethereum", "source_record_id": "evm-1",
            "chain": "ethereum", "txid": "0x" + "cd" * 32, "log_index": "-1", "kind": "native",
            "occurred_at": "2026-10-03T11:00:00Z", "block_number": 21_000_000, "direction": "in", "asset": "ETH",
            "amount": "0.01", "from_address": LAZARUS.lower(), "to_address": "0x" + "11" * 20}, conn)
    wh = Warehouse(url)
    defs = definitions_for(url)
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path_factory.mktemp("dagster")))
    yield {"wh": wh, "defs": defs, "instance": instance, "url": url}
    cluster.drop_database(name)


def screen(world: dict[str, Any]) -> None:
    """The models up to marts.screening_hits (no ingestion: the raw rows are there), then screening_alerts."""
    defs: dg.Definitions = world["defs"]
    graph = defs.resolve_asset_graph()
    keys = (dg.AssetSelection.keys("screening_alerts").upstream() - dg.AssetSelection.groups("ingest")
            ).resolve(graph)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=world["instance"], asset_selection=list(keys), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]


def hits(world: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(h["tenant_id"], h["source_record_id"], h["list_name"]): h for h in read_hits(world["wh"])}


def open_alerts(world: dict[str, Any]) -> dict[str, tuple[str, str]]:
    with world["wh"].connect() as conn:
        return {s: (t, sev) for t, s, sev in conn.execute(
            "select tenant_id, subject, severity from ops.alerts where kind = %s and resolved_at is null",
            (HIT_ALERT_KIND,)).fetchall()}


def test_screening_end_to_end(world: dict[str, Any], tmp_path: Path) -> None:
    wh: Warehouse = world["wh"]
    sdn = load_sanctions_file(wh, FIXTURES / "sdn.xml")
    assert (sdn.new, sdn.list_name, sdn.version, sdn.entry_count, sdn.address_count) == (
        True, "OFAC SDN", "2026-11-26", 5, 5)
    assert sdn.sha256 == hashlib.sha256((FIXTURES / "sdn.xml").read_bytes()).hexdigest()
    again = load_sanctions_file(wh, FIXTURES / "sdn.xml")
    assert (again.new, again.list_id) == (False, sdn.list_id)  # the same file twice: nothing written
    watch = load_sanctions_file(wh, FIXTURES / "addresses.csv", list_name="internal watchlist")
    assert (watch.new, watch.address_count, watch.version) == (True, 3, "sha256:" + watch.sha256[:12])

    screen(world)
    found = hits(world)
    assert sorted(found) == [("acme", "tx-watch", "internal watchlist"), ("acme", "w-listed", "OFAC SDN"),
                             ("bluefin", "evm-1", "OFAC SDN")]
    btc = found[("acme", "w-listed", "OFAC SDN")]
    assert (btc["account_id"], btc["direction"], btc["asset"], str(btc["amount"].normalize()), btc["address"],
            btc["list_version"], btc["entry_name"], btc["entry_uid"], btc["decision"]) == (
        "acme-binance", "out", "BTC", "0.25", SDN_BTC, "2026-11-26", "KHORASHADIZADEH, Ali", "26137", "open")
    assert btc["hit_id"] == hit_id("acme", "binance", "acme-binance", "w-listed", SDN_BTC, "OFAC SDN", "26137")
    evm = found[("bluefin", "evm-1", "OFAC SDN")]  # received from the listed address, written in lower case
    assert (evm["direction"], evm["address"], evm["entry_name"], evm["entry_uid"]) == (
        "in", LAZARUS.lower(), "LAZARUS GROUP", "27307")
    watched = found[("acme", "tx-watch", "internal watchlist")]  # listed in upper-case bech32
    assert (watched["address"], watched["entry_uid"]) == (WATCHLIST_BECH32, address_key(WATCHLIST_BECH32))
    assert open_alerts(world) == {h["hit_id"]: (h["tenant_id"], "critical") for h in found.values()}

    # a reviewer's decision: stored, closes the hit and resolves its alert at once, chained, append-only
    made = decide(wh, btc["hit_id"], "false_positive", "the client's own cold wallet, a look-alike", "acme")
    assert (made.decision, made.superseded, made.decided_by) == ("false_positive", None, "coinbook_pipeline")
    after = hits(world)[("acme", "w-listed", "OFAC SDN")]
    assert (after["decision"], after["reason"], after["decided_by"]) == (
        "false_positive", "the client's own cold wallet, a look-alike", "coinbook_pipeline")
    assert btc["hit_id"] not in open_alerts(world) and len(open_alerts(world)) == 2
    second = decide(wh, btc["hit_id"], "true_match", "compliance review 2026-12-05: the address is the SDN's")
    assert second.superseded == "false_positive" and second.decision_id > made.decision_id
    assert hits(world)[("acme", "w-listed", "OFAC SDN")]["decision"] == "true_match"
    with wh.connect() as conn:
        history = conn.execute("select decision, reason from ops.screening_decisions where hit_id = %s "
                               "order by decision_id", (btc["hit_id"],)).fetchall()
        links = conn.execute("select operation, cardinality(record_keys), actor from audit.chain where tenant_id = "
                             "'acme' and table_name = 'ops.screening_decisions' order by seq").fetchall()
    assert [d for d, _ in history] == ["false_positive", "true_match"]  # the earlier decision stays
    assert links == [("insert", 1, "coinbook_pipeline"), ("insert", 1, "coinbook_pipeline")]
    assert all(v.intact for v in verify(wh))
    for statement in ("update ops.screening_decisions set decision = 'false_positive'",
                      "delete from ops.screening_decisions"):
        with wh.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)  # type: ignore[arg-type]
    for bad, match in (({"decision": "maybe"}, "decision must be"), ({"reason": "  "}, "reason"),
                       ({"hit": "0" * 32}, "no screening hit"), ({"tenant": "bluefin"}, "no screening hit")):
        with pytest.raises(ScreeningError, match=match):
            decide(wh, bad.get("hit", btc["hit_id"]), bad.get("decision", "true_match"), bad.get("reason", "x"),
                   bad.get("tenant"))

    readers_see_their_tenants_hits_only(wh)

    # a new version of the list (LAZARUS GROUP delisted): kept beside the old one; screening uses the latest, and
    # the decision on the hit that remains carries over
    newer = (FIXTURES / "sdn.xml").read_text().replace("11/26/2026", "12/03/2026")
    start, end = newer.index("  <sdnEntry>\n    <uid>27307</uid>"), newer.index("  <sdnEntry>\n    <uid>35861</uid>")
    (tmp_path / "sdn.xml").write_text(newer[:start] + newer[end:])
    second_version = load_sanctions_file(wh, tmp_path / "sdn.xml")
    assert (second_version.new, second_version.version, second_version.address_count) == (True, "2026-12-03", 4)
    screen(world)
    found = hits(world)
    assert sorted(found) == [("acme", "tx-watch", "internal watchlist"), ("acme", "w-listed", "OFAC SDN")]
    assert (found[("acme", "w-listed", "OFAC SDN")]["list_version"],
            found[("acme", "w-listed", "OFAC SDN")]["decision"]) == ("2026-12-03", "true_match")
    assert set(open_alerts(world)) == {found[("acme", "tx-watch", "internal watchlist")]["hit_id"]}
    with wh.connect() as conn:
        versions = conn.execute("select version, address_count from ops.sanctions_lists where list_name = 'OFAC SDN' "
                                "order by list_id").fetchall()
    assert versions == [("2026-11-26", 5), ("2026-12-03", 4)]


def readers_see_their_tenants_hits_only(wh: Warehouse) -> None:
    """An accountant's and an auditor's login of bluefin read bluefin's hits only, none of acme's decisions, and
    decide nothing (decisions go through the pipeline)."""
    admin = admin_warehouse(wh.database_url)
    for role in ("accountant", "auditor"):
        name = f"{role[:4]}_{uuid.uuid4().hex[:6]}"
        password = add_user(admin, name, role, ["bluefin"])
        try:
            with psycopg.connect(make_conninfo(wh.database_url, user=name, password=password)) as conn:
                seen = conn.execute("select tenant_id, decision from marts.screening_hits").fetchall()
                assert seen == [("bluefin", "open")], role
                assert conn.execute("select count(*) from ops.screening_decisions").fetchone() == (0,), role
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("insert into ops.screening_decisions (tenant_id, hit_id, decision, reason) "
                                 "values ('bluefin', 'x', 'true_match', 'not mine to decide')")
        finally:
            remove_user(admin, name)


def test_the_cli_loads_lists_lists_hits_and_records_a_decision(world: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from pipelines.app import console as consoles
    from pipelines.app.main import app
    from pipelines.settings import get_settings

    out = io.StringIO()
    monkeypatch.setenv("COINBOOK_DATABASE_URL", world["url"])
    officer = f"comp_{uuid.uuid4().hex[:6]}"  # a decision is a compliance officer's (V030)
    monkeypatch.setenv("COINBOOK_LOGIN", officer)
    monkeypatch.setenv("COINBOOK_LOGIN_PASSWORD", add_user(admin_warehouse(world["url"]), officer, "compliance",
                                                           ["acme"]))
    monkeypatch.setattr(consoles.console, "file", out)
    monkeypatch.setattr(consoles.err_console, "file", out)
    monkeypatch.setattr(consoles.console, "width", 250)
    get_settings.cache_clear()

    def cli(*args: str) -> tuple[int, str]:
        out.seek(0)
        out.truncate()
        result = CliRunner().invoke(app, ["compliance", *args])
        return result.exit_code, out.getvalue()

    try:
        code, text = cli("load-sanctions", str(FIXTURES / "sdn.csv"), "--version", "2026-11-26")
        assert code == 0 and "OFAC SDN version 2026-11-26: loaded — 5 entries, 5 addresses" in text, text
        assert "already loaded" in cli("load-sanctions", str(FIXTURES / "sdn.csv"), "--version", "2026-11-26")[1]
        code, text = cli("screening", "lists")
        assert code == 0 and "sdn-csv" in text and "sdn-xml" in text, text
        acme_hits = read_hits(world["wh"], "acme")
        code, text = cli("screening", "hits", "--tenant", "acme")
        assert code == 0 and acme_hits and all(h["hit_id"] in text for h in acme_hits), text
        target = acme_hits[0]["hit_id"]
        code, text = cli("screening", "decide", target, "--decision", "false_positive", "--reason",
                         "reviewed with the client", "--tenant", "acme")
        assert code == 0 and f"acme {target}: false_positive" in text, text
        code, text = cli("screening", "decide", target, "--decision", "perhaps", "--reason", "x")
        assert code == 1 and "decision must be one of" in text, text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        remove_user(admin_warehouse(world["url"]), officer)
    assert read_hits(world["wh"], "acme")[0]["reason"] == "reviewed with the client"
    assert read_hits(world["wh"], "acme")[0]["decided_by"] == officer
