"""A handle on the warehouse: where it is, and a connection to it. Plain (no Dagster): the CLI, services,
sensors and tests share it. What is read lives with the service that reads it; what is written, here in
warehouse/ (one module per kind of write)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class Warehouse:
    database_url: str

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url, **kwargs)


# A URL's password (scheme://user:PASSWORD@host; up to the last '@' before the query), and a password given as a
# key=value pair (libpq's conninfo string, or a URL's ?password= / ?sslpassword=).
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^?#]*@", re.IGNORECASE)
_TEXT_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^@/\s]*@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&#]+)", re.IGNORECASE)
MASK = "***"


def mask_url(url: str) -> str:
    """The database URL (or libpq conninfo string) with its password replaced by ***: what may be printed."""
    return _KEYWORD_PASSWORD.sub(rf"\1{MASK}", _URL_PASSWORD.sub(rf"\1:{MASK}@", url))


def mask_passwords(text: str) -> str:
    """Every URL password and password=… pair in free text (a message, a line of output) replaced by ***."""
    return _KEYWORD_PASSWORD.sub(rf"\1{MASK}", _TEXT_URL_PASSWORD.sub(rf"\1:{MASK}@", text))
