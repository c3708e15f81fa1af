"""Large and unhosted-wallet transfers and the KYC register (issue 16 §2): their assets, checks and jobs."""

from __future__ import annotations

import dagster as dg

ASSETS: list[dg.AssetsDefinition] = []
