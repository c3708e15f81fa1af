"""Coinbook settings, read once from the environment (prefix COINBOOK_) and optional `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class CoinbookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COINBOOK_", env_file=".env", extra="ignore")

    home: Path = Field(default=PROJECT_ROOT / ".coinbook", description="State folder (git-ignored).")
    database_url: str | None = Field(default=None, description="External PostgreSQL; unset = private cluster.")
    pg_port: int = Field(default=54329, description="Port of the private cluster.")
    sandbox_url: str = Field(default="http://127.0.0.1:8765", description="Where the exchange sandbox listens.")
    accounts_file: Path | None = Field(default=None, description="YAML file of accounts to register.")
    venues: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="ccxt exchange ids to sync, comma-separated (default: the five seed venues).")
    dbt_project_dir: Path = PROJECT_ROOT / "dbt_project"
    minute_candle_hours: int = Field(default=24, description="Hours of 1m candles kept fresh per market (0: none).")
    max_quarantine_ratio: float = Field(default=0.05, description="Above this share of bad rows, block models.")
    reconciliation_tolerance: str = "0.00000001"
    esplora_url: str = Field(default="https://blockstream.info/api", description="Esplora REST for BTC wallets.")
    etherscan_url: str = Field(default="https://api.etherscan.io/v2/api", description="Etherscan v2 endpoint.")
    etherscan_api_key: str | None = Field(default=None, description="Etherscan API key (never logged).")
    rpc_urls: dict[str, str] = Field(default_factory=dict, description='JSON: {"ethereum": "https://…"}.')
    import_inbox: Path | None = Field(default=None, description="Folder watched for CSV exports (default "
                                                                 "<home>/inbox/<tenant>/<account>/).")
    tick_inbox: Path | None = Field(default=None, description="Folder watched for price tick files (CSV or "
                                                               "Parquet; default <home>/tick-inbox/).")

    @field_validator("venues", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip().lower() for v in value.split(",") if v.strip()] or None
        return value


@lru_cache(maxsize=1)
def get_settings() -> CoinbookSettings:
    return CoinbookSettings()


def resolve_database_url(settings: CoinbookSettings) -> str:
    """COINBOOK_DATABASE_URL when set, else the private cluster's URL (not started here)."""
    if settings.database_url:
        return settings.database_url
    from warehouse.cluster import LocalCluster

    return LocalCluster(settings.home, settings.pg_port).url()
