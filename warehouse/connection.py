"""A handle on the warehouse: where it is, and a connection to it. Plain (no Dagster): the CLI, services,
sensors and tests share it. What is read lives with the service that reads it; what is written, here in
warehouse/ (one module per kind of write)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class Warehouse:
    database_url: str

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url, **kwargs)
