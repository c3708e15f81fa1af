"""The audit chain's arithmetic (migration V018 writes it in SQL; this recomputes it, independently, to verify it).

A link is one statement's records for one tenant: their keys and content hashes, in key order. Its hash covers
the previous link's hash, its sequence, time, actor, table, operation and the content hash of its records, so an
altered, removed, inserted or reordered link breaks every hash after it, and an altered record no longer matches
the hash its link recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = bytes(32)


@dataclass(frozen=True)
class Link:
    tenant_id: str
    seq: int
    recorded_at: datetime
    actor: str
    table_name: str
    operation: str
    record_keys: tuple[str, ...]
    record_hashes: tuple[bytes, ...]
    content_hash: bytes
    prev_hash: bytes
    hash: bytes
    hash_version: int = 1  # how its record hashes were computed (V047); a version above 1 is in the link's hash


@dataclass(frozen=True)
class Break:
    """The first link that does not hold, and why."""
    tenant_id: str
    seq: int
    table_name: str
    reason: str
    record_keys: tuple[str, ...] = ()


def content_hash(keys: Sequence[str], hashes: Sequence[bytes]) -> bytes:
    digest = hashlib.sha256()
    for key, record in zip(keys, hashes, strict=True):
        digest.update(key.encode() + b"\n" + record)
    return digest.digest()


def timestamp_text(moment: datetime) -> str:
    """As V018's to_char(… at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link_hash(prev_hash: bytes, seq: int, recorded_at: datetime, actor: str, table_name: str, operation: str,
              content: bytes, hash_version: int = 1) -> bytes:
    """As audit.link_hash: a version-2 link's header has its version as one more line (V047), so that changing a
    link's version breaks its hash; version 1 is V018's header, unchanged."""
    version = "" if hash_version == 1 else f"{hash_version}\n"
    header = f"{seq}\n{timestamp_text(recorded_at)}\n{actor}\n{table_name}\n{operation}\n{version}".encode()
    return hashlib.sha256(prev_hash + header + content).digest()


def first_break(links: Iterable[Link], *, after: tuple[int, bytes] | None = None) -> Break | None:
    """Walk one tenant's links in sequence order from the start (or from a trusted (seq, hash), e.g. a
    checkpoint): the first link whose sequence, previous hash, content hash or hash does not follow."""
    seq, prev = after if after is not None else (0, GENESIS)
    for link in links:
        def broken(reason: str, link: Link = link) -> Break:
            return Break(link.tenant_id, link.seq, link.table_name, reason, link.record_keys)

        if link.seq != seq + 1:
            return broken(f"sequence jumps from {seq} to {link.seq} (a link removed or inserted)")
        if link.prev_hash != prev:
            return broken("its previous hash is not the hash of the link before it (links removed, inserted or "
                          "reordered)")
        if content_hash(link.record_keys, link.record_hashes) != link.content_hash:
            return broken("its records' keys or hashes were changed after it was written")
        expected = link_hash(prev, link.seq, link.recorded_at, link.actor, link.table_name, link.operation,
                             link.content_hash, link.hash_version)
        if expected != link.hash:
            return broken("its hash does not cover what it says (time, actor, table, operation or hash version "
                          "changed)")
        seq, prev = link.seq, link.hash
    return None
