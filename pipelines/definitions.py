"""The Dagster code location: each capability's definitions (pipelines/defs/<capability>/) merged, with the
resources they share (pipelines/defs/resources.py). Nothing else is defined here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from pipelines.defs import (
    alerts,
    audit,
    compliance,
    dashboards,
    exchanges,
    exports,
    imports,
    ledger,
    lots,
    models,
    prices,
    quality,
    risk,
    schedules,
    trading,
    wallets,
)
from pipelines.defs.resources import build_resources
from pipelines.settings import CoinbookSettings, get_settings

# In the order of the flow: sources, gate, models and the Python steps between them, alerts, exports and
# dashboards, schedules.
CAPABILITIES = (exchanges, wallets, imports, prices, quality, models, ledger, lots, risk, compliance, trading, alerts,
                audit, exports, dashboards, schedules)


def build_definitions(settings: CoinbookSettings, resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    """Every capability's definitions and the shared resources (`resources` replaces some: tests, benchmarks)."""
    return dg.Definitions.merge(
        *(capability.build_defs(settings) for capability in CAPABILITIES),
        dg.Definitions(resources={**build_resources(settings), **(resources or {})}),
    )


defs = build_definitions(get_settings())
