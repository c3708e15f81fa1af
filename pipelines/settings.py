"""Coinbook settings: every COINBOOK_* variable is read here and nowhere else (from the environment, or `.env`).

Secrets (master key, Vault token, Etherscan key, InfluxDB token, notification URLs) are `SecretStr`: they never
print. Resources that hold one get it as `dg.EnvVar` when it comes from the environment (pipelines/defs/
resources.py), so Dagster's UI and run config show the variable's name, not its value.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "COINBOOK_"


class CoinbookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    # ── where things are ───────────────────────────────────────────────────────────────────────────────
    home: Path = Field(default=PROJECT_ROOT / ".coinbook", description="State folder (git-ignored).")
    database_url: str | None = Field(default=None, description="External PostgreSQL; unset = private cluster.")
    pg_port: int = Field(default=54329, description="Port of the private cluster.")
    pg_fast: bool = Field(default=False, description="Tests only: the private cluster without fsync, "
                          "full_page_writes and synchronous_commit (a crash can corrupt it).")
    sandbox_url: str = Field(default="http://127.0.0.1:8765", description="Where the exchange sandbox listens.")
    metrics_runs: int = Field(default=1000, ge=1, description="How many recent Dagster runs the metrics endpoint "
                              "reads for the run-duration metrics.")
    arbitrage_coins: str = Field(default="BTC,ETH,SOL", description="Coins whose order books the arbitrage scan "
                                 "compares across venues, comma-separated (each against USDT, USD, USDC or BTC).")
    sandbox_scale: str = Field(default="demo", description="Size of the sandbox's world: 'demo' or "
                               "'<tenants>x<trades>', e.g. '20x100000' (`coinbook sandbox --tenants --trades`).")
    superset_port: int = Field(default=8088, description="Port of the dashboards (Superset, on 127.0.0.1).")
    accounts_file: Path | None = Field(default=None, description="YAML file of accounts to register.")
    dbt_project_dir: Path = PROJECT_ROOT / "dbt_project"
    import_inbox: Path | None = Field(default=None, description="Folder watched for CSV exports (default "
                                                                 "<home>/inbox/<tenant>/<account>/).")
    tick_inbox: Path | None = Field(default=None, description="Folder watched for price tick files (CSV or "
                                                               "Parquet; default <home>/tick-inbox/).")

    debug: bool = Field(default=False, description="Show the traceback of an operator error (as --debug).")

    # ── what is synced ─────────────────────────────────────────────────────────────────────────────────
    venues: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="ccxt exchange ids to sync, comma-separated (default: the five seed venues).")
    sync_lanes: int = Field(default=4, ge=1, description="`coinbook run`: how many venues or chains sync at once "
                            "(each one's accounts one after another).")
    minute_candle_hours: int = Field(default=24, description="Hours of 1m candles kept fresh per market (0: none).")
    max_quarantine_ratio: float = Field(default=0.05, description="Above this share of bad rows in one account "
                                        "and source, hold that account back.")
    esplora_url: str = Field(default="https://blockstream.info/api", description="Esplora REST for BTC wallets.")
    etherscan_url: str = Field(default="https://api.etherscan.io/v2/api", description="Etherscan v2 endpoint.")
    etherscan_api_key: SecretStr | None = Field(default=None, description="Etherscan API key (never logged).")
    rpc_urls: dict[str, str] = Field(default_factory=dict, description='JSON: {"ethereum": "https://…"}.')

    # ── credentials (pipelines/services/credentials.py) ────────────────────────────────────────────────
    master_key: SecretStr | None = Field(default=None, description="Master key(s) for db: credentials, url-safe "
                                         "base64, newest first, comma-separated (rotation).")
    master_key_file: Path | None = Field(default=None, description="Key file when COINBOOK_MASTER_KEY is unset "
                                                                    "(default <home>/master.key, mode 0600).")
    vault_addr: str | None = Field(default=None, description="HashiCorp Vault for vault: credentials.")
    vault_token: SecretStr | None = None
    vault_mount: str = "secret"

    # ── alerts out (pipelines/services/notify.py) ──────────────────────────────────────────────────────
    notify_urls: SecretStr | None = Field(default=None, description="apprise URLs every tenant's alerts go to, "
                                          "separated by whitespace or commas (tokens inside: a secret).")
    notify_min_severity: str = Field(default="warning", description="info | warning | critical")

    # ── reports (pipelines/services/reports) ───────────────────────────────────────────────────────────
    tax_timezone: str = Field(default="UTC", description="IANA zone of the tax year and of the dates on Form "
                              "8949, for tenants without their own (ops.tenants.tax_timezone).")

    # ── a person's own login, for the changes `coinbook compliance` records (pipelines/app/officer.py) ──
    login: str | None = Field(default=None, description="The login (`coinbook users`) a compliance change is "
                              "made as; --as overrides it.")
    login_password: SecretStr | None = Field(default=None, description="Its password (else prompted).")

    # ── optional export to InfluxDB 2 (pipelines/defs/exports) ─────────────────────────────────────────
    influx_url: str | None = Field(default=None, description="Set to export prices and risk metrics.")
    influx_token: SecretStr | None = None
    influx_org: str = "coinbook"
    influx_bucket: str = "coinbook"
    influx_batch_size: int = 5_000
    influx_max_retries: int = 3

    @field_validator("database_url")
    @classmethod
    def _a_postgresql_url(cls, value: str | None) -> str | None:
        # A malformed URL would otherwise fail at the first connection, with the URL (password included) echoed.
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        if value:
            try:
                conninfo_to_dict(value)
            except ProgrammingError:
                raise ValueError("not a PostgreSQL URL (postgresql://user@host:5432/database) "
                                 "nor a libpq 'key=value' string") from None
        return value

    @field_validator("venues", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip().lower() for v in value.split(",") if v.strip()] or None
        return value

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.home / "master.key"

    @property
    def import_inbox_dir(self) -> Path:
        return self.import_inbox or self.home / "inbox"

    @property
    def tick_inbox_dir(self) -> Path:
        return self.tick_inbox or self.home / "tick-inbox"


class SettingsError(ValueError):
    """A COINBOOK_* variable (or `.env` entry) that cannot be used. The message names the variable and what is
    wrong with it, never its value (it may be a secret)."""


@lru_cache(maxsize=1)
def get_settings() -> CoinbookSettings:
    try:
        return CoinbookSettings()
    except ValidationError as exc:
        raise SettingsError("; ".join(
            f"{env_var_name('_'.join(str(part) for part in error['loc']))}: {error['msg']}"
            for error in exc.errors())) from None


def resolve_database_url(settings: CoinbookSettings) -> str:
    """COINBOOK_DATABASE_URL when set, else the private cluster's URL (not started here)."""
    if settings.database_url:
        return settings.database_url
    from warehouse.cluster import LocalCluster

    return LocalCluster(settings.home, settings.pg_port).url()


def resolve_admin_url(settings: CoinbookSettings) -> str:
    """Where administration happens (migrations, people's logins): the private cluster's superuser through its
    socket, or COINBOOK_DATABASE_URL itself (whoever that is: its migrations and logins need its rights)."""
    if settings.database_url:
        return settings.database_url
    from warehouse.cluster import LocalCluster

    return LocalCluster(settings.home, settings.pg_port).admin_url()


def from_environment(name: str) -> bool:
    """Whether COINBOOK_<NAME> is set in the process environment (not only in `.env`): a resource can then take
    it as dg.EnvVar, which Dagster resolves when a run starts."""
    return f"{ENV_PREFIX}{name.upper()}" in os.environ


def env_var_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def secret_credentials(name: str) -> tuple[str | None, str | None, str | None]:
    """An `env:<NAME>` credential: COINBOOK_SECRET_<NAME>_API_KEY, _SECRET and _PASSWORD, read when an account
    is opened (each account names its own variables, so they cannot be fields)."""
    prefix = secret_prefix(name)
    return (os.environ.get(prefix + "API_KEY"), os.environ.get(prefix + "SECRET"),
            os.environ.get(prefix + "PASSWORD"))


def secret_prefix(name: str) -> str:
    return f"{ENV_PREFIX}SECRET_{name.upper().replace('-', '_')}_"
