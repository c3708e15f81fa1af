"""Sanctions screening (issue 16 §2): its assets, checks and jobs."""

from __future__ import annotations

import dagster as dg

ASSETS: list[dg.AssetsDefinition] = []
