"""Operator safety without a database (issue 13): the accounts file checked whole with line numbers, the plan
that never changes a registered account silently, passwords masked in whatever the CLI prints, one line for a
database that cannot be reached, and the help that names the sandbox's venues."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime

import psycopg
import pytest
from typer.testing import CliRunner

from pipelines.services.accounts import AccountSpec, RegistrationRefused, parse_accounts, plan_against
from warehouse.connection import mask_passwords, mask_url

VENUES = ("binance", "coinbase", "kraken", "bitfinex", "htx")
XPUB = ("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz"
        "2AGutZYs")  # BIP84's test vector (account 0 of the 'abandon … about' seed)
SECRET_LOOKING = "AKIAIOSFODNN7EXAMPLEKEY"

# Line numbers matter below: each problem is expected on the line written here.
BAD_FILE = f"""\
tenants:
  - id: Acme
    portfolios:
      - id: main
        accounts:
          - id: acme-kraken
            venue: krakn
            credential: env:acme-kraken
          - id: acme-kraken
            venue: kraken
            credential: env:acme-kraken
          - id: acme-binance
            venue: binance
            credentail: env:acme-binance
          - id: acme-coinbase
            venue: coinbase
            credential: {SECRET_LOOKING}
            history_start: last tuesday
          - id: acme-btc
            venue: bitcoin
            kind: wallet
            xpub: {XPUB[:-1]}X
          - id: acme-defi
            venue: bitcoin
            kind: defi
            address: "0x1111111111111111111111111111111111111111"
  - id: public
    portfolios: []
"""


def test_an_accounts_file_is_checked_whole_every_problem_with_its_line() -> None:
    _, problems = parse_accounts(BAD_FILE, VENUES)
    lines = [int(p.split(":")[0].removeprefix("line ")) for p in problems]
    assert lines == [2, 7, 9, 12, 14, 17, 18, 22, 24, 27], problems
    found = dict(zip(lines, problems, strict=True))
    assert "tenant id 'Acme'" in found[2]
    assert "unknown exchange venue 'krakn'" in found[7] and "kraken" in found[7]
    assert "duplicate account id (first at line 6)" in found[9]
    assert "needs a credential reference" in found[12]
    assert "unknown key 'credentail' (did you mean 'credential'?)" in found[14]
    assert "not shown" in found[17] and SECRET_LOOKING not in "\n".join(problems)
    assert "history_start" in found[18]
    assert "xpub" in found[22]
    assert "unknown DeFi chain 'bitcoin'" in found[24]
    assert "'public' is reserved" in found[27]


def test_malformed_yaml_is_one_problem_with_its_line() -> None:
    misindented = "tenants:\n  - id: acme\n    portfolios:\n      - id: main\n     accounts: []\n"
    specs, problems = parse_accounts(misindented, VENUES)
    assert specs == [] and len(problems) == 1
    assert problems[0].startswith("line 5, column 6: not valid YAML")
    assert parse_accounts("tenants:\n  - id: acme\n\tportfolios: []\n", VENUES)[1][0].startswith("line 3")
    assert parse_accounts("", VENUES)[1] == ["line 1: no accounts: the file starts with 'tenants:' (see "
                                             "accounts.example.yaml)"]


def test_a_venue_added_through_the_settings_is_known_and_every_kind_parses() -> None:
    text = f"""\
tenants:
  - id: acme
    name: Acme Capital
    portfolios:
      - id: main
        accounts:
          - {{id: acme-okx, venue: okx, credential: "vault:coinbook/acme-okx", history_start: 2021-01-01}}
          - {{id: acme-btc, venue: bitcoin, kind: wallet, xpub: {XPUB}, gap_limit: 20}}
          - {{id: acme-eth, venue: arbitrum, kind: wallet, address: "0x1111111111111111111111111111111111111111"}}
          - {{id: acme-defi, venue: ethereum, kind: defi, address: "0x1111111111111111111111111111111111111111",
             protocols: [aave-v3, lido]}}
"""
    assert "unknown exchange venue 'okx'" in parse_accounts(text, VENUES)[1][0]
    specs, problems = parse_accounts(text, (*VENUES, "okx"))
    assert problems == []
    assert [(s.account_id, s.kind, s.venue) for s in specs] == [
        ("acme-okx", "exchange", "okx"), ("acme-btc", "wallet", "bitcoin"), ("acme-eth", "wallet", "arbitrum"),
        ("acme-defi", "defi", "ethereum")]
    assert specs[0].history_start == datetime(2021, 1, 1, tzinfo=UTC)  # a date without offset is UTC
    assert specs[0].tenant_name == "Acme Capital" and specs[1].settings == {"xpub": XPUB, "gap_limit": 20}


def _spec(account_id: str, tenant_id: str = "acme", **changes: object) -> AccountSpec:
    base = dict(tenant_id=tenant_id, tenant_name=tenant_id, portfolio_id="main", portfolio_name="main",
                account_id=account_id, venue="kraken", display_name=account_id, mode="sandbox",
                credential_ref=f"sandbox:{account_id}", history_start=datetime(2025, 6, 1, tzinfo=UTC),
                settings={}, kind="exchange")
    return AccountSpec(**{**base, **changes})  # type: ignore[arg-type]


def _row(spec: AccountSpec) -> tuple[object, ...]:
    """What ops.accounts returns for a registered spec (REGISTERED_SQL's columns)."""
    return (spec.tenant_id, spec.account_id, spec.portfolio_id, spec.venue, spec.kind, spec.display_name, spec.mode,
            spec.credential_ref, spec.history_start, spec.settings)


def test_a_registered_account_is_never_changed_without_update() -> None:
    kraken, wallet = _spec("acme-kraken"), _spec("acme-btc", venue="bitcoin", kind="wallet", credential_ref=None,
                                                   settings={"xpub": XPUB})
    registered = {("acme", "acme-kraken"): _row(kraken), ("acme", "acme-btc"): _row(wallet)}
    hijack = _spec("acme-kraken", mode="live", credential_ref="env:hijack")
    plan = plan_against(registered, [hijack, wallet, _spec("acme-coinbase", venue="coinbase")])
    assert [s.account_id for s in plan.new] == ["acme-coinbase"]
    assert [s.account_id for s in plan.unchanged] == ["acme-btc"]
    assert [str(f) for f in plan.changed[0].changes] == ["mode: sandbox -> live",
                                                         "credential: sandbox:acme-kraken -> env:hijack"]
    with pytest.raises(RegistrationRefused) as refused:
        plan.check(update=False)
    assert "acme/acme-kraken" in str(refused.value)
    assert "credential: sandbox:acme-kraken -> env:hijack" in str(refused.value)
    plan.check(update=True)  # asked for: allowed

    moved = plan_against(registered, [_spec("acme-kraken", tenant_id="bluefin")])
    assert moved.conflicts and "belongs to tenant 'acme', not 'bluefin'" in moved.conflicts[0]
    twice = plan_against({}, [kraken, kraken, hijack])  # the same entry twice is one; two different ones conflict
    assert len(twice.specs) == 1 and len(twice.conflicts) == 1 and "given twice" in twice.conflicts[0]
    for update in (False, True):
        with pytest.raises(RegistrationRefused, match="never moves to another tenant"):
            moved.check(update)


def test_passwords_are_masked_in_urls_and_text() -> None:
    assert mask_url("postgresql://bob:hunter2@db.example:5432/coinbook") == "postgresql://bob:***@db.example:5432/coinbook"
    assert mask_url("postgresql://bob:p@ss@db/coinbook?sslmode=require") == "postgresql://bob:***@db/coinbook?sslmode=require"
    assert mask_url("postgresql://postgres@127.0.0.1:54329/coinbook") == "postgresql://postgres@127.0.0.1:54329/coinbook"
    assert mask_url("host=db user=bob password='a b' dbname=c") == "host=db user=bob password=*** dbname=c"
    assert mask_url("postgresql://db/c?user=bob&password=hunter2") == "postgresql://db/c?user=bob&password=***"
    text = 'warehouse postgresql://bob:hunter2@db/c, UI http://127.0.0.1:3000, psql "postgresql://x:y@h/d"'
    assert mask_passwords(text) == 'warehouse postgresql://bob:***@db/c, UI http://127.0.0.1:3000, psql "postgresql://x:***@h/d"'


def test_the_console_masks_what_any_command_prints() -> None:
    from pipelines.app.console import PasswordMasking

    out = io.StringIO()
    PasswordMasking(out).write("ready: warehouse postgresql://bob:hunter2@db:5432/coinbook\n")
    assert out.getvalue() == "ready: warehouse postgresql://bob:***@db:5432/coinbook\n"


def test_a_database_error_is_one_line_naming_the_masked_url() -> None:
    from pipelines.app.errors import describe

    error = psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 1 failed: '
                                     "Connection refused\n\tIs the server running on that host and accepting "
                                     "TCP/IP connections?")
    assert describe(error, "postgresql://bob:hunter2@127.0.0.1:1/coinbook") == (
        "cannot use the warehouse at postgresql://bob:***@127.0.0.1:1/coinbook: connection failed: connection to "
        'server at "127.0.0.1", port 1 failed: Connection refused')


def test_the_help_names_every_venue_the_sandbox_serves() -> None:
    from pipelines.app.main import app
    from sandbox.server import DIALECT_MODULES

    top = CliRunner().invoke(app, ["--help"]).output
    standalone = subprocess.run([sys.executable, "-m", "sandbox", "--help"], capture_output=True, text=True,
                                check=True).stdout
    for text in (top, standalone):
        flat = " ".join(text.split()).lower()
        assert [v for v in DIALECT_MODULES if v not in flat] == [], flat
