"""Sanctions screening: load a list file (parsed by pipelines/sources/sanctions, written by warehouse/sanctions.py),
read the hits (marts.screening_hits), record a reviewer's decision, and raise a critical alert per open hit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipelines.domain.screening import DECISIONS, HIT_ALERT_KIND, OpenHit, hit_alert
from pipelines.sources.sanctions.ofac import FORMATS, ListFormatError, detect_format, parse
from warehouse import sanctions as store
from warehouse.alerts import sync_alerts
from warehouse.connection import Warehouse

SDN_LIST_NAME = "OFAC SDN"
HIT_COLUMNS = ("tenant_id", "hit_id", "account_id", "source", "source_record_id", "direction", "occurred_at",
               "asset", "amount", "address", "list_name", "list_version", "entry_name", "entry_uid", "decision",
               "decided_by", "decided_at", "reason")


class ScreeningError(ValueError):
    """A person's error (unknown hit, bad decision, empty reason, unreadable list): one line."""


def load_sanctions_file(wh: Warehouse, path: Path, list_format: str | None = None, list_name: str | None = None,
                        version: str | None = None) -> store.ListVersion:
    """One list file as a new version of its list (the same file again: nothing written). The SDN formats are
    named 'OFAC SDN' unless told; a plain CSV after its file. The version: the SDN's publish date, else the one
    given, else 'sha256:' and the file hash's first 12 digits."""
    data = path.read_bytes()
    fmt = list_format or detect_format(path.name, data)
    if fmt not in FORMATS:
        raise ScreeningError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    try:
        parsed = parse(data, fmt)
    except ListFormatError as e:
        raise ScreeningError(f"{path.name} is not a readable {fmt} list: {e}") from e
    digest = hashlib.sha256(data).hexdigest()
    name = list_name or (SDN_LIST_NAME if fmt.startswith("sdn") else path.stem)
    rows = [(a.entry_uid, a.entry_name, a.entry_type, a.programs, a.ticker, a.address, a.key, a.note)
            for a in parsed.addresses]
    return store.store_list(wh, list_name=name, list_format=fmt, version=version or parsed.version
                            or f"sha256:{digest[:12]}", published_on=parsed.published_on or _iso_date(version),
                            file_name=path.name, sha256=digest, entry_count=parsed.entry_count, addresses=rows)


def _iso_date(text: str | None) -> date | None:
    """A version given as YYYY-MM-DD (sdn.csv has no publish date of its own) orders the list's versions."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def read_hits(wh: Warehouse, tenant_id: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    where, params = ["true"], []
    if tenant_id:
        where.append("tenant_id = %s")
        params.append(tenant_id)
    if open_only:
        where.append("decision = 'open'")
    with wh.connect() as conn:
        rows = conn.execute(f"select {', '.join(HIT_COLUMNS)} from marts.screening_hits where {' and '.join(where)} "  # type: ignore[arg-type]
                            "order by tenant_id, occurred_at, hit_id", params).fetchall()
    return [dict(zip(HIT_COLUMNS, r, strict=True)) for r in rows]


@dataclass(frozen=True)
class Decision:
    tenant_id: str
    hit_id: str
    decision_id: int
    decision: str
    decided_by: str
    decided_at: datetime
    superseded: str | None  # the decision it replaces, if the hit had one


def decide(wh: Warehouse, hit_id: str, decision: str, reason: str, tenant_id: str | None = None,
           now: datetime | None = None, *, by: Warehouse | None = None) -> Decision:
    """Record a reviewer's decision on a hit (appended, chained; a later one supersedes it), then re-evaluate the
    hit alerts so that the hit's alert is resolved at once. `by`: the warehouse as the compliance officer deciding
    (users.acting_as): the decision and its audit link carry that login; the alerts stay the pipeline's (`wh`)."""
    if decision not in DECISIONS:
        raise ScreeningError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not reason.strip():
        raise ScreeningError("a decision needs its reason (--reason)")
    hits = [h for h in read_hits(wh, tenant_id) if h["hit_id"] == hit_id]
    if not hits:
        raise ScreeningError(f"no screening hit {hit_id}" + (f" for tenant {tenant_id}" if tenant_id else ""))
    hit = hits[0]
    decision_id, by, at = store.record_decision(by or wh, hit["tenant_id"], hit_id, decision, reason.strip())
    raise_hit_alerts(wh, now or at)
    previous = hit["decision"] if hit["decision"] != "open" else None
    return Decision(hit["tenant_id"], hit_id, decision_id, decision, by, at, previous)


def raise_hit_alerts(wh: Warehouse, now: datetime) -> tuple[int, int]:
    """A critical sanctions_hit alert per open hit; the alerts of hits decided since are resolved."""
    hits = [OpenHit(**{k: h[k] for k in OpenHit.__dataclass_fields__}) for h in read_hits(wh, open_only=True)]
    return sync_alerts(wh, [HIT_ALERT_KIND], [hit_alert(h) for h in hits], now)
