"""Sanctions screening, the pure part: the decisions a reviewer may take, a hit's stable id (the mart computes the
same in SQL), and the critical alert an open hit raises."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pipelines.domain.alerts import Alert

DECISIONS = ("true_match", "false_positive")
HIT_ALERT_KIND = "sanctions_hit"


def hit_id(tenant_id: str, source: str, account_id: str, source_record_id: str, address_key: str, list_name: str,
           entry_uid: str) -> str:
    """md5 of the record, the address and the list entry — not of the list's version, so that a decision carries
    over to the next version of the list (dbt: marts/compliance/screening_matches.sql)."""
    return hashlib.md5("|".join((tenant_id, source, account_id, source_record_id, address_key, list_name,
                                 entry_uid)).encode()).hexdigest()


@dataclass(frozen=True)
class OpenHit:
    tenant_id: str
    hit_id: str
    account_id: str
    direction: str
    occurred_at: datetime
    asset: str
    amount: Decimal
    address: str
    list_name: str
    list_version: str
    entry_name: str
    entry_uid: str


def hit_alert(hit: OpenHit) -> Alert:
    """One critical alert per open hit (subject: the hit id, so a decision resolves exactly that alert)."""
    way = "sent to" if hit.direction == "out" else "received from"
    message = (f"{hit.account_id}: {hit.amount.normalize():f} {hit.asset} {way} {hit.address} on "
               f"{hit.occurred_at:%Y-%m-%d %H:%M} UTC — listed on {hit.list_name} ({hit.list_version}) for "
               f"{hit.entry_name} (uid {hit.entry_uid}); review it: coinbook compliance screening decide {hit.hit_id}")
    return Alert(hit.tenant_id, HIT_ALERT_KIND, "critical", hit.hit_id, message,
                 {"account_id": hit.account_id, "address": hit.address, "list_name": hit.list_name,
                  "list_version": hit.list_version, "entry_uid": hit.entry_uid, "entry_name": hit.entry_name})
