"""Operator safety of the account and warehouse commands (issue 13), through the real CLI against a database of
this module's own (the accounts it registers must not leak into the worker's shared session database)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ACME = """\
tenants:
  - id: acme
    name: Acme Capital
    portfolios:
      - id: main
        accounts:
          - {id: ops-kraken, venue: kraken, mode: sandbox, credential: "sandbox:ops-kraken"}
          - {id: ops-eth, venue: ethereum, kind: wallet, address: "0x1111111111111111111111111111111111111111"}
          - {id: ops-defi, venue: ethereum, kind: defi, address: "0x1111111111111111111111111111111111111111",
             protocols: [aave-v3, lido]}
          - {id: ops-btc, venue: bitcoin, kind: wallet, addresses: [bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq]}
"""


@dataclass
class Result:
    exit_code: int
    out: str
    err: str
    exception: BaseException | None


@pytest.fixture(scope="module")
def own_database(cluster) -> Iterator[str]:

    name = f"coinbook_ops_{uuid.uuid4().hex[:8]}"
    cluster.create_database(name)
    url = cluster.url(name)
    cluster.migrate(name)
    yield url
    cluster.drop_database(name)


@pytest.fixture()
def cli(own_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """`coinbook …` in-process on this module's database; what the consoles print, as a terminal shows it."""
    from pipelines.app import console as consoles
    from pipelines.app.console import PasswordMasking
    from pipelines.app.main import app
    from pipelines.settings import get_settings

    def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        for name, value in {"COINBOOK_DATABASE_URL": own_database, **(env or {})}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(consoles.console, "file", PasswordMasking(out))
        monkeypatch.setattr(consoles.err_console, "file", PasswordMasking(err))
        result = CliRunner().invoke(app, list(args), input=stdin)
        return Result(result.exit_code, out.getvalue() + result.stdout, err.getvalue() + result.stderr,
                      result.exception)

    yield invoke
    monkeypatch.undo()
    get_settings.cache_clear()


def _account_rows(url: str, *ids: str) -> list[tuple[str, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("select account_id, venue, mode, coalesce(credential_ref, '') from ops.accounts "
                            "where account_id = any(%s) order by account_id", (list(ids),)).fetchall()


def test_load_refuses_a_file_with_mistakes_and_writes_nothing(cli, own_database: str, tmp_path: Path) -> None:
    bad = tmp_path / "accounts.yaml"
    bad.write_text(ACME.replace("venue: kraken", "venue: krakn")
                   + "          - {id: ops-eth, venue: ethereum, kind: wallet, address: '0x2222222222222222222222222"
                     "222222222222222'}\n"
                   + "  - id: Bluefin\n    portfolios: []\n")
    result = cli("accounts", "load", str(bad))
    assert result.exit_code == 1
    assert "line 7: account 'ops-kraken': unknown exchange venue 'krakn'" in result.err
    assert "line 12: account 'ops-eth': duplicate account id (first at line 8)" in result.err
    assert "line 13: tenant id 'Bluefin'" in result.err
    assert "Traceback" not in result.err + result.out
    assert _account_rows(own_database, "ops-kraken", "ops-eth", "ops-defi", "ops-btc") == []  # the good ones too


def test_load_never_changes_a_registered_account_without_update(cli, own_database: str, tmp_path: Path) -> None:
    good, hijack = tmp_path / "acme.yaml", tmp_path / "hijack.yaml"
    good.write_text(ACME)
    hijack.write_text(ACME.replace("mode: sandbox, credential: \"sandbox:ops-kraken\"", "credential: env:hijack"))
    first = cli("accounts", "load", str(good))
    assert first.exit_code == 0 and "4 new" in first.out, first.err
    again = cli("accounts", "load", str(good))
    assert again.exit_code == 0 and "0 new, 0 updated, 4 already registered" in again.out

    refused = cli("accounts", "load", str(hijack))
    assert refused.exit_code == 1
    assert "acme/ops-kraken is already registered with other mode, credential" in refused.err
    assert "--update" in refused.err
    assert _account_rows(own_database, "ops-kraken") == [("ops-kraken", "kraken", "sandbox", "sandbox:ops-kraken")]

    updated = cli("accounts", "load", "--update", str(hijack))
    assert updated.exit_code == 0, updated.err
    assert "mode: sandbox -> live" in updated.out and "credential: sandbox:ops-kraken -> env:hijack" in updated.out
    assert "1 updated, 3 already registered" in updated.out
    assert _account_rows(own_database, "ops-kraken") == [("ops-kraken", "kraken", "live", "env:hijack")]

    listed = cli("accounts", "list")
    rows = {line.split("│")[3].strip(): [cell.strip() for cell in line.split("│")[1:-1]]
            for line in listed.out.splitlines() if line.startswith("│")}
    assert rows["ops-kraken"][3:] == ["exchange", "kraken", "live", "env:hijack"]
    assert rows["ops-eth"][3:5] == ["wallet", "ethereum"] and rows["ops-btc"][3:5] == ["wallet", "bitcoin"]
    assert rows["ops-defi"][3:5] == ["defi", "ethereum"] and "aave-v3, lido" in rows["ops-defi"][6]


def test_add_refuses_a_blank_key_or_secret(cli, own_database: str) -> None:
    for stdin in ("   \nsecret\n\n", "key\n \t \n\n"):
        result = cli("accounts", "add", "--tenant", "acme", "--account", "ops-blank", "--venue", "kraken",
                     stdin=stdin)
        assert result.exit_code == 2 and "is blank" in result.err, result.err
    piped = cli("accounts", "add", "--tenant", "acme", "--account", "ops-blank", "--venue", "kraken",
                "--api-key-stdin", stdin="  \n")
    assert piped.exit_code == 2 and "API_KEY SECRET" in piped.err
    assert _account_rows(own_database, "ops-blank") == []
    with psycopg.connect(own_database) as conn:
        assert conn.execute("select count(*) from ops.credentials where credential_id = 'ops-blank'").fetchone() == (0,)


def test_the_warehouse_commands_mask_the_password(cli) -> None:
    url = "postgresql://coinbook:hunter2@db.example:5432/coinbook"
    status = cli("warehouse", "status", env={"COINBOOK_DATABASE_URL": url})
    assert status.exit_code == 0 and "postgresql://coinbook:***@db.example:5432/coinbook" in status.out
    masked = cli("warehouse", "url", env={"COINBOOK_DATABASE_URL": url})
    assert masked.out.strip() == "postgresql://coinbook:***@db.example:5432/coinbook"
    assert "--show-password" in masked.err
    assert "hunter2" not in status.out + status.err + masked.out + masked.err
    shown = cli("warehouse", "url", "--show-password", env={"COINBOOK_DATABASE_URL": url})
    assert shown.out.strip() == url  # asked for explicitly: usable as is


def test_sandbox_accounts_register_twice_as_unchanged(own_database: str, sandbox_server) -> None:
    """`coinbook run` registers the sandbox's accounts on every run: the second time they must read back equal
    (dates, settings), or every second run would be refused as a change."""
    from pipelines.services.accounts import (
        SEED_VENUES,
        account_problems,
        plan_registration,
        register_accounts,
        specs_from_sandbox,
    )
    from warehouse.connection import Warehouse

    specs = specs_from_sandbox(sandbox_server.url)
    assert {s.kind for s in specs} == {"exchange", "wallet", "defi"}
    assert [(s.account_id, p) for s in specs for p in account_problems(s, SEED_VENUES)] == []
    wh = Warehouse(own_database)
    register_accounts(wh, specs)
    plan = plan_registration(wh, specs)
    assert plan.changed == () and plan.new == () and len(plan.unchanged) == len(specs)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_warehouse_is_one_line_and_debug_shows_the_traceback() -> None:
    url = f"postgresql://coinbook:hunter2@127.0.0.1:{_closed_port()}/coinbook"
    env = {**os.environ, "COINBOOK_DATABASE_URL": url}
    coinbook = [sys.executable, "-m", "pipelines.app.main"]
    plain = subprocess.run([*coinbook, "accounts", "list"], env=env, capture_output=True, text=True, cwd=ROOT,
                           timeout=60)
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1, plain.stderr
    assert lines[0].startswith(f"error: cannot use the warehouse at {url.replace('hunter2', '***')}: ")
    assert "Connection refused" in lines[0] and "hunter2" not in plain.stderr + plain.stdout
    debug = subprocess.run([*coinbook, "--debug", "accounts", "list"], env=env, capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "OperationalError" in debug.stderr
    assert "hunter2" not in debug.stderr + debug.stdout  # no locals in the traceback


def test_the_dagster_home_keeps_the_pipeline_password_private(tmp_path: Path) -> None:
    """dagster.yaml holds the storage URL, the pipeline role's password included: mode 0600, also when it existed
    before with a wider mode."""
    from pipelines.app.ready import dagster_home
    from pipelines.settings import get_settings

    settings = get_settings().model_copy(update={"home": tmp_path, "database_url": None})
    previous = os.environ.get("DAGSTER_HOME")
    try:
        (tmp_path / "dagster").mkdir()
        (tmp_path / "dagster" / "dagster.yaml").write_text("old\n")
        (tmp_path / "dagster" / "dagster.yaml").chmod(0o644)
        home = dagster_home(settings, "postgresql://coinbook_pipeline:s3cret@127.0.0.1:54329/coinbook")
        config = home / "dagster.yaml"
        assert "coinbook_pipeline:s3cret@" in config.read_text()
        assert config.stat().st_mode & 0o777 == 0o600
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
