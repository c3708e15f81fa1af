"""See definitions.py: this capability's Dagster parts and its build_defs(settings)."""

from pipelines.defs.trading.definitions import build_defs

__all__ = ["build_defs"]
