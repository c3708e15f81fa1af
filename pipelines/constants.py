"""Plain values that several layers share, defined once. A leaf: it imports nothing of Coinbook's, so every
layer may import it (sources/ and domain/ included); warehouse/ takes these values as arguments instead.
dbt_project/macros/constants.sql holds the same values for SQL (tests/unit/test_constants.py compares them)."""

from __future__ import annotations

from datetime import UTC, datetime

# Market data (tickers, candles, ticks), API usage and operator-level state belong to no client: they are
# stored under this tenant (DESIGN §2).
PUBLIC_TENANT = "public"

# Nothing crypto is older than Bitcoin's genesis block: an earlier time is a unit mistake (seconds read as
# milliseconds) or junk, never a real record.
GENESIS = datetime(2009, 1, 3, tzinfo=UTC)
GENESIS_MS = 1_230_940_800_000

# An asset code as Coinbook stores it: upper case, digits, and the '.', '_' and '-' real codes carry (USDC.E,
# BTC-PERP, 1000SHIB, ETH2.S), at most 32 characters. The importers (sources/files), the tick loader and the
# quality gate's suites (expectations/suites.py) all use this one pattern.
ASSET_CODE = r"[A-Z0-9][A-Z0-9._-]{0,31}"
SPOT_SYMBOL = rf"{ASSET_CODE}/{ASSET_CODE}"  # ccxt's unified spot market, BTC/USDT
MARKET_SYMBOL = rf"{SPOT_SYMBOL}(?::{ASSET_CODE})?"  # spot or derivative (BTC/USDT:USDT): what a price tick names

RAW_SCHEMA = "raw"

# Compliance thresholds when a tenant has set none (ops.compliance_thresholds): a large transfer is one exceeding
# 10,000 (EUR or USD), a transfer with an unhosted wallet one exceeding 1,000 (EU Transfer of Funds Regulation
# 2023/1113, art. 14(5) and 16(2): "exceeding EUR 1 000").
DEFAULT_LARGE_TRANSFER = 10000
DEFAULT_UNHOSTED_TRANSFER = 1000


def raw_table(source: str, entity: str) -> str:
    """The raw table a source's entity lands in: raw.<source>_<entity> (raw.binance_trades, raw.btc_balances)."""
    return f"{RAW_SCHEMA}.{source}_{entity}"


def raw_asset_name(source: str, entity: str) -> str:
    """The Dagster asset that fills raw.<source>_<entity>: raw_<source>_<entity>."""
    return f"raw_{source}_{entity}"


def raw_table_of_asset(asset_name: str) -> str:
    """'raw_binance_trades' → 'raw.binance_trades': an ingestion asset is named for the table it fills."""
    if not asset_name.startswith("raw_"):
        raise ValueError(f"not an ingestion asset name (raw_<source>_<entity>): {asset_name!r}")
    return f"{RAW_SCHEMA}.{asset_name.removeprefix('raw_')}"
