"""Value parsing shared by every normaliser: exact decimals, UTC times, hashes, clean JSON.

Parsing never raises. A value that cannot be represented becomes None beside its untouched native
payload, so the row still lands and the quality gate quarantines it with a reason.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pipelines.constants import GENESIS_MS

# numeric(38,18) holds at most 20 integer digits; a larger value would make the whole COPY fail.
_MAX_ABS_NUMERIC = Decimal(10) ** 20
_MAX_MS = 253_402_300_799_000  # 9999-12-31


def to_decimal(value: Any) -> Decimal | None:
    """An exact Decimal from a venue's string/int, or None. Floats go through str() (shortest repr)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        result = value
    else:
        try:
            result = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            return None
    if not result.is_finite() or abs(result) >= _MAX_ABS_NUMERIC:
        return None
    return result


def ms_to_datetime(value: Any) -> datetime | None:
    """Epoch milliseconds → aware UTC datetime, or None when missing or absurd."""
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    if not GENESIS_MS <= ms <= _MAX_MS:  # nothing crypto is older than genesis
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def clean_text(value: Any) -> str | None:
    """Text safe for PostgreSQL (no NUL bytes), or None."""
    if value is None:
        return None
    text = str(value).replace("\x00", "")
    return text or None


def clean_json(value: Any) -> Any:
    """A JSON-compatible copy of a payload: Decimals as strings, NUL bytes removed (jsonb rejects \\u0000)."""
    if isinstance(value, dict):
        return {clean_text(k) or "": clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def canonical_json(payload: Any) -> str:
    return json.dumps(clean_json(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(payload: Any) -> str:
    """sha256 of the canonical JSON of the native payload: same content, same hash, whatever key order."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
