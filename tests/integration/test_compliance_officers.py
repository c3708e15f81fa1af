"""Compliance officers' own logins (V030), the demo KYC register `coinbook run` seeds, and the compliance pack as
known at a past time (issue 16 §2–4). On a database of this module's own: the small world of test_compliance_kyc
(acme, euro) plus a tenant bluefin, a plain sanctions CSV that lists acme's withdrawal to bc1qthird2 (one hit), real
dbt building the marts the pack reads, and real logins connecting over TCP with their passwords.

    demo register      acme complete, bluefin valid with its next review in 21 days → one kyc_review_due warning,
                       no report flag; a tenant that is not in the demo (euro) is left alone; seeding twice adds nothing
    officers           an officer of acme records a KYC entry and a decision: the rows and their audit links carry
                       the officer's login, who/when given in the statement are overridden; the officer cannot write
                       euro's; accountants and auditors are refused (by privilege, and by `--as` before connecting)
    known at K         a review and a decision recorded before K appear in the pack known at K; a later decision and
                       a later (rejected) review do not — and that pack re-performed after them is byte-identical
"""

from __future__ import annotations

import csv
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pipelines.app.pipeline import load_demo_kyc
from pipelines.services import compliance
from pipelines.services.dbt import dbt_env, dbt_executable, ensure_parsed
from pipelines.services.reports.compliance import write_compliance_pack
from pipelines.services.screening import decide, load_sanctions_file, read_hits
from pipelines.services.users import UserError, acting_as, add_user, remove_user
from pipelines.services.venues import SEED_VENUES, dbt_vars
from tests.integration.test_compliance_kyc import build_world
from tests.support import admin_warehouse
from warehouse.cluster import LocalCluster
from warehouse.connection import Warehouse

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MODELS = ["+transfers_valued+", "+kyc_status", "+disposals", "+income", "+screening_hits", "+prices_daily",
          "+int_price_aliases"]  # the pack prices staked codes as their coin
LISTED = "bc1qthird2"  # acme's withdrawal of 0.2000002 BTC on 2026-03-02 (test_compliance_kyc's world)


def dbt(url: str, *args: str) -> None:
    target = ensure_parsed(PROJECT, url, SEED_VENUES)
    env = {**os.environ, **dbt_env(url), "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target / "officers")}
    (target / "officers").mkdir(exist_ok=True)
    (target / "officers" / "partial_parse.msgpack").write_bytes((target / "partial_parse.msgpack").read_bytes())
    done = subprocess.run([dbt_executable(), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
                           "--vars", dbt_vars(SEED_VENUES)], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-6000:]


@pytest.fixture(scope="module")
def world(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    name = f"coinbook_officers_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    cluster.migrate(name)
    url = cluster.url(name)
    build_world(url)
    with psycopg.connect(url) as conn:
        conn.execute("insert into ops.tenants (tenant_id, name, base_currency) values "
                     "('bluefin', 'Bluefin Family Office', 'USD')")
    listed = tmp_path_factory.mktemp("lists") / "watchlist.csv"
    listed.write_text(f"address,chain,name\n{LISTED},bitcoin,Demo Sanctioned Person\n")
    load_sanctions_file(Warehouse(url), listed, list_name="internal watchlist")
    dbt(url, "seed")
    dbt(url, "run", "--select", *MODELS)
    yield Warehouse(url)
    cluster.drop_database(name)


@pytest.fixture(scope="module")
def logins(world: Warehouse) -> Iterator[dict[str, tuple[str, str]]]:
    """A login per role, of tenant acme: {role: (login, password)}."""
    admin = admin_warehouse(world.database_url)
    made = {}
    try:
        for role in ("compliance", "accountant", "auditor"):
            login = f"{role[:4]}_{uuid.uuid4().hex[:6]}"
            made[role] = (login, add_user(admin, login, role, ["acme"]))
        yield made
    finally:
        for login, _ in made.values():
            remove_user(admin, login)


def rows(wh: Warehouse, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with wh.connect() as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def test_the_demo_register_gives_one_warning_and_flags_no_report(world: Warehouse) -> None:
    load_demo_kyc(world)  # as `coinbook run` does with the sandbox
    statuses = {s.tenant_id: s for s in compliance.kyc_statuses(world)}
    assert statuses["acme"].kyc_valid and statuses["bluefin"].kyc_valid, statuses
    assert not statuses["euro"].kyc_valid and statuses["euro"].reason == "none recorded"  # not a demo tenant
    assert compliance.kyc_flag(world, "acme") is None and compliance.kyc_flag(world, "bluefin") is None
    today = datetime.now(UTC).date()
    assert statuses["bluefin"].next_review_due == today + timedelta(days=21)
    compliance.raise_kyc_alerts(world, datetime.now(UTC))
    assert rows(world, "select tenant_id, kind, severity from ops.alerts where resolved_at is null and kind like "
                       "'kyc%%' and tenant_id in ('acme', 'bluefin')") == [("bluefin", "kyc_review_due", "warning")]
    # the register is the pipeline's writing, and chained as such
    (who,), = rows(world, "select session_user")
    assert rows(world, "select distinct recorded_by from ops.kyc_reviews where tenant_id in ('acme', 'bluefin')") \
        == [(who,)]
    assert rows(world, "select distinct actor from audit.chain where table_name = 'ops.kyc_reviews' and tenant_id in "
                       "('acme', 'bluefin')") == [(who,)]
    count = rows(world, "select count(*) from ops.kyc_subjects")
    load_demo_kyc(world)  # a tenant with a register is left alone: nothing is added
    assert rows(world, "select count(*) from ops.kyc_subjects") == count


def test_an_officers_changes_carry_the_officer_and_other_roles_are_refused(
        world: Warehouse, logins: dict[str, tuple[str, str]]) -> None:
    officer, password = logins["compliance"]
    by = acting_as(world, officer, password)
    compliance.add_subject(world, "acme", "acme-ubo-roe", "beneficial_owner", "Jon Roe", Decimal(10), "GB", by=by)
    assert rows(world, "select recorded_by from ops.kyc_subjects where subject_id = 'acme-ubo-roe'") == [(officer,)]
    assert rows(world, "select actor, operation from audit.chain where table_name = 'ops.kyc_subjects' "
                       "order by seq desc limit 1") == [(officer, "insert")]
    compliance.review(world, "acme", "acme-ubo-roe", "verified", date.today(), "low",
                      date.today() + timedelta(days=365), ["DMS:ROE-PASSPORT"], by=by)
    assert rows(world, "select actor from audit.chain where table_name = 'ops.kyc_reviews' "
                       "order by seq desc limit 1") == [(officer,)]
    # who and when are the database's: a statement naming someone else, or a past time, is overridden
    with psycopg.connect(by.database_url) as conn:
        (at_start,), = conn.execute("select clock_timestamp()").fetchall()
        (by_whom, when), = conn.execute(
            "insert into ops.screening_decisions (tenant_id, hit_id, decision, reason, decided_by, decided_at) "
            "values ('acme', 'probe', 'false_positive', 'probe', 'someone_else', '2020-01-01') "
            "returning decided_by, decided_at").fetchall()
        assert (by_whom, when >= at_start) == (officer, True)
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("insert into ops.kyc_subjects (tenant_id, subject_id, kind, name) "
                         "values ('euro', 'x', 'client', 'X')")
    for role in ("accountant", "auditor"):
        login, secret = logins[role]
        with pytest.raises(UserError, match=f"is an {role}: only a compliance login"):
            acting_as(world, login, secret)
        with psycopg.connect(acting_url(world, login, secret)) as conn:
            for statement in ("insert into ops.screening_decisions (tenant_id, hit_id, decision, reason) "
                              "values ('acme', 'probe', 'true_match', 'x')",
                              "insert into ops.kyc_reviews (tenant_id, subject_id, status) "
                              "values ('acme', 'acme-client', 'pending')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                    conn.execute(statement)
                conn.rollback()
    with pytest.raises(UserError, match="cannot connect"):
        acting_as(world, officer, "not-the-password")


def acting_url(wh: Warehouse, login: str, password: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(wh.database_url, user=login, password=password)


def test_the_cli_refuses_a_change_without_an_officer(world: Warehouse, logins: dict[str, tuple[str, str]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from typer.testing import CliRunner

    from pipelines.app import console as consoles
    from pipelines.app.main import app
    from pipelines.settings import get_settings

    out = io.StringIO()
    monkeypatch.setenv("COINBOOK_DATABASE_URL", world.database_url)
    monkeypatch.delenv("COINBOOK_LOGIN", raising=False)
    monkeypatch.setattr(consoles.console, "file", out)
    monkeypatch.setattr(consoles.err_console, "file", out)
    monkeypatch.setattr(consoles.err_console, "width", 250)
    get_settings.cache_clear()
    review = ["compliance", "kyc", "review", "acme-client", "--tenant", "acme", "--status", "pending"]
    try:
        assert CliRunner().invoke(app, review).exit_code == 2
        assert "a compliance change is made by a person" in out.getvalue(), out.getvalue()
        accountant, secret = logins["accountant"]
        monkeypatch.setenv("COINBOOK_LOGIN_PASSWORD", secret)
        get_settings.cache_clear()
        out.truncate(0)
        assert CliRunner().invoke(app, [*review, "--as", accountant]).exit_code == 2
        assert "only a compliance login may make this change" in out.getvalue(), out.getvalue()
        officer, secret = logins["compliance"]
        monkeypatch.setenv("COINBOOK_LOGIN_PASSWORD", secret)
        get_settings.cache_clear()
        out.truncate(0)
        result = CliRunner().invoke(app, [*review, "--as", officer, "--note", "cli probe"])
        assert result.exit_code == 0, out.getvalue()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert rows(world, "select status, recorded_by from ops.kyc_reviews where note = 'cli probe'") == [
        ("pending", officer)]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_pack_as_known_at_a_time_leaves_out_what_was_recorded_after_it(
        world: Warehouse, logins: dict[str, tuple[str, str]], tmp_path: Path) -> None:
    from tests.unit.test_form8949 import pdf_text

    load_demo_kyc(world)  # idempotent: the register this test starts from
    officer, password = logins["compliance"]
    by = acting_as(world, officer, password)
    today = date.today()
    (hit,) = [h for h in read_hits(world, "acme") if h["address"] == LISTED]
    # recorded before K: a review of the client (now medium risk) and a decision on the hit
    compliance.review(world, "acme", "acme-client", "verified", today - timedelta(days=3), "medium",
                      today + timedelta(days=200), ["DMS:REVIEW-BEFORE-K"], by=by)
    decide(world, hit["hit_id"], "false_positive", "before K: the client's own cold wallet", "acme", by=by)
    (known_at,), = rows(world, "select clock_timestamp()")
    at_k = write_compliance_pack(world, "acme", "2026Q1", tmp_path / "first", known_at=known_at)
    # recorded after K: the decision reversed, the client's review rejected
    decide(world, hit["hit_id"], "true_match", "after K: confirmed with the list's issuer", "acme", by=by)
    compliance.review(world, "acme", "acme-client", "rejected", None, None, None, [], by=by)
    again = write_compliance_pack(world, "acme", "2026Q1", tmp_path / "again", known_at=known_at)
    now = write_compliance_pack(world, "acme", "2026Q1", tmp_path / "now")

    screened = [r for r in _csv(at_k.directory / "screening.csv") if r["hit_id"] == hit["hit_id"]]
    assert [(r["decision"], r["decided_by"], r["reason"]) for r in screened] == [
        ("false_positive", officer, "before K: the client's own cold wallet")]
    screened_now = [r for r in _csv(now.directory / "screening.csv") if r["hit_id"] == hit["hit_id"]]
    assert [(r["decision"], r["reason"]) for r in screened_now] == [
        ("true_match", "after K: confirmed with the list's issuer")]
    assert (at_k.data.kyc.valid, at_k.data.kyc.risk_rating, at_k.data.kyc.flag) == (True, "medium", None)
    assert not now.data.kyc.valid and now.data.kyc.flag == "No valid KYC record: rejected"
    # the pack known at K, re-performed after the later changes: the same CSVs, byte for byte
    assert again.manifest_sha256 == at_k.manifest_sha256 != now.manifest_sha256
    assert again.directory.name == at_k.directory.name == \
        f"compliance_acme_2026Q1_known_{known_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"
    # the rest of the pack as known at K is today's pack: nothing else was learnt since
    for key in ("holdings", "flows", "realized_gains", "income", "large_transfers", "unhosted_transfers"):
        assert (at_k.directory / f"{key}.csv").read_bytes() == (now.directory / f"{key}.csv").read_bytes(), key
    assert _csv(at_k.directory / "large_transfers.csv"), "the world's large transfers are in the quarter"
    text = pdf_text(at_k.pdf_path.read_bytes())
    assert "As known at" in text and "No valid KYC record" not in text
    assert "No valid KYC record: rejected" in pdf_text(now.pdf_path.read_bytes())
