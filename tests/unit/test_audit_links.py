"""The audit chain's arithmetic (pipelines/domain/audit.py) on links built here: an intact chain verifies, and each
kind of tampering is the first break, named by its link."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

from pipelines.domain.audit import GENESIS, Link, content_hash, first_break, link_hash, timestamp_text

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def chain(n: int) -> list[Link]:
    links, prev = [], GENESIS
    for seq in range(1, n + 1):
        keys = tuple(f"acct/binance/T{seq}-{i}" for i in range(3))
        hashes = tuple(hashlib.sha256(k.encode()).digest() for k in keys)
        content = content_hash(keys, hashes)
        at = T0 + timedelta(seconds=seq)
        digest = link_hash(prev, seq, at, "coinbook_pipeline", "raw.binance_trades", "insert", content)
        links.append(Link("acme", seq, at, "coinbook_pipeline", "raw.binance_trades", "insert", keys, hashes,
                          content, prev, digest))
        prev = digest
    return links


def test_an_intact_chain_has_no_break_and_a_checkpoint_can_start_it() -> None:
    links = chain(6)
    assert first_break(links) is None
    assert first_break(links[3:], after=(3, links[2].hash)) is None
    assert first_break(links[3:], after=(3, GENESIS)) is not None  # a checkpoint that is not the chain's


def test_each_tampering_is_the_first_break() -> None:
    links = chain(6)
    changed_record = dataclasses.replace(links[2], record_hashes=(b"x" * 32, *links[2].record_hashes[1:]))
    assert first_break([*links[:2], changed_record, *links[3:]]).seq == 3  # type: ignore[union-attr]
    removed = first_break([*links[:2], *links[3:]])
    assert removed is not None and removed.seq == 4 and "sequence jumps from 2 to 4" in removed.reason
    swapped = [*links[:2], dataclasses.replace(links[3], seq=3), dataclasses.replace(links[2], seq=4), *links[4:]]
    assert first_break(swapped).seq == 3  # type: ignore[union-attr]
    other_actor = dataclasses.replace(links[4], actor="mallory")
    found = first_break([*links[:4], other_actor, *links[5:]])
    assert found is not None and found.seq == 5 and "time, actor" in found.reason
    assert found.record_keys == links[4].record_keys


def test_the_link_text_is_fixed_to_the_microsecond_in_utc() -> None:
    assert timestamp_text(T0) == "2026-03-01T12:00:00.123456Z"
    zurich = T0.astimezone(datetime.now().astimezone().tzinfo)
    assert timestamp_text(zurich) == "2026-03-01T12:00:00.123456Z"
